"""cpuacct (v1 only): how much CPU time the group used, in total and as user and system time.

v2 has no cpuacct: every group's cpu.stat counts usage_usec, user_usec and
system_usec, with or without the cpu controller (see `cpu.stats`).

Taught in: lab 05.
"""

from __future__ import annotations

from kernel_helpers.cgroups._read import read_keyed, read_text

USER_HZ = 100
"""cpuacct.stat counts in USER_HZ ticks (100 per second on Linux)."""


def stats(folder: str | None, version: int) -> dict[str, object]:
    """Usage in microseconds: cpuacct.usage counts nanoseconds, cpuacct.stat ticks."""
    usage = read_text(folder, "cpuacct.usage")
    ticks = read_keyed(folder, "cpuacct.stat")
    tick_usec = 1_000_000 // USER_HZ
    return {"cpu_usage_usec": int(usage) // 1000 if usage else None,
            "cpu_user_usec": ticks["user"] * tick_usec if "user" in ticks else None,
            "cpu_system_usec": ticks["system"] * tick_usec if "system" in ticks else None}
