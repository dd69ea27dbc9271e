"""cpuset: which CPUs and memory nodes the group's processes may run and allocate on.

On v1 a new cpuset group starts with *empty* cpus and mems, and adding a
process to it fails with ENOSPC, so `inherit_plan` copies the parent's values
first (what cgroup.clone_children=1 would do). v2 starts from the parent's.

Taught in: lab 05.
"""

from __future__ import annotations

from kernel_helpers.cgroups._read import read_text
from kernel_helpers.cgroups.limits import Limits, Write
from kernel_helpers.units import format_cpu_list

CPUSET_CPUS = "cpuset.cpus"
CPUSET_MEMS = "cpuset.mems"


def plan(limits: Limits, version: int) -> list[Write]:
    """The writes for `limits.cpuset_cpus` and `limits.cpuset_mems` (same files on v1 and v2)."""
    writes = []
    if limits.cpuset_cpus is not None:
        writes.append(Write("cpuset", CPUSET_CPUS, format_cpu_list(limits.cpuset_cpus)))
    if limits.cpuset_mems is not None:
        writes.append(Write("cpuset", CPUSET_MEMS, format_cpu_list(limits.cpuset_mems)))
    return writes


def inherit_plan(parent: str) -> list[Write]:
    """v1 only: copy the parent's effective cpus and mems into a new group."""
    return [Write("cpuset", name, read_text(parent, name) or "")
            for name in (CPUSET_CPUS, CPUSET_MEMS)]
