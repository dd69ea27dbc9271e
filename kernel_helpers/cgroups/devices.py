"""devices: which device nodes the group may open (read/write) or create (mknod).

v1 keeps a default (allow or deny all) plus a list of exceptions, written as
"TYPE MAJOR:MINOR ACCESS" to devices.allow / devices.deny. v2 has no files for
this: an eBPF program attached to the group decides each open (see
`bpf_devices`), built from the same `DevicePolicy`.

Taught in: lab 08.
"""

from __future__ import annotations

import os
import re
import stat

from kernel_helpers.cgroups.limits import DevicePolicy, DeviceRule, Limits, Write
from kernel_helpers.errors import InvalidValue

DEVICES_ALLOW = "devices.allow"
DEVICES_DENY = "devices.deny"
_RULE = re.compile(r"^([abc])(?:\s+(\d+|\*):(\d+|\*))?(?:\s+([rwm]{1,3}))?$")


def plan(limits: Limits, version: int) -> list[Write]:
    """v1: the default first (it clears the exception list), then each exception.

    v2 returns no writes: `Cgroup.apply` loads the eBPF program instead.
    """
    policy = limits.devices
    if policy is None or version == 2:
        return []
    default, exception = ((DEVICES_ALLOW, DEVICES_DENY) if policy.default_allow
                          else (DEVICES_DENY, DEVICES_ALLOW))
    return [Write("devices", default, "a")] + [
        Write("devices", exception, str(rule)) for rule in policy.exceptions]


def parse_device(text: str, what: str = "device") -> DeviceRule:
    """A rule from a device path ("/dev/sda") or the v1 form ("c 1:3 rw", "b 8:*").

    Taught in: lab 08.
    """
    word = text.strip()
    if word.startswith("/"):
        try:
            info = os.stat(word)
        except OSError:
            info = None
        if info is None or not (stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)):
            raise InvalidValue(f"{what} '{text}'", "is not a device node on this machine",
                               "give a path such as /dev/sda, or a rule such as 'c 1:3 rwm'")
        kind = "c" if stat.S_ISCHR(info.st_mode) else "b"
        return DeviceRule(kind, os.major(info.st_rdev), os.minor(info.st_rdev), "rwm")
    match = _RULE.match(word)
    if not match:
        raise InvalidValue(f"{what} '{text}'", "is not a device path or rule",
                           "use a path such as /dev/sda or a rule such as 'c 1:3 rwm'")
    kind, major, minor, access = match.groups()
    def number(n: str | None) -> int | None:
        return None if n in (None, "*") else int(str(n))
    return DeviceRule(kind, number(major), number(minor), access or "rwm")


def deny(*rules: DeviceRule) -> DevicePolicy:
    """Allow every device except `rules` (what `labkit run --device-deny` builds)."""
    return DevicePolicy(default_allow=True, exceptions=tuple(rules))


def allow_only(*rules: DeviceRule) -> DevicePolicy:
    """Deny every device except `rules` (Docker's default shape)."""
    return DevicePolicy(default_allow=False, exceptions=tuple(rules))
