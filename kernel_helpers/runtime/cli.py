"""`labkit ps|inspect|logs|stop|kill|rm|exec|pause|unpause|stats`: the command line of managing.

The library underneath is `runtime/manage.py` (and `runtime/exec.py`); this module only
parses arguments and prints. Each handler imports its part of the library, as `cli.py`
does: `labkit exec` never loads what ps, logs or rm need (images, logs, supervisor).

Taught in: lab 10.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from typing import Any

from kernel_helpers.errors import InvalidValue
from kernel_helpers.state import find


def _cmd_ps(args: argparse.Namespace) -> int:
    from kernel_helpers.runtime.manage import ps
    rows = ps(args.all)
    print(f"{'ID':<12} {'NAME':<16} {'STATUS':<14} COMMAND")
    for row in rows:
        print(f"{row['id']:<12} {row['name']:<16} {row['status']:<14} {row['command']}")
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from kernel_helpers.runtime.manage import live_status
    state = find(args.container)
    print(json.dumps({**asdict(state), "live_status": live_status(state)}, indent=1))
    return 0


def _cmd_logs(args: argparse.Namespace) -> int:
    from kernel_helpers.runtime.manage import follow_log
    follow_log(find(args.container), follow=args.follow)
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    from kernel_helpers.runtime.manage import stop
    for ref in args.containers:
        stop(ref, args.time)
        print(ref)
    return 0


def _cmd_kill(args: argparse.Namespace) -> int:
    from kernel_helpers.runtime.manage import kill, parse_signal
    kill(args.container, parse_signal(args.signal))
    return 0


def _cmd_rm(args: argparse.Namespace) -> int:
    from kernel_helpers.runtime.manage import remove
    for ref in args.containers:
        print(remove(ref, args.force))
    return 0


def _cmd_exec(args: argparse.Namespace) -> int:
    from kernel_helpers.runtime.exec import exec_in
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise InvalidValue("labkit exec", "no command was given",
                           f"put it after --, e.g. labkit exec {args.container} -- /bin/sh")
    return exec_in(find(args.container), command, privileged=args.privileged)


def _cmd_pause(args: argparse.Namespace) -> int:
    from kernel_helpers.runtime.manage import pause
    for ref in args.containers:
        pause(ref, frozen=args.command_name == "pause")
        print(ref)
    return 0


def _cmd_stats(args: argparse.Namespace) -> int:
    from kernel_helpers.runtime.manage import ps, stats
    refs = args.containers or [row["id"] for row in ps()]
    while True:
        print(f"{'ID':<12} {'MEM USAGE':>12} {'MEM LIMIT':>12} {'CPU SEC':>9} {'PIDS':>5}")
        for ref in refs:
            numbers: dict[str, Any] = stats(str(ref))
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
    exec_cmd = sub.add_parser("exec", help="run a command inside a running container, hardened like its PID 1")
    exec_cmd.add_argument("--privileged", action="store_true",
                          help="every capability for this command (seccomp and no_new_privs stay as the "
                               "container's), as docker exec")
    exec_cmd.add_argument("container")
    exec_cmd.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    exec_cmd.set_defaults(handler=_cmd_exec)
