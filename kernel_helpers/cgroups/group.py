"""One cgroup of the kit, on v1 or v2: create, add a process, limit, account, freeze, kill, delete.

On v1 a "group" is one folder per hierarchy (memory/labkit/lk.., cpu/labkit/lk..,
...); on v2 it is one folder with every controller's files. The handle hides
that, so labs and `labkit run` use the same calls on either machine.

Ownership: before making a group the kit writes ``STATE_ROOT/cgroups/<name>``
with the owner's pid and start time; `leftovers` reports groups whose owner is
gone (a SIGKILLed `labkit run`), and `labkit cleanup` kills and removes them.

Taught in: lab 05.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from kernel_helpers import naming
from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers.cgroups import _owner, bpf_devices, cpuset
from kernel_helpers.cgroups._read import read_keyed, read_text
from kernel_helpers.cgroups._write import apply_writes, make_folder, remove_folder
from kernel_helpers.cgroups import controllers
from kernel_helpers.cgroups.controllers import names, plan
from kernel_helpers.cgroups.layout import SUBTREE, Layout, Mode, detect_layout
from kernel_helpers.cgroups.limits import Limits, Stats, Write
from kernel_helpers.cleanup import Leftover, Registry
from kernel_helpers.errors import Busy, KernelFeatureMissing, LabkitError
from kernel_helpers.process import signal_process

OWNER_KIND = "cgroups"
"""Owner records live in STATE_ROOT/cgroups/<name>."""

FREEZER_STATE = "freezer.state"
CGROUP_FREEZE = "cgroup.freeze"
CGROUP_KILL = "cgroup.kill"
CGROUP_PROCS = "cgroup.procs"


@dataclass
class Cgroup:
    """A kit group: `folders` maps each controller to the group's folder in its hierarchy."""

    name: str
    version: int
    folders: dict[str, str]
    parents: list[str]
    """The kit's subtree folders (one per hierarchy): writes outside them are refused."""
    kernel: Kernel = field(default=LINUX, repr=False)

    @property
    def paths(self) -> list[str]:
        """The group's folders, one per hierarchy (exactly one on v2)."""
        return sorted({os.path.join(parent, self.name) for parent in self.parents})

    def _write(self, writes: list[Write]) -> None:
        apply_writes(self.folders, writes, self.parents, self.kernel)

    def add(self, pid: int) -> None:
        """Move process `pid` (and its threads) into the group in every hierarchy."""
        for path in self.paths:
            self._write_file(path, CGROUP_PROCS, str(pid))

    def _write_file(self, path: str, name: str, value: str) -> None:
        apply_writes({"": path}, [Write("", name, value)], self.parents, self.kernel)

    def apply(self, limits: Limits) -> None:
        """Write the plan for `limits`; on v2 a device policy loads the eBPF program.

        Taught in: lab 05.
        """
        self._write(plan(limits, self.version))
        if limits.devices is not None and self.version == 2:
            bpf_devices.attach(self.paths[0], limits.devices, self.kernel)

    def stats(self) -> Stats:
        """The group's accounting now (None where this machine has no source).

        Taught in: lab 05.
        """
        # v2 reads the group's one folder even for a controller not enabled there: cpu.stat's
        # usage is in every group. v1 reads each controller's hierarchy, if the group has one.
        v = self.version
        parts = [c.stats(self.paths[0] if v == 2 else self.folders.get(name), v)
                 for c in controllers.CONTROLLERS if (name := c.hierarchy(v))]
        return Stats.merge(*parts, {"frozen": self.is_frozen()})

    def pids(self) -> list[int]:
        """Every process in the group, in any hierarchy."""
        found: set[int] = set()
        for path in self.paths:
            found.update(int(p) for p in (read_text(path, CGROUP_PROCS) or "").split())
        return sorted(found)

    def freeze(self, timeout: float = 5) -> None:
        """Stop every process in the group until `thaw` (they cannot even see it happen).

        Taught in: lab 05.
        """
        self._set_frozen(True, timeout)

    def thaw(self, timeout: float = 5) -> None:
        """Let a frozen group run again."""
        self._set_frozen(False, timeout)

    def _set_frozen(self, frozen: bool, timeout: float) -> None:
        if self.version == 2:
            self._write_file(self.paths[0], CGROUP_FREEZE, "1" if frozen else "0")
        elif "freezer" in self.folders:
            self._write([Write("freezer", FREEZER_STATE, "FROZEN" if frozen else "THAWED")])
        else:
            raise KernelFeatureMissing("cgroup freezer", "is not available on this machine",
                                       "run `labkit doctor` to see the controllers")
        # Freezing is asynchronous: v1 passes through FREEZING, v2 sets "frozen 1" when done.
        _wait_until(lambda: self.is_frozen() is frozen, timeout,
                    f"cgroup {self.name}", "did not finish freezing or thawing")

    def is_frozen(self) -> bool | None:
        """True once every process is frozen (v1 FROZEN, v2 "frozen 1"); None without a freezer."""
        if self.version == 2:
            frozen = read_keyed(self.paths[0], "cgroup.events").get("frozen")
            return None if frozen is None else frozen == 1
        state = read_text(self.folders.get("freezer"), FREEZER_STATE)
        return None if state is None else state == "FROZEN"

    def kill(self) -> None:
        """SIGKILL every process in the group: cgroup.kill on v2, freeze-kill-thaw on v1.

        Taught in: lab 05.
        """
        path = self.paths[0]
        if self.version == 2 and os.path.exists(os.path.join(path, CGROUP_KILL)):
            self._write_file(path, CGROUP_KILL, "1")
            return
        # v1: freeze first so nothing forks while we signal, then thaw so they can die.
        freezer = "freezer" in self.folders and os.path.isdir(self.folders["freezer"])
        if freezer:
            self.freeze()
        for pid in self.pids():
            signal_process(pid)
        if freezer:
            self.thaw()

    def delete(self, timeout: float = 10) -> None:
        """Kill what is left, wait for the group to empty, then remove its folders (idempotent)."""
        paths = [p for p in self.paths if os.path.isdir(p)]
        if paths and self.pids():
            self.kill()
            _wait_until(lambda: not self.pids(), timeout, f"cgroup {self.name}",
                        "its processes did not exit")
        for path in reversed(paths):
            remove_folder(path, timeout, self.kernel)
        _owner.forget(OWNER_KIND, self.name)


def create(name: str | None = None, limits: Limits | None = None, layout: Layout | None = None,
           registry: Registry | None = None, kernel: Kernel = LINUX,
           hierarchies: tuple[str, ...] | None = None) -> Cgroup:
    """Make a group under the kit's subtree and apply `limits`; all or nothing.

    Args:
        layout: where the hierarchies are (default: this machine's); pass
            `detect_layout().v2_only()` to use the v2 tree of a hybrid machine.
        registry: if given, the group's deletion is registered there.
        hierarchies: v1 only, the hierarchies to make it in (default: every one
            mounted); `labkit run` passes `controllers.needed(limits)`.

    Taught in: lab 05.
    """
    layout = layout or detect_layout()
    if layout.mode is Mode.NONE:
        raise KernelFeatureMissing("cgroups", "no cgroup filesystem is mounted",
                                   "mount cgroup2 on /sys/fs/cgroup (the lab VM does)")
    name = name or naming.new_name()
    group = _handle(name, layout, kernel, hierarchies)
    _owner.remember(OWNER_KIND, name)
    try:
        for parent in group.parents:
            make_folder(parent, kernel=kernel)
        if group.version == 2:
            _enable_v2_controllers(group)
            group.folders = {c: group.paths[0] for c in _v2_enabled(group.parents[0])}
        for path in group.paths:
            make_folder(path, exist_ok=False, kernel=kernel)
        if group.version == 1 and "cpuset" in group.folders:
            for folder in (os.path.dirname(group.folders["cpuset"]), group.folders["cpuset"]):
                if not (read_text(folder, cpuset.CPUSET_CPUS) and
                        read_text(folder, cpuset.CPUSET_MEMS)):
                    apply_writes({"cpuset": folder}, cpuset.inherit_plan(os.path.dirname(folder)),
                                 group.parents, kernel)
        if limits is not None:
            group.apply(limits)
    except BaseException:
        group.delete()
        raise
    if registry is not None:
        registry.push(f"cgroup {name}", group.delete)
    return group


def open_group(name: str, layout: Layout | None = None, kernel: Kernel = LINUX) -> Cgroup:
    """A handle on an existing kit group (for `labkit` commands and notebooks)."""
    layout = layout or detect_layout()
    group = _handle(name, layout, kernel)
    if group.version == 2:
        group.folders = {c: group.paths[0] for c in _v2_enabled(group.parents[0])}
    return group


def _handle(name: str, layout: Layout, kernel: Kernel,
            hierarchies: tuple[str, ...] | None = None) -> Cgroup:
    if not naming.is_ours(name):
        raise LabkitError(f"cgroup name '{name}'", "is not a kit name",
                          "use naming.new_name(), e.g. lk1a2b3c4d")
    if layout.version == 2:
        parent = os.path.join(str(layout.v2_root), SUBTREE)
        return Cgroup(name, 2, {}, [parent], kernel)
    mounts = {c: mount for c, mount in layout.v1.items() if hierarchies is None or c in hierarchies}
    folders = {c: os.path.join(mount, SUBTREE, name) for c, mount in mounts.items()}
    parents = sorted({os.path.join(mount, SUBTREE) for mount in mounts.values()})
    return Cgroup(name, 1, folders, parents, kernel)


def _v2_enabled(parent: str) -> list[str]:
    return (read_text(parent, "cgroup.subtree_control") or "").split()


def _enable_v2_controllers(group: Cgroup) -> None:
    """Turn on, for the kit's groups, the table's v2 controllers the kit's folder is offered."""
    parent = group.parents[0]
    offered = (read_text(parent, "cgroup.controllers") or "").split()
    missing = [c for c in names(2) if c in offered and c not in _v2_enabled(parent)]
    if missing:
        group._write_file(parent, "cgroup.subtree_control", " ".join(f"+{c}" for c in missing))


def _wait_until(done: object, timeout: float, subject: str, problem: str) -> None:
    deadline = time.monotonic() + timeout
    while not done():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise Busy(subject, problem, "run `labkit cleanup`, then try again")
        time.sleep(0.005)


# --- the leftover sweeper ---

def leftovers() -> list[Leftover]:
    """Kit groups (in every hierarchy, v1 and v2) whose owner is gone, and stray owner files."""
    layout = detect_layout()
    roots = sorted(set(layout.v1.values()) | ({layout.v2_root} if layout.v2_root else set()))
    names: set[str] = set()
    for root in roots:
        parent = os.path.join(root, SUBTREE)
        names.update(e for e in (os.listdir(parent) if os.path.isdir(parent) else [])
                     if naming.is_ours(e))
    names.update(_owner.recorded(OWNER_KIND))
    return [Leftover("cgroup", name, ", ".join(r for r in roots if os.path.isdir(
        os.path.join(r, SUBTREE, name))) or "owner record") for name in sorted(names)
        if not _owner.owner_alive(OWNER_KIND, name)]


def remove(item: Leftover) -> None:
    """Kill the group's processes and remove it from every hierarchy (v1 and v2 alike)."""
    layout = detect_layout()
    open_group(item.name, layout).delete()
    if layout.mode is Mode.HYBRID:
        open_group(item.name, layout.v2_only()).delete()
