"""Namespaced kernel settings (sysctls), as an OCI config's linux.sysctl sets them.

/proc/sys/net/* answers for the net namespace of the process that reads or
writes it, kernel.shm*/msg*/sem for its IPC namespace and kernel.hostname for
its UTS namespace, whichever procfs mount the path goes through. So the
container writes its own, from inside its namespaces and before its root
filesystem (and a read-only /proc/sys) is in place, as runc does.

Taught in: lab 09.
"""

from __future__ import annotations

import re

from kernel_helpers.errors import InvalidValue

PROC_SYS = "/proc/sys"
_KEY = re.compile(r"^[A-Za-z0-9_-]+([./][A-Za-z0-9_-]+)*$")


def sysctl_path(key: str) -> str:
    """'net.ipv4.ip_forward' (or 'net/ipv4/ip_forward') -> /proc/sys/net/ipv4/ip_forward."""
    if not _KEY.match(key):
        raise InvalidValue(f"sysctl '{key}'", "is not a sysctl name",
                           "use a dotted name such as net.ipv4.ip_forward")
    return f"{PROC_SYS}/{key.replace('.', '/')}"


def write_sysctls(settings: tuple[tuple[str, str], ...]) -> None:
    """Write each setting in the calling process's namespaces."""
    for key, value in settings:
        path = sysctl_path(key)
        try:
            with open(path, "w") as f:
                f.write(value)
        except FileNotFoundError:
            raise InvalidValue(f"sysctl '{key}'", "does not exist on this kernel",
                               "check the name with `sysctl -a`") from None
        except OSError as err:
            raise InvalidValue(f"sysctl '{key}'", f"cannot be set to '{value}' in the "
                               f"container ({err.strerror})",
                               "set only sysctls of the container's own namespaces "
                               "(net.*, kernel.shm*, kernel.msg*, kernel.sem, kernel.hostname)") from None
