"""`labkit exec`: run another process inside a running container, hardened like its PID 1.

Like `docker exec` (and runc's `exec`), the new process joins the container's
cgroup and namespaces with setns(2), user namespace first, then forks once
more so it lands inside the pid namespace, where it gets a pid of its own.
It then ends exactly as PID 1 did (runc's setns process and its init share
that path too): a session of its own, stdio only, the hardening recorded in
the state file at `labkit run` (capabilities, no_new_privs, seccomp), and the
container's user; with a user namespace, root mapped inside, never host root.
Masked paths need nothing: it is already in the container's mount namespace.

    labkit exec (caller)        setns child (host side)          the command (inside)
    ────────────────────        ───────────────────────          ────────────────────
    compile seccomp, fork ────▶ not dumpable, join cgroup,
                                drop groups, setns(user..mnt)
    forward signals ──────────▶ fork_and_forward ──────────────▶ setsid, [pty], close fds,
    relay the pty   ◀─────────────────────────────────── master ─ harden, become user, exec
    wait ◀──────────────────── exit with its code ◀────────────── exit

Taught in: lab 10.
"""

from __future__ import annotations

import gc
import os
import socket
from dataclasses import replace

from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers._sys.linux import PR_SET_DUMPABLE
from kernel_helpers.errors import Busy, LabkitError
from kernel_helpers.namespaces import Namespace, enter, namespaces_of
from kernel_helpers.process import fork_and_forward, forwarding, wait_status_to_exit_code
from kernel_helpers.runtime._channel import recv, report
from kernel_helpers.runtime.console import (CONSOLE_MESSAGE, receive_console, relay,
                                            take_console, wants_console)
from kernel_helpers.runtime.handover import (become, close_inherited_fds,
                                             drop_supplementary_groups, exec_command)
from kernel_helpers.security.hardening import Hardening, apply, recorded, seccomp_program
from kernel_helpers.spec import DEFAULT_PATH
from kernel_helpers.state import USER_KEY, ContainerState, is_running

KIT_SUBTREE = "/labkit/"
"""Only cgroups under the kit's own subtree are joined, never a host group."""


def container_namespaces(pid: int) -> set[Namespace]:
    """The namespaces `pid` does not share with us: the ones exec must enter."""
    theirs, ours = namespaces_of(pid), namespaces_of("self")
    return {ns for ns in Namespace if ns.proc_name in theirs
            and theirs[ns.proc_name] != ours.get(ns.proc_name)}


def cgroup_folders(pid: int) -> list[str]:
    """The kit cgroup folders `pid` is in, one per hierarchy (v1) or one (v2)."""
    from kernel_helpers.cgroups.layout import detect_layout
    layout = detect_layout()
    folders = []
    with open(f"/proc/{pid}/cgroup", encoding="utf-8") as f:
        for line in f.read().splitlines():
            _, controllers, path = line.split(":", 2)
            if KIT_SUBTREE not in path + "/":
                continue
            first = controllers.split(",")[0]
            mount = layout.v2_root if not controllers else layout.v1.get(first)
            if mount:
                folders.append(f"{mount}{path}")
    return folders


def exec_hardening(state: ContainerState, privileged: bool = False) -> tuple[Hardening, bytes | None]:
    """What exec applies: PID 1's recorded hardening, and its seccomp filter compiled.

    `privileged` (docker exec --privileged) gives every capability, but keeps the
    container's seccomp filter and no_new_privs, as Docker does.
    """
    hardening = recorded(state.extra)
    program = seccomp_program(hardening)  # now: libseccomp is a host file, gone after setns
    return (replace(hardening, caps=None) if privileged else hardening), program


def exec_in(state: ContainerState, command: list[str], env: dict[str, str] | None = None,
            privileged: bool = False, kernel: Kernel = LINUX) -> int:
    """Run `command` in the container `state` names, wait, and return its exit code."""
    if not is_running(state):
        raise Busy(f"container '{state.name or state.id}'", "is not running",
                   "start it first with `labkit run -d`")
    namespaces = container_namespaces(state.pid)
    folders = cgroup_folders(state.pid)
    hardening, program = exec_hardening(state, privileged)
    recorded_user = state.extra.get(USER_KEY) or [0, 0]
    uid, gid = int(recorded_user[0]), int(recorded_user[1])  # type: ignore[index]
    env = env or {"PATH": DEFAULT_PATH, "TERM": os.environ.get("TERM", "xterm")}
    terminal = wants_console()
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    gc.freeze()  # as launch.start: the children need not copy what the collector would touch
    child = os.fork()
    if child == 0:
        mine.close()
        _enter(state.pid, namespaces, folders, theirs, kernel,
               lambda: _command(command, env, hardening, program, (uid, gid), terminal, theirs,
                                kernel))
    theirs.close()
    problem: LabkitError | None = None
    master = None
    with forwarding(lambda: child), mine:
        while (message := recv(mine)) is not None:  # EOF: the command exec'ed (or all died)
            if message == CONSOLE_MESSAGE:
                master = receive_console(mine)
            elif isinstance(message, LabkitError):
                problem = message
        if master is not None:
            relay(master, child)
        _, status = os.waitpid(child, 0)
    if problem is not None:
        raise problem
    return wait_status_to_exit_code(status)


def _enter(pid: int, namespaces: set[Namespace], folders: list[str], sock: socket.socket,
           kernel: Kernel, command: object) -> None:
    """The setns child: join, enter, then fork the command into the pid namespace; never returns."""
    try:
        # Until exec, nothing in the container may ptrace or read /proc of a process that
        # is still host root with every capability (runc's CVE-2016-9962).
        kernel.prctl(PR_SET_DUMPABLE, 0)
        for folder in folders:
            kernel.write_knob(f"{folder}/cgroup.procs", str(os.getpid()))
        drop_supplementary_groups(kernel)
        enter(pid, namespaces, kernel)  # entering mnt also moves our root and cwd to the container's
        if Namespace.USER in namespaces:
            become(0, 0, kernel)  # root of the container's user namespace: host uid 100000, not 0
        os.chdir("/")
        status = fork_and_forward(command, forked=sock.close)  # type: ignore[arg-type]
        os._exit(wait_status_to_exit_code(status))
    except LabkitError as err:
        report(sock, err)
    except BaseException as err:  # the child must never return into the caller
        report(sock, LabkitError("labkit exec", f"{type(err).__name__}: {err}",
                                  "this is a bug in the kit; please report it"))
    os._exit(1)


def _command(command: list[str], env: dict[str, str], hardening: Hardening,
             program: bytes | None, user: tuple[int, int], terminal: bool,
             sock: socket.socket, kernel: Kernel) -> None:
    """Inside the pid namespace: the same last steps as the container's PID 1, then exec."""
    try:
        os.setsid()
        if terminal:
            take_console(sock)
        close_inherited_fds(keep=sock.fileno())
        apply(hardening, program, kernel, user=user)
        exec_command(command, env)
    except LabkitError as err:
        report(sock, err)
    except BaseException as err:  # reported, then _exit: never unwind into the caller
        report(sock, LabkitError("labkit exec", f"{type(err).__name__}: {err}",
                                  "this is a bug in the kit; please report it"))
    os._exit(127)
