"""Checks of labs 09 and 10: a runtime assembled from the engine's stages, and `ps` done right.

The checks start real detached containers (a supervisor each, as `labkit run
-d` does), read the kernel's view of them from the host (/proc/PID/ns,
mountinfo, status, cgroup files) and remove them on every path.

Taught in: lab 09, lab 10.
"""

from __future__ import annotations

import os
import time

from kernel_helpers.checks._probe import mount_fstypes, ns_inode
from kernel_helpers.procfs import status_field
from kernel_helpers.course.checks import call, check, fail
from kernel_helpers.naming import new_name
from kernel_helpers.runtime import manage
from kernel_helpers.runtime.detach import run_detached
from kernel_helpers.stage import Stage
from kernel_helpers.spec import ContainerSpec
from kernel_helpers.state import ContainerState, find
from kernel_helpers.security.capabilities import DOCKER_DEFAULT, read_sets

MEMORY = 64 * 2**20
KINDS = ("pid", "mnt", "uts", "ipc", "net")


def _built(answer: object) -> tuple[ContainerSpec, tuple[Stage, ...]]:
    built = call(answer, ["sleep", "30"], MEMORY)
    if not (isinstance(built, tuple) and len(built) == 2 and isinstance(built[0], ContainerSpec)):
        raise fail("`my_runtime` did not return (spec, stages)",
                   "return a ContainerSpec and a tuple of Stage objects")
    return built[0], tuple(built[1])


@check("runtime.assemble")
def assemble(answer: object) -> str:
    spec, stages = _built(answer)
    try:
        container = run_detached(spec, stages, keep=False)
    except Exception as err:
        raise fail(f"your runtime could not start the container: {err}",
                   "read the error; every stage must be a Stage instance") from None
    try:
        pid = find(container).pid
        shared = [kind for kind in KINDS if ns_inode(pid, kind) == ns_inode("self", kind)]
        if shared:
            raise fail(f"the container shares the host's {', '.join(shared)} namespace(s)",
                       "use DEFAULT_NAMESPACES in the ContainerSpec")
        if mount_fstypes(pid).get("/") != "overlay":
            raise fail("the container's / is not an overlay of the image",
                       "add OverlayStage(images.get('busybox')) and rootfs=PENDING_ROOTFS")
        group = find(container).extra.get("cgroup")
        limit = manage.stats(container).get("memory_max") if group else None
        if limit != MEMORY:
            raise fail("the container is not in a group with the memory limit asked for",
                       "add CgroupStage(Limits(memory=memory))")
        caps = read_sets(pid).effective
        if caps != DOCKER_DEFAULT or status_field(pid, "Seccomp") != ["2"]:
            raise fail("the container's root is not hardened (capabilities or seccomp)",
                       "add HardeningStage() last: it drops privileges just before exec")
    finally:
        manage.remove(container, force=True)
    return "namespaces, an overlay root, a memory-limited group and hardening: your runtime works"


def _truth() -> set[str]:
    return {str(row["id"]) for row in manage.ps() if row["status"] in ("running", "paused")}


@check("manage.running")
def running(answer: object) -> str:
    from kernel_helpers.runtime.run_options import spec_from_options
    made: list[str] = []
    stale = ContainerState(id=new_name(), command=["sleep", "30"], status="running",
                           pid=os.getpid(), pid_start=1)  # our pid, someone else's start time
    try:
        made.append(run_detached(spec_from_options(["sleep", "30"])))
        made.append(run_detached(spec_from_options(["true"])))
        stale.save()
        made.append(stale.id)
        deadline = time.monotonic() + 5
        # "exited" is written once the supervisor has cleaned up: wait for that, not just
        # for the pid to die, so every answer sees the same states (deterministic messages).
        while find(made[1]).status != "exited" and time.monotonic() < deadline:
            time.sleep(0.02)
        got = call(answer)
        if not isinstance(got, (set, list, tuple, frozenset)):
            raise fail(f"`running_ids` returned a {type(got).__name__}, not a set",
                       "return a set of container ids")
        got, truth = set(got), _truth()
        mine = set(made)
        if made[1] in got:
            raise fail("a container that exited is listed as running",
                       "check that the state's pid is still alive (os.kill(pid, 0) or /proc/PID)")
        if stale.id in got:
            raise fail("a state whose pid now belongs to another process is listed as running",
                       "compare the process's start time (field 22 of /proc/PID/stat) with pid_start")
        if made[0] not in got or got & mine != truth & mine:
            raise fail("a running container is missing from your list",
                       "read every state with all_states() and keep the live ones")
    finally:
        for container in made:
            manage.remove(container, force=True)
    return "your list has the running container, not the exited one, not the reused pid"
