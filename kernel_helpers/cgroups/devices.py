"""devices: which device nodes the group may open (read/write) or create (mknod).

v1 keeps a default (allow or deny all) plus a list of exceptions, written as
"TYPE MAJOR:MINOR ACCESS" to devices.allow / devices.deny. v2 has no files for
this: an eBPF program attached to the group decides each open (see
`bpf_devices`), built from the same `DevicePolicy`.

Every `labkit run` container gets `DOCKER_DEFAULT` (deny all but a short list,
as Docker and runc do) unless it is `--privileged`; `readback.in_force(pid)` reads
back from the kernel what a process is really held to, for `labkit audit`.

Taught in: lab 08.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import replace

from kernel_helpers.cgroups.limits import DevicePolicy, DeviceRule, Limits, Write
from kernel_helpers.errors import InvalidValue

DEVICES_ALLOW = "devices.allow"
DEVICES_DENY = "devices.deny"
DEVICES_LIST = "devices.list"
"""v1: the exceptions in force, or "a *:* rwm" when every device is allowed."""
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


DOCKER_DEFAULT = allow_only(
    DeviceRule("c", None, None, "m"), DeviceRule("b", None, None, "m"),  # mknod any node
    DeviceRule("c", 1, 3), DeviceRule("c", 1, 5), DeviceRule("c", 1, 7),  # null, zero, full
    DeviceRule("c", 1, 8), DeviceRule("c", 1, 9),  # random, urandom
    DeviceRule("c", 5, 0), DeviceRule("c", 5, 2), DeviceRule("c", 136, None),  # tty, ptmx, pts
    DeviceRule("c", 10, 200))  # tun (runc dropped it in 1.2.0 and put it back in 1.2.4)
"""Docker's default: no device but these may be read or written (runc's AllowedDevices).

Making any node is allowed, opening it is not: the wall is at open(2), so an
image may carry device nodes without the container reaching the devices.
"""


def _covers(wide: DeviceRule, narrow: DeviceRule) -> bool:
    return (wide.type in ("a", narrow.type) and wide.major in (None, narrow.major)
            and wide.minor in (None, narrow.minor))


def without(policy: DevicePolicy, denied: tuple[DeviceRule, ...]) -> DevicePolicy:
    """`policy` with `denied` taken away: v1's devices.deny on an allow list, for v1 and v2.

    As in v1, a deny rule takes its access away from the allow rules it covers;
    a wider allow rule (mknod of any node, the pts range) stays as it is.
    """
    if policy.default_allow:
        return replace(policy, exceptions=policy.exceptions + denied)
    kept = []
    for rule in policy.exceptions:
        access = "".join(c for c in rule.access if not any(
            _covers(d, rule) and c in d.access for d in denied))
        if access:
            kept.append(replace(rule, access=access))
    return replace(policy, exceptions=tuple(kept))
