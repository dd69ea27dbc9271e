"""Capabilities: root's power cut into ~41 pieces, and the five sets that hold them.

- bounding: the most any exec can ever give this process tree; dropping is for good.
- permitted: what the process may switch on; effective: what the kernel checks now.
- inheritable and ambient: what survives exec for non-root programs.

A container keeps a short list (Docker's 14) in bounding, permitted and
effective, and nothing in inheritable or ambient, so root inside cannot load
modules, mount, set the clock or read the kernel log even before seccomp.

Taught in: lab 08.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers.errors import InvalidValue

CAPS: tuple[str, ...] = (
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
    "SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN",
    "NET_RAW", "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE",
    "SYS_PACCT", "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME",
    "SYS_TTY_CONFIG", "MKNOD", "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP",
    "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ",
    "PERFMON", "BPF", "CHECKPOINT_RESTORE")
"""The one table: a capability's number is its index (include/uapi/linux/capability.h)."""

CAP_NUMBER = {name: number for number, name in enumerate(CAPS)}

DOCKER_DEFAULT: frozenset[str] = frozenset({
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"})
"""What `docker run` keeps (moby's oci/caps/defaults.go); `capsh --decode=a80425fb`."""

RUNC_SPEC_DEFAULT: frozenset[str] = frozenset({"AUDIT_WRITE", "KILL", "NET_BIND_SERVICE"})
"""What a fresh `runc spec` config.json keeps."""

PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
_STATUS_FIELDS = {"CapInh": "inheritable", "CapPrm": "permitted", "CapEff": "effective",
                  "CapBnd": "bounding", "CapAmb": "ambient"}


def last_cap(proc: str = "/proc") -> int:
    """The highest capability number this kernel knows."""
    return int(Path(proc, "sys/kernel/cap_last_cap").read_text())


def parse_cap(name: str) -> str:
    """'cap_sys_admin', 'SYS_ADMIN' or 'sys_admin' -> 'SYS_ADMIN' (Docker's --cap-add spelling)."""
    upper = name.strip().upper()
    upper = upper[4:] if upper.startswith("CAP_") else upper
    if upper not in CAP_NUMBER:
        raise InvalidValue(f"capability '{name}'", "is not a Linux capability",
                           "use a name like NET_ADMIN or SYS_TIME (see `man 7 capabilities`)")
    return upper


def to_mask(names: frozenset[str] | set[str]) -> int:
    """Capability names -> the bit mask the kernel and /proc/PID/status use."""
    mask = 0
    for name in names:
        mask |= 1 << CAP_NUMBER[name]
    return mask


def from_mask(mask: int) -> frozenset[str]:
    """A bit mask -> capability names (bits this table does not know are named CAP_<n>)."""
    return frozenset(CAPS[bit] if bit < len(CAPS) else f"CAP_{bit}"
                     for bit in range(mask.bit_length()) if mask >> bit & 1)


@dataclass(frozen=True)
class CapSets:
    """The five capability sets of one process, as names."""

    effective: frozenset[str]
    permitted: frozenset[str]
    inheritable: frozenset[str]
    bounding: frozenset[str]
    ambient: frozenset[str]


def read_sets(pid: int | str = "self", proc: str = "/proc") -> CapSets:
    """Read the five sets from /proc/PID/status (what `grep Cap /proc/PID/status` shows)."""
    found: dict[str, frozenset[str]] = {}
    for line in Path(proc, str(pid), "status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in _STATUS_FIELDS:
            found[_STATUS_FIELDS[key]] = from_mask(int(value.strip(), 16))
    return CapSets(**found)


PR_SET_KEEPCAPS = 8
PR_CAP_AMBIENT_RAISE = 2


def keep_only(keep: frozenset[str]) -> CapSets:
    """The sets `labkit run` gives: `keep` in bounding, permitted and effective; none inheritable."""
    return CapSets(effective=keep, permitted=keep, inheritable=frozenset(), bounding=keep,
                   ambient=frozenset())


def drop_to(keep: frozenset[str], kernel: Kernel = LINUX) -> None:
    """Leave the calling process with only `keep` (and what it already had of it)."""
    limit_bounding(keep, kernel)
    set_sets(keep_only(keep), kernel)


def limit_bounding(keep: frozenset[str], kernel: Kernel = LINUX) -> None:
    """Cut the bounding set to `keep`, for good, and keep permitted across a switch of user.

    First, while CAP_SETPCAP is still effective (PR_CAPBSET_DROP needs it).
    PR_SET_KEEPCAPS lets permitted survive a setuid from root to another user,
    so `set_sets` can still hand that user its capabilities (runc's order:
    bounding, keepcaps, setresuid, then the other sets).
    """
    for number in range(last_cap() + 1):
        if number >= len(CAPS) or CAPS[number] not in keep:
            kernel.prctl(PR_CAPBSET_DROP, number)
    kernel.prctl(PR_SET_KEEPCAPS, 1)


def set_sets(sets: CapSets, kernel: Kernel = LINUX) -> None:
    """Set effective, permitted and inheritable with capset(), then raise the ambient set.

    Ambient goes last: the kernel clears it on a switch to a non-root user and
    accepts only capabilities both permitted and inheritable; one that is not
    both is left out, as runc leaves it (`runc spec` lists ambient capabilities
    with an empty inheritable set). After exec, root's
    permitted and effective sets become the bounding set (plus inheritable); a
    non-root command keeps exactly its ambient set.
    """
    kernel.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    _, permitted, _ = kernel.capget()
    missing = sets.inheritable - from_mask(permitted)
    if missing:  # capset(2) would refuse them with a bare EPERM
        raise InvalidValue(f"inheritable capabilities {', '.join(sorted(missing))}",
                           "are not held by this runtime (its own bounding set lacks them), "
                           "so it cannot pass them on", "leave them out of the config")
    allowed = permitted & to_mask(sets.permitted)
    kernel.capset(to_mask(sets.effective) & allowed, allowed, to_mask(sets.inheritable))
    raisable = from_mask(allowed & to_mask(sets.inheritable)) & sets.ambient
    for name in sorted(raisable, key=CAP_NUMBER.__getitem__):
        kernel.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NUMBER[name])
