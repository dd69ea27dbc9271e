"""Which cgroup version this machine runs, read from the mount table.

- v1: one hierarchy per controller (or a few comounted), each mounted
  separately, e.g. /sys/fs/cgroup/memory.
- v2: one unified tree, e.g. /sys/fs/cgroup, controllers listed in cgroup.controllers.
- hybrid: both; controllers bound to v1 are missing from the v2 tree (systemd's
  old "hybrid" mode, and this course's CI machine).

Where the kit's groups go (`SUBTREE`): ``<mount>/labkit/<id>`` in every v1
hierarchy and ``<v2 root>/labkit/<id>`` on v2, the way Docker's cgroupfs
driver uses ``/docker``. On a systemd host systemd leaves a top-level group it
did not make alone. To nest somewhere else (a delegated unit such as
``/system.slice/labkit.service``), set LABKIT_CGROUP_PARENT to that path
relative to the cgroup root.

Taught in: lab 05.
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path

from kernel_helpers.cgroups.controllers import names
from kernel_helpers.procfs import parse_mountinfo

MOUNTINFO = "/proc/self/mountinfo"
"""The mount table read by `detect_layout` (a parameter, so fixture tables can be used)."""

SUBTREE = os.environ.get("LABKIT_CGROUP_PARENT", "labkit").strip("/")
"""The kit's own folder under each cgroup root; the kit never writes outside it."""

class Mode(enum.Enum):
    V1 = "v1"
    V2 = "v2"
    HYBRID = "hybrid"
    NONE = "none"


@dataclass(frozen=True)
class Layout:
    """Where each cgroup hierarchy is mounted on this machine."""

    mode: Mode
    v1: dict[str, str] = field(default_factory=dict)
    """v1 controller -> its hierarchy's mount point (comounted ones share a path)."""
    v2_root: str | None = None
    v2_controllers: tuple[str, ...] = ()
    """Controllers the v2 root offers (cgroup.controllers)."""

    @property
    def version(self) -> int:
        """The version the kit's groups use: v1 wherever v1 controllers exist (hybrid too)."""
        return 2 if self.mode is Mode.V2 else 1

    def v2_only(self) -> Layout:
        """Just the unified tree of a hybrid machine, to use the v2 core (freeze, kill, eBPF)."""
        return Layout(Mode.V2, {}, self.v2_root, self.v2_controllers)


def detect_layout(mountinfo: str = MOUNTINFO) -> Layout:
    """The cgroup layout from the mount table (first mount of each hierarchy wins).

    Only the v1 controllers of the kit's table (`controllers.names(1)`) are kept;
    net_cls, often not mounted, is then simply absent.

    Taught in: lab 05.
    """
    v1: dict[str, str] = {}
    v2_root = None
    kit_controllers = names(1)
    for mount in parse_mountinfo(Path(mountinfo).read_text()):
        if mount.fstype == "cgroup":
            for option in mount.super_options.split(","):
                if option in kit_controllers:
                    v1.setdefault(option, mount.target)
        elif mount.fstype == "cgroup2" and v2_root is None:
            v2_root = mount.target
    v2_controllers: tuple[str, ...] = ()
    if v2_root is not None:
        try:
            v2_controllers = tuple(Path(v2_root, "cgroup.controllers").read_text().split())
        except OSError:
            pass
    mode = (Mode.HYBRID if v1 and v2_root else Mode.V1 if v1 else
            Mode.V2 if v2_root else Mode.NONE)
    return Layout(mode, v1, v2_root, v2_controllers)


def describe(layout: Layout) -> str:
    """One line for `labkit doctor`: the mode and the controllers of each version."""
    v1 = ", ".join(sorted(layout.v1)) or "-"
    v2 = ", ".join(layout.v2_controllers) or "-"
    return f"{layout.mode.value}; v1: {v1}; v2: {v2}"
