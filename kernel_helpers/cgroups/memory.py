"""memory: a byte limit, swap, usage and OOM events.

Over the limit the kernel first reclaims (page cache, then swap); when nothing
is left to reclaim it runs the OOM killer inside the group only, and counts it.

Taught in: lab 05.
"""

from __future__ import annotations

from kernel_helpers.cgroups._read import read_int, read_keyed
from kernel_helpers.cgroups.limits import Limits, Write, memsw_v1

MEMORY_MAX = "memory.max"
MEMORY_SWAP_MAX = "memory.swap.max"
LIMIT_IN_BYTES = "memory.limit_in_bytes"
MEMSW_LIMIT_IN_BYTES = "memory.memsw.limit_in_bytes"


def plan(limits: Limits, version: int) -> list[Write]:
    """The writes for `limits.memory` and `limits.swap`."""
    if limits.memory is None:
        return []
    if version == 2:
        writes = [Write("memory", MEMORY_MAX, str(limits.memory))]
        if limits.swap is not None:
            writes.append(Write("memory", MEMORY_SWAP_MAX, str(limits.swap)))
        return writes
    writes = [Write("memory", LIMIT_IN_BYTES, str(limits.memory))]
    if limits.swap is not None:
        # memsw must stay >= limit_in_bytes, so it is written after it; it exists only
        # with swap accounting on, hence optional (no swap accounting = no swap limit).
        writes.append(Write("memory", MEMSW_LIMIT_IN_BYTES,
                            str(memsw_v1(limits.memory, limits.swap)), optional=True))
    return writes


def stats(folder: str | None, version: int) -> dict[str, object]:
    if version == 2:
        events = read_keyed(folder, "memory.events")
        return {"memory_current": read_int(folder, "memory.current"),
                "memory_max": read_int(folder, MEMORY_MAX),
                "memory_peak": read_int(folder, "memory.peak"),
                "oom_events": events.get("oom"), "oom_kills": events.get("oom_kill")}
    oom = read_keyed(folder, "memory.oom_control")
    return {"memory_current": read_int(folder, "memory.usage_in_bytes"),
            "memory_max": read_int(folder, LIMIT_IN_BYTES),
            "memory_peak": read_int(folder, "memory.max_usage_in_bytes"),
            "oom_kills": oom.get("oom_kill")}
