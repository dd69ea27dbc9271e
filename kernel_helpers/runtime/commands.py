"""`labkit ps|inspect|logs|stop|kill|rm|exec`: managing many containers.

Every command reads the state files (the source of truth) and the kernel
(is the pid alive?), never a cache, so two terminals always agree.

Taught in: lab 10.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

from kernel_helpers.cleanup import remove_tree
from kernel_helpers.errors import Busy, InvalidValue
from kernel_helpers.process import pid_alive, same_process
from kernel_helpers.runtime.state import LOG_FILE, ContainerState, all_states, find, locked
from kernel_helpers.runtime.supervisor import STOP_REQUESTED

if TYPE_CHECKING:
    from kernel_helpers.cgroups import Cgroup


def is_running(state: ContainerState) -> bool:
    """The container's PID 1 exists and is the same process the state names."""
    return bool(state.pid) and same_process(state.pid, state.pid_start)


def container_group(state: ContainerState) -> "Cgroup":
    """The running container's cgroup (every `labkit run` container has one)."""
    from kernel_helpers.cgroups import open_group
    if not is_running(state) or not state.extra.get("cgroup"):
        raise Busy(f"container '{state.name or state.id}'", "is not running in a kit cgroup",
                   "start one with `labkit run -d`")
    return open_group(state.id)


def live_status(state: ContainerState) -> str:
    if is_running(state) and state.status in ("creating", "created"):
        return state.status
    if is_running(state):
        if state.extra.get("cgroup") and container_group(state).is_frozen():
            return "paused"
        return "running"
    if state.status == "exited":
        return f"exited ({state.exit_code})"
    return state.status if state.supervisor_pid and pid_alive(state.supervisor_pid) else "dead"


def ps(show_all: bool = False) -> list[dict[str, object]]:
    """Rows for `labkit ps`: deterministic columns, running ones first by default."""
    rows = []
    for state in all_states():
        status = live_status(state)
        if show_all or status in ("running", "paused", "created", "creating"):
            rows.append({"id": state.id, "name": state.name, "status": status,
                         "command": " ".join(state.command)})
    return rows


def stop(ref: str, grace: float = 10.0) -> int:
    """SIGTERM, then SIGKILL after `grace` seconds; no restart afterwards. Returns the signal used.

    Returns once the supervisor has also finished its cleanup, so `rm` can follow at once.
    """
    state = find(ref)
    (state.directory / STOP_REQUESTED).touch()
    used = 0
    if is_running(state):
        os.kill(state.pid, signal.SIGTERM)
        used = signal.SIGTERM
        _thaw_if_paused(state)  # a frozen process cannot act on a signal, not even SIGKILL
        if not _wait_gone(state, grace):
            os.kill(state.pid, signal.SIGKILL)
            used = signal.SIGKILL
            _wait_gone(state, 10)
    _wait_supervisor(state)
    return used


def _thaw_if_paused(state: ContainerState) -> None:
    if state.extra.get("cgroup") and is_running(state):
        group = container_group(state)
        if group.is_frozen():
            group.thaw()


def _wait_gone(state: ContainerState, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not is_running(state):
            return True
        time.sleep(0.02)
    return not is_running(state)


def pause(ref: str, frozen: bool = True) -> None:
    """Freeze (or thaw) every process of the container with the cgroup freezer."""
    group = container_group(find(ref))
    group.freeze() if frozen else group.thaw()


def stats(ref: str) -> dict[str, object]:
    """The container's live cgroup accounting (`labkit stats`)."""
    return asdict(container_group(find(ref)).stats())


def kill(ref: str, signum: int = signal.SIGKILL) -> None:
    state = find(ref)
    if not is_running(state):
        raise Busy(f"container '{ref}'", "is not running", "start a new one with `labkit run`")
    if live_status(state) == "paused":
        raise Busy(f"container '{ref}'", "is paused, so it cannot act on a signal",
                   f"unpause it first with `labkit unpause {ref}`, or use `labkit stop {ref}`")
    os.kill(state.pid, signum)


def remove(ref: str, force: bool = False) -> str:
    """Delete a stopped container's state, log and files; with force, stop it first."""
    state = find(ref)
    if is_running(state) or (state.supervisor_pid and pid_alive(state.supervisor_pid)):
        if not force:
            raise Busy(f"container '{ref}'", "is still running",
                       f"stop it first with `labkit stop {ref}`, or use `labkit rm -f {ref}`")
        stop(ref, grace=0)
        if is_running(state):
            raise Busy(f"container '{ref}'", "did not stop, even after SIGKILL",
                       "see `labkit inspect` and the kernel log; nothing was removed")
    from kernel_helpers.images.containerfs import remove_container_fs
    with locked():
        remove_container_fs(state.id)  # its kept upper dir, if it ran from an image
        remove_tree(str(state.directory))
    return state.id


def _wait_supervisor(state: ContainerState, seconds: float = 10) -> None:
    """The supervisor undoes the container's resources after it exits; let it finish."""
    deadline = time.monotonic() + seconds
    while state.supervisor_pid and pid_alive(state.supervisor_pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def follow_log(state: ContainerState, out: "object" = sys.stdout, follow: bool = False) -> None:
    """Print the log; with follow, keep printing until the container's supervisor is gone."""
    path = state.directory / LOG_FILE
    with open(path, "rb") as log:
        while True:
            chunk = log.read(65536)
            if chunk:
                out.write(chunk.decode(errors="replace"))  # type: ignore[attr-defined]
                out.flush()  # type: ignore[attr-defined]
                continue
            if not follow or not (state.supervisor_pid and pid_alive(state.supervisor_pid)):
                return
            time.sleep(0.1)


def parse_signal(name: str) -> int:
    """'TERM', 'SIGTERM' or '15' -> 15, with one sentence for anything else."""
    text = name.upper().removeprefix("SIG")
    if text.isdigit() and 0 < int(text) < signal.NSIG:
        return int(text)
    try:
        return int(signal.Signals[f"SIG{text}"])
    except KeyError:
        raise InvalidValue(f"signal '{name}'", "is not a signal name or number",
                           "use e.g. TERM, KILL, HUP or 15") from None


# --- the subcommands ---

def _cmd_ps(args: argparse.Namespace) -> int:
    rows = ps(args.all)
    print(f"{'ID':<12} {'NAME':<16} {'STATUS':<14} COMMAND")
    for row in rows:
        print(f"{row['id']:<12} {row['name']:<16} {row['status']:<14} {row['command']}")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    state = find(args.container)
    print(json.dumps({**asdict(state), "live_status": live_status(state)}, indent=1))
    return 0


def _cmd_logs(args: argparse.Namespace) -> int:
    follow_log(find(args.container), follow=args.follow)
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    for ref in args.containers:
        stop(ref, args.time)
        print(ref)
    return 0


def _cmd_kill(args: argparse.Namespace) -> int:
    kill(args.container, parse_signal(args.signal))
    return 0


def _cmd_rm(args: argparse.Namespace) -> int:
    for ref in args.containers:
        print(remove(ref, args.force))
    return 0


def _cmd_exec(args: argparse.Namespace) -> int:
    from kernel_helpers.runtime.exec import exec_in
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise InvalidValue("labkit exec", "no command was given",
                           f"put it after --, e.g. labkit exec {args.container} -- /bin/sh")
    return exec_in(find(args.container), command)


def _cmd_pause(args: argparse.Namespace) -> int:
    for ref in args.containers:
        pause(ref, frozen=args.command_name == "pause")
        print(ref)
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    refs = args.containers or [row["id"] for row in ps()]
    while True:
        print(f"{'ID':<12} {'MEM USAGE':>12} {'MEM LIMIT':>12} {'CPU SEC':>9} {'PIDS':>5}")
        for ref in refs:
            numbers = stats(str(ref))
            print(f"{find(str(ref)).id:<12} {_mib(numbers['memory_current']):>12} "
                  f"{_mib(numbers['memory_max']):>12} "
                  f"{(numbers['cpu_usage_usec'] or 0) / 1e6:>9.2f} {numbers['pids_current'] or 0:>5}")
        if args.no_stream:
            return 0
        sys.stdout.flush()
        time.sleep(1)


def _mib(value: object) -> str:
    return "-" if value is None else f"{int(value) / 2**20:.1f}MiB"  # type: ignore[call-overload]


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the management subcommands to `labkit`."""
    ps_cmd = sub.add_parser("ps", help="list containers")
    ps_cmd.add_argument("-a", "--all", action="store_true", help="include exited ones")
    ps_cmd.set_defaults(handler=_cmd_ps)
    inspect = sub.add_parser("inspect", help="everything the kit knows about a container, as JSON")
    inspect.add_argument("container")
    inspect.set_defaults(handler=_cmd_inspect)
    logs = sub.add_parser("logs", help="a detached container's output")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new output")
    logs.add_argument("container")
    logs.set_defaults(handler=_cmd_logs)
    stop_cmd = sub.add_parser("stop", help="SIGTERM, then SIGKILL after a grace period")
    stop_cmd.add_argument("-t", "--time", type=float, default=10.0, help="grace seconds")
    stop_cmd.add_argument("containers", nargs="+")
    stop_cmd.set_defaults(handler=_cmd_stop)
    kill_cmd = sub.add_parser("kill", help="send a signal to a container's PID 1")
    kill_cmd.add_argument("-s", "--signal", default="KILL")
    kill_cmd.add_argument("container")
    kill_cmd.set_defaults(handler=_cmd_kill)
    rm = sub.add_parser("rm", help="remove stopped containers")
    rm.add_argument("-f", "--force", action="store_true", help="stop running ones first")
    rm.add_argument("containers", nargs="+")
    rm.set_defaults(handler=_cmd_rm)
    for verb, text in (("pause", "freeze every process of a container (cgroup freezer)"),
                       ("unpause", "thaw a paused container")):
        cmd = sub.add_parser(verb, help=text)
        cmd.add_argument("containers", nargs="+")
        cmd.set_defaults(handler=_cmd_pause, command_name=verb)
    stats_cmd = sub.add_parser("stats", help="live cgroup accounting: memory, cpu, pids")
    stats_cmd.add_argument("--no-stream", action="store_true", help="print once and exit")
    stats_cmd.add_argument("containers", nargs="*")
    stats_cmd.set_defaults(handler=_cmd_stats)
    exec_cmd = sub.add_parser("exec", help="run a command inside a running container")
    exec_cmd.add_argument("container")
    exec_cmd.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    exec_cmd.set_defaults(handler=_cmd_exec)
