"""cgroups: one API over cgroup v1 and v2, chosen by what the machine has.

    group = cgroups.create(limits=Limits(memory=parse_size("64M"), pids=20))
    group.add(pid); group.stats(); group.freeze(); group.thaw(); group.delete()

`plan(limits, version)` shows the exact file writes before they are made.

Taught in: lab 05.
"""

from kernel_helpers.cgroups.devices import allow_only, deny, parse_device
from kernel_helpers.cgroups.controllers import plan
from kernel_helpers.cgroups.group import Cgroup, create, open_group
from kernel_helpers.cgroups.layout import Layout, Mode, describe, detect_layout
from kernel_helpers.cgroups.limits import (DevicePolicy, DeviceRule, Limits, Stats, Throttle,
                                           Write, shares_to_weight, weight_to_shares)
from kernel_helpers.cgroups.sampling import Sample, cpu_percent, record, sample, series

__all__ = ["Cgroup", "DevicePolicy", "DeviceRule", "Layout", "Limits", "Mode", "Sample", "Stats",
           "Throttle", "Write", "allow_only", "cpu_percent", "create", "deny", "describe",
           "detect_layout", "open_group", "parse_device", "plan", "record", "sample", "series",
           "shares_to_weight", "weight_to_shares"]
