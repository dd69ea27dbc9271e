"""Checks every case uses: did the runtime start the command at all, and did it leave anything."""

from __future__ import annotations

import re

from kernel_helpers.course.harness.cases.base import Fail
from kernel_helpers.course.harness.judge import PROBE_DIR, Run

_PROC_PID = re.compile(r"/proc/\d+/")
_STUB = re.compile(r"lab (\d+), step [\w.-]+: (\w+) is not written yet")


def shares_namespace(run: Run, kind: str) -> bool:
    """True when the held container is still in the judge's or the runtime's `kind` namespace
    (it never got one of its own)."""
    held = run.held
    assert held is not None
    return held.ns.get(kind) in (run.judge_ns.get(kind), run.runtime_ns.get(kind))


def started(run: Run) -> Fail | None:
    """The probe ran and said ready: the runtime started the command."""
    if run.held is not None:
        return None
    raised = _PROC_PID.sub("/proc/PID/", run.raised() or "")  # messages name no pid
    stub = _STUB.search(raised) or _STUB.search(run.output)
    if stub:
        return Fail(f"{stub.group(2)} (lab {stub.group(1)}) is still the stub: it raises "
                    "NotImplementedError", "write it in myruntime.py: the lab's notebook cell, "
                    "`e` in labkit, or any editor")
    if "run" in run.report and not any(line.startswith("called") for line in run.report) \
            and raised == "" and any(line.startswith("error") for line in run.report):
        return Fail("myruntime.py defines no run(spec)", "keep the `def run(spec):` of lab 01")
    if raised and "import" in run.report and "run" not in run.report:
        return Fail(f"myruntime.py does not import: {raised}", "fix that line and check again")
    said = [_PROC_PID.sub("/proc/PID/", line.strip()) for line in run.output.splitlines()
            if line.strip()]
    failed = next((line for line in reversed(said) if " failed with " in line), None)
    if failed and (not raised or raised.startswith("ChildProcessError")):
        return Fail(f"run's child failed before exec: {failed[:500]}",  # the cause, not the Sync
                    "the error names the call that failed and why; fix it there")
    if raised and "root-moved" in run.report:
        return SHARED_MOUNT_NS
    if raised:
        return Fail(f"your runtime raised {raised}", "the error names the call that failed "
                    "and why; fix it there")
    clue = f" (its last words: {said[-1][:200]})" if said else ""
    if run.rootfs is not None:
        return Fail("the command never started inside the rootfs (it could not reach its "
                    "files at /" + PROBE_DIR + ")" + clue,
                    "in run's child, call enter_rootfs(spec.rootfs) and mount_pseudo_fs() "
                    "before os.execvp")
    return Fail("the command never started" + clue, "in the child after fork, call "
                "os.execvp(spec.argv[0], spec.argv)")


def no_leftovers(run: Run) -> Fail | None:
    if not run.leftovers:
        return None
    return Fail(f"your runtime left behind {'; '.join(run.leftovers)}; the kit removed them",
                "wait for every process you start, and undo any mount or cgroup you make "
                "outside the container's own namespaces")




SHARED_MOUNT_NS = Fail("the container shares the runtime's mount namespace (its pivot_root "
                       "moves the runtime's root too)",
                       "call lk.unshare(lk.CLONE_NEWNS) first in enter_rootfs")
