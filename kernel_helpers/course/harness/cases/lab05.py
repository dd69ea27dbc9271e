"""Lab 05's cases: the container's own cgroup, with the limits asked for, joined before the
container runs anything, and gone once the runtime has exited.

Each run asks for other limits (a memory limit of 40 to 104 MiB, a pids limit of 12 to 28, a
CPU quota of 0.31 to 1.69 CPUs, never a round one, a CPU weight of 101 to 899), so numbers
tuned to the notebook's demo fail. While the probe holds the container, the judge
reads its /proc/PID/cgroup from the host, and in the group named there the limit files and
the pids accounting (the kit's own readers, `cgroups.memory.stats` and `cgroups.pids.stats`,
on v1 and v2). The probe's first act (`Case.before`) is to save its own /proc/self/cgroup
(cgroup-first), or to fork until the kernel refuses (fork-bomb). Once the runtime has exited
(`Case.after`) the judge looks whether that group is still there.
The CPU cases (`look_cpu`) read the group's cpu.max and cpu.weight (v1: cpu.cfs_quota_us,
cpu.cfs_period_us and cpu.shares, a weight by the kit's map `limits.shares_to_weight`), and
the same files of its parent, to tell a limit written to the wrong group.

Taught in: lab 05.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from kernel_helpers.cgroups import memory, pids
from kernel_helpers.cgroups.limits import shares_to_weight
from kernel_helpers.cgroups.layout import detect_layout
from kernel_helpers.course.harness import observe
from kernel_helpers.course.harness.cases.base import Case, Fail
from kernel_helpers.course.harness.cases.common import no_leftovers, started
from kernel_helpers.course.harness.judge import PROBE_DIR, Run
from kernel_helpers.course.harness.sandbox import RUNTIME_LEAF

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


def _cpu_quota() -> dict[str, Any]:
    hundredths = secrets.choice([n for n in range(31, 170) if n % 10])  # never 0.5 or 1.5
    return {"cpu_quota": hundredths / 100}


def _cpu_weight() -> dict[str, Any]:
    return {"cpu_weight": secrets.choice([n for n in range(101, 900) if n % 50])}  # never 500


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


def _int(text: str | None) -> int | None:
    try:
        return int(str(text).strip())
    except ValueError:
        return None


def _cpu_limits(folder: str, version: int) -> dict[str, Any]:
    """A group's CPU quota (None: no quota), period and weight (v1: from cpu.shares)."""
    if version == 2:
        quota, _, period = (observe.read(f"{folder}/cpu.max") or "").strip().partition(" ")
        return {"cpu_quota_us": _int(quota), "cpu_period_us": _int(period),
                "cpu_weight": _int(observe.read(f"{folder}/cpu.weight")), "cpu_shares": None}
    v1_quota = _int(observe.read(f"{folder}/cpu.cfs_quota_us"))
    shares = _int(observe.read(f"{folder}/cpu.shares"))
    return {"cpu_quota_us": None if v1_quota is None or v1_quota < 0 else v1_quota,
            "cpu_period_us": _int(observe.read(f"{folder}/cpu.cfs_period_us")),
            "cpu_weight": None if shares is None else shares_to_weight(shares),
            "cpu_shares": shares}


def look_cpu(pid: int, run: Run) -> dict[str, Any]:
    """`look`, plus the CPU limits of the container's group (v1: its group in the cpu
    hierarchy, judged as its own too), of the group's parent, and the groups made there."""
    seen = look(pid, run)
    layout = detect_layout()
    key = "" if layout.version == 2 else "cpu"
    root = str(layout.v2_root) if layout.version == 2 else layout.v1.get("cpu", "")
    path = _by_controller(observe.read(f"/proc/{pid}/cgroup")).get(key)
    folder, parent = root + (path or "/"), f"{root}/{str(run.spec['cgroup_parent']).strip('/')}"
    seen["paths"][key] = path
    seen["folders"] = sorted(set(seen["folders"]) | {folder})
    try:
        made = [name for name in os.listdir(parent) if name.startswith(run.spec["run_prefix"])
                and os.path.isdir(os.path.join(parent, name))]
    except OSError:
        made = []
    return {**seen, **_cpu_limits(folder, layout.version), "cgroup_version": layout.version,
            "parent_cpu": _cpu_limits(parent, layout.version), "made": made}


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
        if path in (parent, f"{parent}/{RUNTIME_LEAF}"):  # v2: the runtime starts in a leaf
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


def _cpu_field(run: Run) -> str:
    return "cpu_quota" if run.spec.get("cpu_quota") is not None else "cpu_weight"


def cpu_refused(run: Run) -> Fail | None:
    """Before `started`: the runtime raised because lk.write_limit refused a CPU value."""
    raised = run.raised() or ""
    if "write_limit(" not in raised or "EINVAL" not in raised:
        return None
    if "'cpu.max'" in raised:
        return Fail("lk.write_limit refused the CPU quota your runtime gave cpu.max: a quota "
                    "is whole microseconds per period, not a number of CPUs",
                    "1.5 CPUs is '150000 100000': lk.write_limit(path, 'cpu.max', "
                    "f'{round(spec.cpu_quota * 100000)} 100000')")
    if "'cpu.weight'" in raised:
        return Fail("lk.write_limit refused the CPU weight your runtime gave cpu.weight: a "
                    "weight is a whole number from 1 to 10000",
                    "write spec.cpu_weight as it is: lk.write_limit(path, 'cpu.weight', "
                    "spec.cpu_weight)")
    return None


def cpu_group_made(run: Run) -> Fail | None:
    """Before `in_own_group`: with only a CPU limit asked, did run make a group at all."""
    parent = "/" + str(run.spec["cgroup_parent"]).strip("/")
    runtime = (parent, f"{parent}/{RUNTIME_LEAF}")  # v2: the runtime starts in a leaf
    if run.seen.get("made") or not any(path in runtime
                                       for path in run.seen.get("paths", {}).values()):
        return None
    field = _cpu_field(run)
    return Fail(f"your runtime made no cgroup when only spec.{field} was set: its run makes one "
                "only for the memory and pids limits", "in run: cgroup = create_cgroup(spec) "
                "if spec.memory_max or spec.pids_max or spec.cpu_quota or spec.cpu_weight "
                "else None")


def _on_parent(run: Run, key: str, asked: float) -> Fail | None:
    got = run.seen.get("parent_cpu", {}).get(key)
    if key == "cpu_quota_us":
        period = run.seen.get("parent_cpu", {}).get("cpu_period_us")
        if got is None or not period or abs(got - asked * period) > 1:
            return None
    elif got != asked:
        return None
    field = _cpu_field(run)
    return Fail(f"the CPU limit spec.{field} asked for is on the container's parent group "
                "(spec.cgroup_parent), not on its own group", "write the limit to the path "
                "create_cgroup made for the container, not to spec.cgroup_parent")


def cpu_quota_asked(run: Run) -> Fail | None:
    asked = run.spec.get("cpu_quota")
    if asked is None:
        return None
    quota, period = run.seen.get("cpu_quota_us"), run.seen.get("cpu_period_us")
    if quota is None:
        return _on_parent(run, "cpu_quota_us", asked) or Fail(
            "the container's cgroup has no CPU quota (cpu.max, v1: cpu.cfs_quota_us): "
            "spec.cpu_quota was not written to it", "in create_cgroup, when spec.cpu_quota is "
            "set: lk.write_limit(path, 'cpu.max', f'{round(spec.cpu_quota * 100000)} 100000')")
    if period and abs(quota - asked * period) <= 1:  # a microsecond: int() of 0.29 * 100000
        return None
    cpus = f"{quota / period:.3g}" if period else "?"
    return Fail(f"the container's cgroup has another CPU quota than spec.cpu_quota asked for: "
                f"{quota} microseconds per {period} is {cpus} CPUs, not {asked} (this run asked "
                "for a different one than the notebook's)", "write round(spec.cpu_quota * "
                "100000) microseconds per period of 100000, the quota first: '150000 100000' "
                "is 1.5 CPUs")


def cpu_weight_asked(run: Run) -> Fail | None:
    asked = run.spec.get("cpu_weight")
    weight, shares = run.seen.get("cpu_weight"), run.seen.get("cpu_shares")
    if asked is None or weight == asked:
        return None
    if run.seen.get("cgroup_version") == 1 and shares == asked:
        return Fail("the container's cpu.shares is spec.cpu_weight itself: on cgroup v1 the "
                    "weight (1..10000, 100 by default) must be converted to shares (2..262144, "
                    "1024 by default)", "lk.write_limit(path, 'cpu.weight', spec.cpu_weight) "
                    "converts it on v1 (the kit's map: cgroups.limits.weight_to_shares)")
    if weight is None or (shares == 1024 if run.seen.get("cgroup_version") == 1
                          else weight == 100):
        return _on_parent(run, "cpu_weight", asked) or Fail(
            "the container's cgroup has the default CPU weight: spec.cpu_weight was not written "
            "to it", "in create_cgroup, when spec.cpu_weight is set: lk.write_limit(path, "
            "'cpu.weight', spec.cpu_weight)")
    return Fail(f"the container's cgroup has another CPU weight than spec.cpu_weight asked for: "
                f"{weight}, not {asked} (this run asked for a different one than the "
                "notebook's)", "write spec.cpu_weight itself, on the v2 scale (1..10000): "
                "lk.write_limit converts it to cpu.shares on v1, so do not convert it yourself")


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
    Case("cpu-quota", 0, True, (cpu_refused, started, cpu_group_made, in_own_group,
                                cpu_quota_asked, no_leftovers), extra=_cpu_quota, look=look_cpu),
    Case("cpu-weight", 0, True, (cpu_refused, started, cpu_group_made, in_own_group,
                                 cpu_weight_asked, no_leftovers), extra=_cpu_weight, look=look_cpu),
)
