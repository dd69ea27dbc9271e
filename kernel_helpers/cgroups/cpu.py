"""cpu: a quota of CPU time per period, a relative share, and throttling (v2: usage too).

A group with quota Q and period P may run Q microseconds every P, across all
CPUs together: 0.2 CPUs = 20000/100000, and the group is *throttled* (counted in
nr_throttled) for the rest of each period. On v1 the usage is counted by a
controller of its own, `cpuacct`.

Taught in: lab 05.
"""

from __future__ import annotations

from kernel_helpers.cgroups._read import read_keyed
from kernel_helpers.cgroups.limits import Limits, Write, cpus_to_quota, shares_to_weight

CPU_MAX = "cpu.max"
CPU_WEIGHT = "cpu.weight"
CFS_QUOTA_US = "cpu.cfs_quota_us"
CFS_PERIOD_US = "cpu.cfs_period_us"
CPU_SHARES = "cpu.shares"


def plan(limits: Limits, version: int) -> list[Write]:
    """The writes for `limits.cpus` and `limits.cpu_shares`."""
    writes: list[Write] = []
    if version == 2:
        if limits.cpus is not None:
            quota = cpus_to_quota(limits.cpus, limits.cpu_period_us)
            writes.append(Write("cpu", CPU_MAX, f"{quota} {limits.cpu_period_us}"))
        if limits.cpu_shares is not None:
            writes.append(Write("cpu", CPU_WEIGHT, str(shares_to_weight(limits.cpu_shares))))
        return writes
    if limits.cpus is not None:
        # The period first: a quota is checked against the period in force.
        writes += [Write("cpu", CFS_PERIOD_US, str(limits.cpu_period_us)),
                   Write("cpu", CFS_QUOTA_US,
                         str(cpus_to_quota(limits.cpus, limits.cpu_period_us)))]
    if limits.cpu_shares is not None:
        writes.append(Write("cpu", CPU_SHARES, str(limits.cpu_shares)))
    return writes


def stats(folder: str | None, version: int) -> dict[str, object]:
    """Throttling from cpu.stat; on v2 the usage as well (v1 has it in `cpuacct`)."""
    stat = read_keyed(folder, "cpu.stat")
    if version == 2:
        return {"cpu_usage_usec": stat.get("usage_usec"), "cpu_user_usec": stat.get("user_usec"),
                "cpu_system_usec": stat.get("system_usec"),
                "cpu_nr_periods": stat.get("nr_periods"),
                "cpu_nr_throttled": stat.get("nr_throttled"),
                "cpu_throttled_usec": stat.get("throttled_usec")}
    throttled = stat.get("throttled_time")
    return {"cpu_nr_periods": stat.get("nr_periods"),
            "cpu_nr_throttled": stat.get("nr_throttled"),
            "cpu_throttled_usec": throttled // 1000 if throttled is not None else None}
