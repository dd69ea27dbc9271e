"""Read back, from the kernel, the device rules a process is really held to (`labkit audit`).

Apart from `devices` (the policy and its v1 plan) because it needs the layout,
and the layout needs the controller table, which lists `devices`.

Taught in: lab 08.
"""

from __future__ import annotations

from dataclasses import dataclass

from kernel_helpers import procfs
from kernel_helpers.cgroups import bpf_devices
from kernel_helpers.cgroups._read import read_text
from kernel_helpers.cgroups.devices import DEVICES_LIST
from kernel_helpers.cgroups.layout import detect_layout


@dataclass(frozen=True)
class InForce:
    """The device rules the kernel holds a process to, read back from its cgroups."""

    v1_list: tuple[str, ...] | None
    """v1 devices.list of its group (None: no v1 devices hierarchy)."""
    v2_programs: int
    """eBPF device programs in force on its v2 group (its own and inherited)."""

    @property
    def restricted(self) -> bool:
        """False when every device node may be opened."""
        return self.v2_programs > 0 or self.v1_list not in (None, ("a *:* rwm",))

    def describe(self) -> str:
        parts = []
        if self.v1_list is not None:
            parts.append("v1 devices.list: " + ("every device (a *:* rwm)"
                                                if self.v1_list == ("a *:* rwm",)
                                                else f"{len(self.v1_list)} allowed rules"))
        parts.append(f"v2: {self.v2_programs} eBPF device program(s)")
        return "; ".join(parts)


def in_force(pid: int) -> InForce:
    """Read, from the kernel, the device rules process `pid` is held to.

    Taught in: lab 08.
    """
    layout = detect_layout()
    v1_list: tuple[str, ...] | None = None
    v2_programs = 0
    for controllers, path in procfs.cgroups(pid):
        if "devices" in controllers.split(",") and "devices" in layout.v1:
            text = read_text(layout.v1["devices"] + path, DEVICES_LIST) or ""
            v1_list = tuple(text.splitlines())
        elif controllers == "" and layout.v2_root is not None:
            v2_programs = bpf_devices.attached_count(layout.v2_root + path, effective=True)
    return InForce(v1_list, v2_programs)
