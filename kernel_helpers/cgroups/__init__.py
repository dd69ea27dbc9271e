"""cgroups: one API over cgroup v1 and v2, chosen by what the machine has.

    group = cgroups.create(limits=Limits(memory=parse_size("64M"), pids=20))
    group.add(pid); group.stats(); group.freeze(); group.thaw(); group.delete()

`plan(limits, version)` shows the exact file writes before they are made.
The names load their module on first use (`_lazy`, as `net` and `images` do):
`labkit exec` needs only the layout, not groups, devices or sampling.

Taught in: lab 05.
"""

from kernel_helpers._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("allow_only", "deny", "parse_device"), "kernel_helpers.cgroups.devices"),
    "plan": "kernel_helpers.cgroups.controllers",
    **dict.fromkeys(("Cgroup", "create", "open_group"), "kernel_helpers.cgroups.group"),
    **dict.fromkeys(("Layout", "Mode", "describe", "detect_layout"),
                    "kernel_helpers.cgroups.layout"),
    **dict.fromkeys(("DevicePolicy", "DeviceRule", "Limits", "Stats", "Throttle", "Write",
                     "shares_to_weight", "weight_to_shares"), "kernel_helpers.cgroups.limits"),
    **dict.fromkeys(("Sample", "cpu_percent", "record", "sample", "series"),
                    "kernel_helpers.cgroups.sampling"),
}
__getattr__, __dir__ = lazy_exports(_EXPORTS)
__all__ = sorted(_EXPORTS)  # noqa: PLE0605 - one table names the exports and their modules
