"""The cgroup controllers the kit knows: one table, and everything else is read from it.

The layout's v1 hierarchies, the controllers enabled on v2, `labkit doctor`'s
list, the order of a plan's writes, where `stats` reads, and which hierarchies
a container joins all come from `CONTROLLERS`. To teach one more controller,
write its module (``plan(limits, version) -> list[Write]`` and/or
``stats(folder, version) -> dict``) and add one row; tests/unit/test_cgroup_plans.py
checks that the row is all it takes.

Taught in: lab 05.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from kernel_helpers.cgroups import cpu, cpuacct, cpuset, devices, io, memory, net_cls, pids
from kernel_helpers.cgroups.limits import Limits, Write


@dataclass(frozen=True)
class Controller:
    """One controller: its names in each version, its module, and who needs it."""

    name: str
    v1: str | None
    """Its v1 hierarchy's name (a mount option, e.g. "blkio"); None if v1 has none."""
    v2: str | None
    """Its name in v2's cgroup.controllers (e.g. "io"); None if v2 has none, or has it
    in every group (the freezer: cgroup.freeze; cpuacct: cpu.stat)."""
    module: ModuleType | None
    """Defines `plan` (writes for a Limits) and/or `stats` (dict of Stats fields)."""
    always: bool
    """Every container's group is in it (v1: a folder and a join), limits or not;
    the others only when the container's limits write to them."""
    required: bool
    """`labkit doctor` reports it missing (the course uses it)."""
    why: str

    def hierarchy(self, version: int) -> str | None:
        """Its name in `version`: the key of its Write.controller and of Cgroup.folders."""
        return self.v1 if version == 1 else self.v2

    def plan(self, limits: Limits, version: int) -> list[Write]:
        """The module's writes for `limits` (none if the module has no plan)."""
        planner = getattr(self.module, "plan", None)
        return [] if planner is None else list(planner(limits, version))

    def stats(self, folder: str | None, version: int) -> dict[str, object]:
        """The module's Stats fields read from `folder` (none if the module has no stats)."""
        reader = getattr(self.module, "stats", None)
        return {} if reader is None else dict(reader(folder, version))


CONTROLLERS: tuple[Controller, ...] = (
    Controller("memory", "memory", "memory", memory, True, True,
               "memory limit and swap; usage and OOM kills for stats"),
    Controller("cpu", "cpu", "cpu", cpu, True, True, "CPU quota and share; throttling for stats"),
    Controller("cpuacct", "cpuacct", None, cpuacct, True, True, "v1's CPU usage for stats"),
    Controller("cpuset", "cpuset", "cpuset", cpuset, False, True, "--cpuset-cpus"),
    Controller("pids", "pids", "pids", pids, True, True, "--pids-limit; task count for stats"),
    Controller("io", "blkio", "io", io, True, True, "IO weight and throttles; bytes for stats"),
    Controller("devices", "devices", None, devices, True, True,
               "the device allow list (v2: an eBPF program on the group)"),
    Controller("freezer", "freezer", None, None, True, True,
               "pause, unpause and v1's kill (v2: cgroup.freeze in every group)"),
    Controller("net_cls", "net_cls", None, net_cls, False, False,
               "a traffic-control class id on the group's packets (v1 only)"),
)
"""In plan order: each controller's writes follow the previous one's."""


def names(version: int, required_only: bool = False) -> tuple[str, ...]:
    """The controllers' names in `version` (`required_only`: those `labkit doctor` wants)."""
    return tuple(name for c in CONTROLLERS
                 if (name := c.hierarchy(version)) and (c.required or not required_only))


def needed(limits: Limits, version: int = 1) -> tuple[str, ...]:
    """The hierarchies a container with `limits` joins: the `always` ones and those written to.

    On v1 each one is a folder to make and a migration to pay at start (about 1.5 ms
    each); net_cls and, without --cpuset-cpus, cpuset are skipped.
    """
    written = {write.controller for write in plan(limits, version)}
    return tuple(name for c in CONTROLLERS
                 if (name := c.hierarchy(version)) and (c.always or name in written))


def plan(limits: Limits, version: int) -> list[Write]:
    """Every write `limits` needs, controller by controller (pure: shown in the labs).

    Taught in: lab 05.
    """
    return [write for c in CONTROLLERS for write in c.plan(limits, version)]
