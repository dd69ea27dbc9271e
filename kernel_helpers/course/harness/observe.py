"""What the judge reads about a container, all of it from the kernel: /proc from the host side,
and the mount table of the container's namespace seen from that namespace's own root.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from kernel_helpers import procfs
from kernel_helpers._sys import LINUX
from kernel_helpers.namespaces import Namespace, namespaces_of
from kernel_helpers.process import run_in_child

DEVICES = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9),
           "tty": (5, 0)}
"""The minimal /dev a container gets (runc's default device list), as (major, minor)."""


def read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def status(pid: int | str) -> dict[str, str]:
    """/proc/PID/status, or {} once the process is gone."""
    try:
        return procfs.status(pid)
    except OSError:
        return {}


def _ns_mountinfo(pid: int) -> str:
    """In a forked child: join `pid`'s mount namespace (setns puts us at its root) and read it."""
    me = os.open(f"/proc/{os.getpid()}", os.O_RDONLY | os.O_DIRECTORY)
    ns = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
    LINUX.setns(ns, Namespace.MNT.flag)
    fd = os.open("mountinfo", os.O_RDONLY, dir_fd=me)
    with os.fdopen(fd, encoding="utf-8") as f:
        return f.read()


def namespace_mounts(pid: int) -> list[procfs.Mount]:
    """The whole mount table of `pid`'s mount namespace, from the namespace's root.

    /proc/PID/mountinfo only shows mounts reachable from PID's root: after a chroot
    the host's mounts are hidden there but still in the namespace. This view shows them.
    """
    return procfs.parse_mountinfo(run_in_child(_ns_mountinfo, pid))


@dataclass
class Held:
    """The container while the probe holds it: read from the host."""

    pid: int
    status: dict[str, str]
    ns: dict[str, int]
    mounts: list[procfs.Mount]
    """/proc/PID/mountinfo: the table as the container sees it (relative to its root)."""
    ns_mounts: list[procfs.Mount]
    root: tuple[int, int] | None
    """(st_dev, st_ino) of the container's root directory."""
    proc_pids: list[int] = field(default_factory=list)
    """Process directories in the container's /proc."""
    proc_one: dict[str, str] = field(default_factory=dict)
    """/proc/1/status as the container's /proc shows it."""
    devices: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    """The container's /dev/NAME: (major, minor) of a char device, None if not one."""
    host_mounts: int = 0


def hold(pid: int, host_mounts: int) -> Held:
    root = f"/proc/{pid}/root"
    try:
        st = os.stat(root)
        root_id: tuple[int, int] | None = (st.st_dev, st.st_ino)
    except OSError:
        root_id = None
    held = Held(pid, status(pid), {k: v.inode for k, v in namespaces_of(pid).items()},
                procfs.parse_mountinfo(read(f"/proc/{pid}/mountinfo") or ""),
                namespace_mounts(pid), root_id,
                host_mounts=host_mounts)
    try:
        held.proc_pids = sorted(int(d) for d in os.listdir(f"{root}/proc") if d.isdigit())
    except OSError:
        pass
    held.proc_one = status(f"{pid}/root/proc/1")  # /proc/1 of the container's own /proc
    for name in DEVICES:
        try:
            st = os.lstat(f"{root}/dev/{name}")
            held.devices[name] = ((os.major(st.st_rdev), os.minor(st.st_rdev))
                                  if stat.S_ISCHR(st.st_mode) else None)
        except OSError:
            held.devices[name] = None
    return held
