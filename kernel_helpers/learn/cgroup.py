"""cgroups for a learner's runtime: a group is a path, the same on cgroup v1 and v2.

A path is relative to the cgroup root, as OCI's linux.cgroupsPath is
(``labkit/lk1a2b3c4d/lkg4242``). On v2 it is one folder under /sys/fs/cgroup; on v1
it is one folder in every mounted hierarchy (memory, pids, cpu, ...). These calls
hide that, and are thin: the folders come from `kernel_helpers.cgroups.at_path`
(which also turns the controllers on down the path on v2 and fills a new v1 cpuset),
and a limit's file from the kit's own plan (`cgroups.plan`)::

    path = f"{lk.CGROUP_PARENT}/lk42"
    lk.make_cgroup(path)
    lk.write_limit(path, "memory.max", 64 << 20)   # memory.limit_in_bytes on v1
    lk.write_limit(path, "cpu.max", "150000 100000")  # 1.5 CPUs; v1: cpu.cfs_quota_us, _period_us
    lk.write_limit(path, "cpu.weight", 200)        # v1: cpu.shares, converted (limits.weight_to_shares)
    lk.add_to_cgroup(path, pid)
    ...                                            # the process exits, is waited for
    lk.rmdir_cgroup(path)

Errors are `OSError`s with a one-sentence hint (`kernel_helpers.learn.sys`).

Taught in: lab 05.
"""

from __future__ import annotations

import errno
import os

from kernel_helpers._sys import LINUX
from kernel_helpers.cgroups import cpu
from kernel_helpers.cgroups._write import remove_folder
from kernel_helpers.cgroups.at_path import create_at, resolve
from kernel_helpers.cgroups.controllers import plan
from kernel_helpers.cgroups.layout import SUBTREE, detect_layout
from kernel_helpers.cgroups.limits import CPU_PERIOD_US, Limits, Write, weight_to_shares
from kernel_helpers.errors import LabkitError
from kernel_helpers.learn.sys import HINTS, _call, error_for
from kernel_helpers.units import parse_size

CGROUP_PARENT = SUBTREE
"""The kit's own folder under the cgroup root: where a runtime's groups go when the spec
names no cgroup_parent."""

KNOBS = ("memory.max", "pids.max", "cpu.max", "cpu.weight")
"""The limits `write_limit` knows, by their v2 names."""
MIN_QUOTA_US = 1000
"""The smallest CPU quota the kernel takes (1 ms per period)."""

HINTS.update({
    ("make_cgroup", errno.EEXIST): "a group of that name is already there: put the runtime's "
                                   "pid or a random suffix in the name",
    ("make_cgroup", errno.EACCES): "making cgroups needs root: run the runtime as root",
    ("write_limit", errno.EINVAL): "the kernel refused that value, or the knob is not one of "
                                   "memory.max, pids.max, cpu.max and cpu.weight (cpu.max takes "
                                   "'QUOTA PERIOD' in whole microseconds, e.g. '150000 100000' "
                                   "for 1.5 CPUs; cpu.weight a whole number from 1 to 10000)",
    ("write_limit", errno.ENOENT): "no such group: make it first (lk.make_cgroup)",
    ("add_to_cgroup", errno.ENOENT): "no such group: make it first (lk.make_cgroup)",
    ("add_to_cgroup", errno.ESRCH): "no such process: move the child in before it can exit",
    ("add_to_cgroup", errno.ENOSPC): "a v1 cpuset group with no CPUs or memory nodes takes no "
                                     "process: make groups with lk.make_cgroup, which copies "
                                     "them from the parent",
    ("rmdir_cgroup", errno.EBUSY): "a process is still in the group: wait for the container "
                                   "(os.waitpid) before removing its group",
})


def cgroup_folders(path: str) -> list[str]:
    """The folders of group `path`: one on v2, one per mounted hierarchy on v1.

    Taught in: lab 05.
    """
    return sorted(set(resolve("/" + path.strip("/"), detect_layout()).values()))


def make_cgroup(path: str) -> list[str]:
    """Make group `path` (and any missing parent) in every hierarchy; returns its folders.

    Taught in: lab 05.
    """
    if any(os.path.isdir(folder) for folder in cgroup_folders(path)):
        raise error_for("make_cgroup", errno.EEXIST, (path,))
    _call("make_cgroup", lambda p: create_at("/" + p.strip("/")), path)
    return cgroup_folders(path)


def write_limit(path: str, knob: str, value: int | str) -> None:
    """Write one limit of group `path`, named as on v2; on v1 the same limit goes to v1's files.

    ``memory.max`` takes bytes or "64M" (v1: memory.limit_in_bytes); ``pids.max`` a count;
    ``cpu.max`` "QUOTA PERIOD" in microseconds, "150000 100000" for 1.5 CPUs, or the quota
    alone with the default period of 100000 (v1: cpu.cfs_period_us, then cpu.cfs_quota_us);
    ``cpu.weight`` 1..10000, 100 by default (v1: cpu.shares, 2..262144, 1024 by default,
    converted with the kit's map `cgroups.limits.weight_to_shares`).

    Taught in: lab 05.
    """
    if knob not in KNOBS:
        raise error_for("write_limit", errno.EINVAL, (path, knob, value))
    layout = detect_layout()
    try:
        writes = _writes(knob, value, layout.version)
    except (ValueError, TypeError, LabkitError) as err:  # LabkitError: not a size
        raise error_for("write_limit", errno.EINVAL, (path, knob, value)) from err
    folders = resolve("/" + path.strip("/"), layout)
    for write in writes:
        folder = folders.get("" if layout.version == 2 else write.controller)
        if folder is None:
            raise error_for("write_limit", errno.ENOENT, (path, knob, value))
        _call("write_limit", LINUX.write_knob, os.path.join(folder, write.file), write.value)


def _writes(knob: str, value: int | str, version: int) -> list[Write]:
    """The files and values for one limit, from the kit's plan (`cgroups.plan`)."""
    if knob == "memory.max":
        return plan(Limits(memory=parse_size(value, "memory limit")), version)
    if knob == "pids.max":
        return plan(Limits(pids=int(value)), version)
    if knob == "cpu.weight":
        weight = _whole(value)
        if not 1 <= weight <= 10000:
            raise ValueError(f"cpu.weight {weight} is not in 1..10000")
        # v1: cpu.shares; v2: the plan maps the shares back to this very weight
        return plan(Limits(cpu_shares=weight_to_shares(weight)), version)
    parts = value.split() if isinstance(value, str) else [value]
    if len(parts) not in (1, 2):
        raise ValueError(f"cpu.max '{value}' is not 'QUOTA PERIOD'")
    period = _whole(parts[1]) if len(parts) == 2 else CPU_PERIOD_US
    if parts[0] == "max":  # no quota: the default
        return ([Write("cpu", cpu.CPU_MAX, f"max {period}")] if version == 2 else
                [Write("cpu", cpu.CFS_PERIOD_US, str(period)), Write("cpu", cpu.CFS_QUOTA_US, "-1")])
    quota = _whole(parts[0])
    if quota < MIN_QUOTA_US:  # the plan would round it up to the minimum: refuse it instead
        raise ValueError(f"a CPU quota of {quota} microseconds is below the kernel's minimum")
    return plan(Limits(cpus=quota / period, cpu_period_us=period), version)


def _whole(value: object) -> int:
    """A whole number given as an int or its digits (not 1.5, not True)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ValueError(f"{value!r} is not a whole number")


def add_to_cgroup(path: str, pid: int) -> None:
    """Move process `pid` into group `path` in every hierarchy (its later children start there).

    Taught in: lab 05.
    """
    for folder in cgroup_folders(path):
        _call("add_to_cgroup", LINUX.write_knob, os.path.join(folder, "cgroup.procs"), str(pid))


def rmdir_cgroup(path: str) -> None:
    """Remove group `path` from every hierarchy; it must hold no process any more.

    Taught in: lab 05.
    """
    for folder in cgroup_folders(path):
        _call("rmdir_cgroup", remove_folder, folder, 0)  # no retry: EBUSY is the lesson
