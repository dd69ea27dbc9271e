"""Managing many containers: ps, stop, kill, rm, pause, stats and logs, as a library.

Every command reads the state files (the source of truth) and the kernel
(is the pid alive?), never a cache, so two terminals always agree.

Taught in: lab 10.
"""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import asdict
from typing import TYPE_CHECKING

from kernel_helpers.cleanup import remove_tree
from kernel_helpers.errors import Busy, InvalidValue
from kernel_helpers.images.containerfs import remove_container_fs
from kernel_helpers.process import pid_alive, signal_process
from kernel_helpers.runtime.logfile import print_log
from kernel_helpers.state import LOG_FILE, ContainerState, all_states, find, is_running, locked
from kernel_helpers.runtime.supervisor import STOP_REQUESTED

if TYPE_CHECKING:
    from kernel_helpers.cgroups import Cgroup


def container_group(state: ContainerState) -> Cgroup:
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
    rows: list[dict[str, object]] = []
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
    if state.pid and signal_process(state.pid, signal.SIGTERM, state.pid_start):
        used = signal.SIGTERM
        _thaw_if_paused(state)  # a frozen process cannot act on a signal, not even SIGKILL
        if not _wait_gone(state, grace) and signal_process(state.pid, signal.SIGKILL, state.pid_start):
            used = signal.SIGKILL
            _wait_gone(state, 10)
    _wait_supervisor(state)
    return used


def _thaw_if_paused(state: ContainerState) -> None:
    if not state.extra.get("cgroup"):
        return
    try:
        group = container_group(state)
    except Busy:
        return  # it died of the signal already (a created one at once): nothing to thaw
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
    if not signal_process(state.pid, signum, state.pid_start):
        raise Busy(f"container '{ref}'", "exited before the signal was sent",
                   "see `labkit ps -a` for how it ended")


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
    with locked():
        remove_container_fs(state.id)  # its kept upper dir, if it ran from an image
        remove_tree(str(state.directory))
    return state.id


def _wait_supervisor(state: ContainerState, seconds: float = 10) -> None:
    """The supervisor undoes the container's resources after it exits; let it finish."""
    deadline = time.monotonic() + seconds
    while state.supervisor_pid and pid_alive(state.supervisor_pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def follow_log(state: ContainerState, out: object = sys.stdout, follow: bool = False) -> None:
    """Print the log (rotated part first); with follow, keep printing until the supervisor is gone."""
    def alive() -> bool:
        return bool(state.supervisor_pid and pid_alive(state.supervisor_pid))
    print_log(state.directory / LOG_FILE, out, alive if follow else None)  # type: ignore[arg-type]


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
