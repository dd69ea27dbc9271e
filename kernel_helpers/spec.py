"""What a container is made of, as one frozen dataclass every face builds."""

from __future__ import annotations

from dataclasses import dataclass, field

from kernel_helpers.namespaces import Namespace

DEFAULT_NAMESPACES = frozenset({Namespace.PID, Namespace.UTS, Namespace.IPC, Namespace.MNT,
                                Namespace.NET, Namespace.CGROUP})
"""Docker's default set: everything but user and time."""

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class IdMap:
    """One line of /proc/PID/uid_map: ids inside, where they start outside, how many."""

    inside: int = 0
    outside: int = 100000
    count: int = 65536

    def line(self) -> str:
        return f"{self.inside} {self.outside} {self.count}\n"


@dataclass(frozen=True)
class ContainerSpec:
    """A container to start: command, root filesystem, namespaces and options."""

    command: tuple[str, ...]
    rootfs: str | None = None
    """Directory to pivot_root into; None keeps the host's filesystem (namespaces only)."""
    namespaces: frozenset[Namespace] = DEFAULT_NAMESPACES
    hostname: str | None = None
    domainname: str | None = None
    init: bool = False
    """Run a tiny init as PID 1 that reaps zombies and forwards signals (docker run --init)."""
    read_only: bool = False
    env: tuple[tuple[str, str], ...] = (("PATH", DEFAULT_PATH), ("TERM", "xterm"))
    cwd: str = "/"
    id_map: IdMap = field(default_factory=IdMap)
    """uid and gid mapping used when the user namespace is on."""
    time_offset: int = 0
    """Seconds added to CLOCK_MONOTONIC and CLOCK_BOOTTIME when the time namespace is on."""
    user: tuple[int, int] = (0, 0)
    """uid and gid the command runs as (inside the user namespace, if there is one)."""
    start_gate: str | None = None
    """A FIFO the container blocks on before exec until `labkit oci start` opens it (runc's exec.fifo)."""
    gid_map: IdMap | None = None
    """The gid mapping when it differs from `id_map` (an OCI config gives both)."""
    groups: tuple[int, ...] = ()
    """Supplementary groups of the command (OCI user.additionalGids); none by default."""
    umask: int | None = None
    """The command's umask; None keeps the runtime's."""
    join: tuple[tuple[Namespace, str], ...] = ()
    """Existing namespaces to enter by path (OCI namespaces[].path), instead of new ones."""
    sysctl: tuple[tuple[str, str], ...] = ()
    """Namespaced kernel settings, written from inside the container's namespaces."""
    standard_mounts: bool = True
    """The kit's /proc, /sys and /dev; False: only the mounts the stages list, in their order
    (an OCI config lists every mount itself)."""
    rootfs_propagation: str = "rprivate"
    """Propagation of the container's mounts (OCI linux.rootfsPropagation)."""

    def host_ids(self) -> tuple[int, int]:
        """The command's uid and gid as the host sees them (mapped, with a user namespace)."""
        uid, gid = self.user
        if Namespace.USER not in self.namespaces:
            return uid, gid
        gid_map = self.gid_map or self.id_map
        return (self.id_map.outside + uid - self.id_map.inside,
                gid_map.outside + gid - gid_map.inside)
