"""The plug-in point of a container start: each mechanism adds its part as a `Stage`.

It sits below every mechanism (cgroups, images, net, security) and below the
runtime that calls the hooks, so a mechanism never imports the runtime.
See `runtime/launch.py` for when each hook runs.

Taught in: lab 09.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kernel_helpers.cleanup import Registry
from kernel_helpers.rootfs.mounts import MountStep
from kernel_helpers.spec import ContainerSpec
from kernel_helpers.state import ContainerState


@dataclass
class LaunchContext:
    """Shared by the stages of one container start."""

    spec: ContainerSpec
    state: ContainerState
    registry: Registry
    notes: dict[str, Any] = field(default_factory=dict)


class Stage:
    """One mechanism's part in starting a container; override what you need."""

    def prepare(self, ctx: LaunchContext) -> None:
        """Supervisor, before fork: create resources, registering their undo."""

    def join(self, ctx: LaunchContext, pid: int) -> None:
        """Supervisor: `pid` made its user ns but not the others yet (join cgroups here)."""

    def attach(self, ctx: LaunchContext, pid: int) -> None:
        """Supervisor: `pid` is in all its namespaces (move network devices in here)."""

    def root_mount(self, ctx: LaunchContext) -> MountStep | None:
        """The mount that makes the root (e.g. overlay); None keeps the bind of spec.rootfs."""
        return None

    def mounts(self, ctx: LaunchContext) -> list[MountStep]:
        """Extra mounts under spec.rootfs, made after /proc, /sys and /dev, before pivot_root."""
        return []

    def inside(self, ctx: LaunchContext) -> None:
        """Container process, after the root filesystem and before exec."""
