"""Usage over time: samples of a group's Stats that notebooks plot and the TUI shows live.

    samples = record(group, seconds=3, interval=0.1)
    times, percent = cpu_percent(samples)          # plt.plot(times, percent)
    times, memory = series(samples, "memory_current")

Taught in: lab 05.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Iterator

from kernel_helpers.cgroups.group import Cgroup
from kernel_helpers.cgroups.limits import Stats


@dataclass(frozen=True)
class Sample:
    """The group's stats at `t` seconds after sampling began."""

    t: float
    stats: Stats


def sample(group: Cgroup, interval: float = 0.1, count: int | None = None) -> Iterator[Sample]:
    """Yield a Sample every `interval` seconds (forever when count is None: the TUI's feed)."""
    start = time.monotonic()
    taken = 0
    while count is None or taken < count:
        if taken:
            time.sleep(max(0.0, start + taken * interval - time.monotonic()))
        yield Sample(time.monotonic() - start, group.stats())
        taken += 1


def record(group: Cgroup, seconds: float, interval: float = 0.1) -> list[Sample]:
    """Samples over `seconds` (both ends included), for plotting afterwards."""
    return list(sample(group, interval, count=int(round(seconds / interval)) + 1))


def series(samples: list[Sample], name: str) -> tuple[list[float], list[int | None]]:
    """(times, values) of one Stats field, e.g. "memory_current" or "pids_current"."""
    return [s.t for s in samples], [getattr(s.stats, name) for s in samples]


def cpu_percent(samples: list[Sample]) -> tuple[list[float], list[float]]:
    """CPU use between consecutive samples, in percent of one CPU (200 = two full CPUs)."""
    times, percent = [], []
    for before, after in zip(samples, samples[1:]):
        used, was = after.stats.cpu_usage_usec, before.stats.cpu_usage_usec
        if used is None or was is None or after.t <= before.t:
            continue
        times.append(after.t)
        percent.append(100 * (used - was) / 1e6 / (after.t - before.t))
    return times, percent
