"""pids: the most tasks a group may hold at once; past it fork() and clone() fail with EAGAIN.

A fork bomb inside the group stops at pids.max, while the rest of the machine
keeps working, and pids.events counts every refused fork.

Taught in: lab 05.
"""

from __future__ import annotations

from kernel_helpers.cgroups._read import read_int, read_keyed
from kernel_helpers.cgroups.limits import Limits, Write

PIDS_MAX = "pids.max"


def plan(limits: Limits, version: int) -> list[Write]:
    """Same file on v1 and v2."""
    return [] if limits.pids is None else [Write("pids", PIDS_MAX, str(limits.pids))]


def stats(folder: str | None, version: int) -> dict[str, object]:
    return {"pids_current": read_int(folder, "pids.current"),
            "pids_max": read_int(folder, PIDS_MAX),
            "pids_denied": read_keyed(folder, "pids.events").get("max")}
