"""`labkit exec`: run another process inside a running container.

Like `docker exec` (and runc's `exec`), the new process joins the container's
namespaces with setns(2), user namespace first, and its cgroups, then forks
once more so it lands inside the pid namespace, where it gets a pid of its own.

Taught in: lab 10.
"""

from __future__ import annotations

import os

from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers.errors import Busy, LabkitError
from kernel_helpers.namespaces import Namespace, enter, namespaces_of
from kernel_helpers.process import wait_status_to_exit_code
from kernel_helpers.spec import DEFAULT_PATH
from kernel_helpers.state import ContainerState, is_running

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


def exec_in(state: ContainerState, command: list[str], env: dict[str, str] | None = None,
            kernel: Kernel = LINUX) -> int:
    """Run `command` in the container `state` names, wait, and return its exit code."""
    if not is_running(state):
        raise Busy(f"container '{state.name or state.id}'", "is not running",
                   "start it first with `labkit run -d`")
    namespaces = container_namespaces(state.pid)
    folders = cgroup_folders(state.pid)
    env = env or {"PATH": DEFAULT_PATH, "TERM": os.environ.get("TERM", "xterm")}
    read_fd, write_fd = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_fd)
        _enter_and_run(state.pid, namespaces, folders, command, env, write_fd, kernel)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        problem = pipe.read()
    _, status = os.waitpid(child, 0)
    if problem:
        import pickle
        raise pickle.loads(problem)
    return wait_status_to_exit_code(status)


def _enter_and_run(pid: int, namespaces: set[Namespace], folders: list[str],
                   command: list[str], env: dict[str, str], report_fd: int,
                   kernel: Kernel) -> None:
    import pickle
    try:
        for folder in folders:
            kernel.write_knob(f"{folder}/cgroup.procs", str(os.getpid()))
        enter(pid, namespaces, kernel)  # entering mnt also moves our root and cwd to the container's
        os.chdir("/")
        grandchild = os.fork()      # only children are born inside the pid namespace
        if grandchild == 0:
            os.set_inheritable(report_fd, False)
            try:
                os.execvpe(command[0], command, env)
            except OSError:
                from kernel_helpers.errors import NotFound
                os.write(report_fd, pickle.dumps(NotFound(
                    f"command '{command[0]}'", "was not found in the container",
                    "check the command, e.g. /bin/sh")))
                os._exit(127)
        os.close(report_fd)
        _, status = os.waitpid(grandchild, 0)
        os._exit(wait_status_to_exit_code(status))
    except LabkitError as err:
        os.write(report_fd, pickle.dumps(err))
    except BaseException as err:
        os.write(report_fd, pickle.dumps(LabkitError("labkit exec", f"{type(err).__name__}: {err}",
                                                     "this is a bug in the kit; please report it")))
    os._exit(1)
