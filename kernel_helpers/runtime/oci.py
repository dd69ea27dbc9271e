"""OCI runtime-spec bundles: `labkit oci create|start|state|kill|delete`, as runc does it.

A bundle is a directory with a config.json (`runc spec` writes one) and a
root filesystem. The same bundle runs under runc, crun and labkit, so a lab
can compare them. `create` sets everything up and leaves the process blocked
before exec on a FIFO, with the caller's stdin, stdout and stderr; `start`
opens the FIFO and the command runs.

What the config may hold (`oci_config`): root, process (args, env, cwd, user
with additionalGids and umask, the five capability sets, rlimits,
noNewPrivileges, oomScoreAdj), hostname, mounts (in order, with options and
propagation), hooks, and linux: namespaces (new or joined by path), uid/gid
mappings, resources (memory, cpu, pids, blockIO, devices, network) at
cgroupsPath, devices, sysctl, maskedPaths, readonlyPaths, rootfsPropagation.
Not yet: a terminal (--console-socket), a custom seccomp profile (any seccomp
section gets Docker's default), createContainer and startContainer hooks in the
container's namespaces (they run in the runtime's), and
AppArmor or SELinux labels (a process label is refused; linux.mountLabel, which
only matters under SELinux, is ignored).

Taught in: lab 09.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from kernel_helpers.errors import Busy, InvalidValue
from kernel_helpers.files import READABLE, write_atomic
from kernel_helpers.runtime import manage
from kernel_helpers.runtime.detach import run_detached
from kernel_helpers.runtime.hooks import CREATE, START, run_hooks
from kernel_helpers.runtime.oci_config import load_config, spec_from_config
from kernel_helpers.runtime.oci_stage import EXTRA_KEY
from kernel_helpers.state import START_GATE, ContainerState, find, is_running, locked

OCI_VERSION = "1.0.2"


def create(container_id: str, bundle: str | Path, pid_file: str | None = None,
           console_socket: str | None = None) -> str:
    """Set the container up and leave it blocked before exec; return the kit's id.

    The prestart, createRuntime and createContainer hooks run once it is
    created; if one fails, the container is deleted again and the error raised.
    """
    config = load_config(bundle)
    if (config.get("process") or {}).get("terminal"):
        raise InvalidValue("process.terminal", "is true, which needs a console socket "
                           "(--console-socket is not supported yet)",
                           "set \"terminal\": false in config.json")
    spec, stages = spec_from_config(config, bundle)
    kit_id = run_detached(spec, stages, name=container_id, gated=True, passthrough=True)
    try:
        state = find(container_id)
        run_hooks(_hooks(state), CREATE, oci_state(container_id))
        if pid_file:
            write_atomic(Path(pid_file), f"{state.pid}", READABLE)
    except BaseException:
        manage.remove(container_id, force=True)
        raise
    return kit_id


def start(container_id: str) -> None:
    """Open the start gate: the created process execs its command; then the poststart hooks."""
    state = find(container_id)
    if state.status != "created" or not is_running(state):
        status = oci_state(container_id)["status"]
        raise Busy(f"container '{container_id}'", f"is {status}, not created",
                   "only a created container can be started; make one with `labkit oci create`")
    created = oci_state(container_id)
    try:
        run_hooks(_hooks(state), START, created)
    except BaseException:
        manage.kill(container_id)
        raise
    gate = state.directory / START_GATE
    fd = os.open(gate, os.O_RDONLY | os.O_NONBLOCK)
    try:
        os.set_blocking(fd, True)
        os.read(fd, 1)
    finally:
        os.close(fd)
        gate.unlink(missing_ok=True)
    with locked():
        fresh = find(container_id)
        fresh.status = "running" if fresh.status == "created" else fresh.status
        fresh.save()
    # The state as of the start: a short command may have exited by the time the hook reads it.
    run_hooks(_hooks(state), ("poststart",), {**created, "status": "running"})


def delete(container_id: str, force: bool = False) -> None:
    """Remove the container (a running one only with force), then run its poststop hooks."""
    state = find(container_id)
    if not force and is_running(state):
        raise Busy(f"container '{container_id}'", "is still running",
                   f"stop it first with `labkit oci kill {container_id} KILL`, or use --force")
    final = {**oci_state(container_id), "status": "stopped", "pid": 0}
    # Stopped, its supervisor may still be undoing its cgroup and mounts: remove waits for it.
    manage.remove(container_id, force=True)
    run_hooks(_hooks(state), ("poststop",), final)


def oci_state(container_id: str) -> dict[str, Any]:
    """The runtime-spec state object (what `runc state` prints)."""
    state: ContainerState = find(container_id)
    alive = is_running(state)
    status = state.status if alive and state.status in ("created", "running") else "stopped"
    if status == "stopped" and state.status == "creating" and state.supervisor_pid:
        status = "creating"
    extra = state.extra.get(EXTRA_KEY)
    annotations = extra.get("annotations", {}) if isinstance(extra, dict) else {}
    return {"ociVersion": OCI_VERSION, "id": container_id, "status": status,
            "pid": state.pid if alive else 0, "bundle": state.extra.get("bundle", ""),
            "rootfs": str(state.extra.get("rootfs", "")),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(state.created)),
            "annotations": annotations}


def _hooks(state: ContainerState) -> dict[str, list[dict[str, Any]]]:
    extra = state.extra.get(EXTRA_KEY)
    return extra.get("hooks", {}) if isinstance(extra, dict) else {}


def _cmd_oci(args: argparse.Namespace) -> int:
    if args.oci_command == "create":
        create(args.id, args.bundle, args.pid_file, args.console_socket)
    elif args.oci_command == "start":
        start(args.id)
    elif args.oci_command == "state":
        print(json.dumps(oci_state(args.id), indent=2))
    elif args.oci_command == "kill":
        manage.kill(args.id, manage.parse_signal(args.signal))
    elif args.oci_command == "delete":
        delete(args.id, force=args.force)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`labkit oci ...`: the runtime-spec lifecycle commands."""
    oci = sub.add_parser("oci", help="run OCI bundles like runc: create, start, state, kill, delete")
    verbs = oci.add_subparsers(dest="oci_command", metavar="VERB", required=True)
    create_cmd = verbs.add_parser("create", help="set up a container from a bundle, not started; "
                                  "it keeps this command's stdin, stdout and stderr")
    create_cmd.add_argument("--bundle", "-b", default=".", help="bundle directory (config.json)")
    create_cmd.add_argument("--pid-file", help="write the container's host pid to this file")
    create_cmd.add_argument("--console-socket", help="(for terminal: true; not supported yet)")
    create_cmd.add_argument("id")
    for verb, text in (("start", "run the created container's command"),
                       ("state", "print the runtime-spec state JSON")):
        verbs.add_parser(verb, help=text).add_argument("id")
    kill_cmd = verbs.add_parser("kill", help="send a signal (default TERM)")
    kill_cmd.add_argument("id")
    kill_cmd.add_argument("signal", nargs="?", default="TERM")
    delete_cmd = verbs.add_parser("delete", help="remove a stopped container (--force: any)")
    delete_cmd.add_argument("--force", "-f", action="store_true")
    delete_cmd.add_argument("id")
    oci.set_defaults(handler=_cmd_oci)
