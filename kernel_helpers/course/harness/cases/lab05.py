"""Lab 05's cases: the container's own cgroup, with the limits asked for, joined before the
container runs anything, and gone once the runtime has exited.

Each run asks for other limits (a memory limit of 40 to 104 MiB, a pids limit of 12 to 28),
so numbers tuned to the notebook's demo fail. While the probe holds the container, the judge
reads its /proc/PID/cgroup from the host, and in the group named there the limit files and
the pids accounting (the kit's own readers, `cgroups.memory.stats` and `cgroups.pids.stats`,
on v1 and v2). The probe's first act (`Case.before`) is to save its own /proc/self/cgroup
(cgroup-first), or to fork until the kernel refuses (fork-bomb). Once the runtime has exited
(`Case.after`) the judge looks whether that group is still there.

Taught in: lab 05.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from kernel_helpers.cgroups import memory, pids
from kernel_helpers.cgroups.layout import detect_layout
from kernel_helpers.course.harness import observe
from kernel_helpers.course.harness.cases.base import Case, Fail
from kernel_helpers.course.harness.cases.common import no_leftovers, started
from kernel_helpers.course.harness.judge import PROBE_DIR, Run

FIRST = "cgroup"
"""The file in the probe's folder where it saves its /proc/self/cgroup before anything else."""
SETTLE = 0.5
"""Seconds cgroup-first waits for a late join before it looks (a right runtime: none)."""
BOMB = 40
"""Sleepers the fork-bomb probe tries to start: more than any pids limit asked, fewer than
the case group's own (sandbox.PIDS_MAX), so only the container's limit can stop it."""


def _memory() -> int:
    return (40 + 16 * secrets.randbelow(5)) << 20  # never the notebook's 32 or 64 MiB


def _pids() -> int:
    return 12 + secrets.randbelow(17)


def _both() -> dict[str, Any]:
    return {"memory_max": _memory(), "pids_max": _pids()}


def _memory_only() -> dict[str, Any]:
    return {"memory_max": _memory()}


def _pids_only() -> dict[str, Any]:
    return {"pids_max": _pids()}


def _by_controller(text: str | None) -> dict[str, str]:
    """'memory' and 'pids' (v1) or '' (v2) -> the group's path, from a /proc/PID/cgroup text."""
    found = {}
    for line in (text or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for name in parts[1].split(",") if parts[1] else [""]:
                found[name] = parts[2]
    return found


def _wanted(version: int) -> tuple[str, ...]:
    return ("",) if version == 2 else ("memory", "pids")


def look(pid: int, run: Run) -> dict[str, Any]:
    """The container's groups, their limits and pids accounting, and the probe's first look."""
    layout = detect_layout()
    paths = _by_controller(observe.read(f"/proc/{pid}/cgroup"))
    root = {"": str(layout.v2_root)} if layout.version == 2 else layout.v1
    folders = {c: root.get(c, "") + paths.get(c, "/") for c in _wanted(layout.version)}
    mem = memory.stats(folders["" if layout.version == 2 else "memory"], layout.version)
    tasks = pids.stats(folders["" if layout.version == 2 else "pids"], layout.version)
    probe = Path(run.rootfs, PROBE_DIR) if run.rootfs else run.case_dir / PROBE_DIR
    return {"paths": {c: paths.get(c) for c in _wanted(layout.version)},
            "folders": sorted(set(folders.values())), "memory_max": mem.get("memory_max"),
            "pids_max": tasks.get("pids_max"), "pids_current": tasks.get("pids_current"),
            "pids_denied": tasks.get("pids_denied"),
            "first": _by_controller(observe.read(str(probe / FIRST)))}


def look_settled(pid: int, run: Run) -> dict[str, Any]:
    """`look`, once the container is in a group of its own (or after SETTLE seconds): a runtime
    that joins it late still joins it, and is then told it joined too late, not never."""
    wanted = _wanted(detect_layout().version)
    deadline = time.monotonic() + SETTLE
    while time.monotonic() < deadline:
        paths = _by_controller(observe.read(f"/proc/{pid}/cgroup"))
        if all(_own(run, paths.get(c)) for c in wanted):
            break
        time.sleep(0.01)
    return look(pid, run)


def _own(run: Run, path: str | None) -> bool:
    """`path` is a group the runtime made below spec.cgroup_parent, named with spec.run_prefix."""
    parent = "/" + str(run.spec["cgroup_parent"]).strip("/") + "/"
    return bool(path and path.startswith(parent)
                and path.rsplit("/", 1)[-1].startswith(run.spec["run_prefix"]))


def after(pid: int, run: Run) -> dict[str, Any]:
    """Once the runtime exited: which of the container's own group folders are still there."""
    own = all(_own(run, path) for path in run.seen.get("paths", {}).values())
    return {"left": [f for f in run.seen.get("folders", []) if own and os.path.isdir(f)]}


def in_own_group(run: Run) -> Fail | None:
    parent = "/" + str(run.spec["cgroup_parent"]).strip("/")
    for path in run.seen.get("paths", {}).values():
        if path == parent:
            return Fail("the container runs in the cgroup its runtime was started in, not in a "
                        "group of its own", "create_cgroup(spec) makes the group and returns its "
                        "path; in run, join_cgroup(cgroup, pid) moves the child into it")
        if not path or not path.startswith(parent + "/"):
            return Fail("the container's cgroup is not under spec.cgroup_parent",
                        "make the group at f'{spec.cgroup_parent}/{spec.run_prefix}...' (the "
                        "parent is a path from the cgroup root)")
        if not _own(run, path):
            return Fail("the container's cgroup is not named with spec.run_prefix",
                        "start the group's name with spec.run_prefix, so whatever is left "
                        "behind can be found")
    return None


def limits_asked(run: Run) -> Fail | None:
    for knob, field, unit in (("memory.max", "memory_max", "bytes"),
                              ("pids.max", "pids_max", "tasks")):
        asked, got = run.spec.get(field), run.seen.get(field)
        if asked is None or got == asked:
            continue
        if got is None:
            return Fail(f"the container's cgroup has no {knob} limit: spec.{field} was not "
                        "written to it", f"in create_cgroup, lk.write_limit(path, '{knob}', "
                        f"spec.{field}) when spec.{field} is set")
        return Fail(f"the container's cgroup has another {knob} limit than spec.{field} asked "
                    "for (this run asked for a different one than the notebook's)",
                    f"write spec.{field} itself ({unit}), not a fixed number")
    return None


def fork_bomb_stopped(run: Run) -> Fail | None:
    asked = run.spec["pids_max"]
    current = run.seen.get("pids_current")
    if not run.seen.get("pids_denied") or current is None or current > asked:
        return Fail("a fork bomb inside the container was not stopped by the pids limit its "
                    "runtime asked for", "set pids.max on the container's own group before "
                    "releasing the child (create_cgroup, then join_cgroup)")
    return None


def first_in_group(run: Run) -> Fail | None:
    """The probe's first look: already in the container's own group (judged before
    in_own_group: a late join may not have happened yet when the judge looks)."""
    first = run.seen.get("first", {})
    if not first:
        return Fail("the container's command could not save its first /proc/self/cgroup",
                    "let the probe run as given: os.execvp(spec.argv[0], spec.argv)")
    wanted = run.seen.get("paths", {})
    if all(_own(run, first.get(c)) for c in wanted):
        return None
    if all(_own(run, path) for path in wanted.values()):
        return Fail("the container ran before its runtime put it in its cgroup: its first "
                    "look at /proc/self/cgroup shows another group",
                    "the child calls joined.wait() before anything else; the parent calls "
                    "join_cgroup(cgroup, pid), then joined.release()")
    return in_own_group(run)


def removed(run: Run) -> Fail | None:
    if not run.seen.get("after", {}).get("left"):
        return None
    raised = run.raised() or ""
    if "rmdir_cgroup" in raised and "EBUSY" in raised or "EBUSY" in run.output:
        return Fail("your runtime removed the container's cgroup while the container was still "
                    "in it (rmdir failed with EBUSY), and the group stayed",
                    "call remove_cgroup(cgroup) after os.waitpid(pid, 0) has returned")
    return Fail("the container's cgroup is still there after its runtime exited",
                "after os.waitpid(pid, 0), remove_cgroup(cgroup): lk.rmdir_cgroup(path) "
                "removes its folder (in every hierarchy on v1)")


CASES = (
    Case("cgroup-limits", 0, True, (started, in_own_group, limits_asked, no_leftovers),
         extra=_both, look=look),
    Case("fork-bomb", 0, True, (started, in_own_group, limits_asked, fork_bomb_stopped,
                                no_leftovers), extra=_pids_only, look=look,
         before=f"( i=0; while [ $i -lt {BOMB} ]; do sleep 100 & i=$((i+1)); done ) "
                "2>/dev/null"),
    Case("cgroup-first", 0, True, (started, first_in_group, in_own_group, no_leftovers),
         extra=_memory_only, look=look_settled, before=f"cat /proc/self/cgroup > {{dir}}/{FIRST}"),
    Case("cgroup-removed", 0, True, (started, in_own_group, removed, no_leftovers),
         extra=_both, look=look, after=after),
)
