"""The mount namespace of a learner's sandbox: what it sees, what it cannot write.

Run once by the sandbox's PID 1, before any learner code exists, in a mount
namespace of its own (all changes stay in it and vanish with it):

- every mount private, so nothing propagates back to the host;
- a fresh /proc for the sandbox's pid namespace (the host's processes, and the
  host's namespace files under /proc/PID/ns, are gone from view);
- the cgroup hierarchies mounted again inside the sandbox's cgroup namespace,
  so the sandbox's own group is their root: what the kit makes in there
  (``labkit/lk…``) nests under it and dies with it; other hierarchies unmounted;
- private tmpfs on /tmp, the kit's state folder and its containers' folder, so
  the learner's containers, leases and records are the sandbox's alone;
- the kit's code and the venv read-only; the gradebook's folder, the reports
  and every submission's folder hidden under an empty read-only tmpfs.

What this is not: a wall against deliberate root code. Root in the sandbox (a
notebook answer, or a learner's runtime: both run as real root) can remount or
unmount these mounts in a mount namespace of its own, and then read or write the
host's files. The grader's guarantees do not rest on them:
the gradebook is written by the grader after the sandbox's cgroup is dead, from
rows held in its memory, and the grader checks the kit's files are unchanged
after every learner. Grade in a throwaway VM when the class may attack that.

Taught in: lab 00 (the instructor's side).
"""

from __future__ import annotations

import os
import subprocess

from kernel_helpers._sys import LINUX
from kernel_helpers._sys.linux import (MNT_DETACH, MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID,
                                       MS_PRIVATE, MS_RDONLY, MS_REC, MS_REMOUNT)
from kernel_helpers.images.store import containers_fs_root
from kernel_helpers.naming import STATE_ROOT

HOSTNAME = "labkit-grade"


def cgroup_mounts() -> list[tuple[str, str, str]]:
    """(mount point, fstype, super options) of every cgroup mount, in mountinfo order."""
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            dash = fields.index("-")
            fstype, options = fields[dash + 1], fields[dash + 3]
            if fstype in ("cgroup", "cgroup2"):
                found.append((fields[4], fstype, options))
    return found


def _remount_cgroups(keep: list[str]) -> None:
    """Unmount every cgroup hierarchy, then mount again (in the new cgroup namespace) those kept."""
    mounts = cgroup_mounts()
    for point, _, _ in sorted(mounts, key=lambda m: -len(m[0])):
        LINUX.umount2(point, MNT_DETACH)
    for point, fstype, options in mounts:
        if point in keep:
            data = ",".join(o for o in options.split(",") if o not in ("rw", "ro"))
            LINUX.mount("cgroup", point, fstype, MS_NOSUID | MS_NODEV | MS_NOEXEC, data or None)


def _tmpfs(path: str, mode: str = "1777", readonly: bool = False) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        flags = MS_NOSUID | MS_NODEV | (MS_RDONLY if readonly else 0)
        LINUX.mount("tmpfs", path, "tmpfs", flags, f"mode={mode},size=256m")


def _readonly(path: str) -> None:
    if os.path.isdir(path):
        LINUX.mount(path, path, None, MS_BIND | MS_REC)
        LINUX.mount(None, path, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def private_view(hide: list[str], keep_readonly: list[str], cgroup_points: list[str]) -> None:
    """Mount the sandbox's view of the machine (see the module docstring)."""
    LINUX.mount(None, "/", None, MS_REC | MS_PRIVATE)
    _remount_cgroups(cgroup_points)
    LINUX.umount2("/proc", MNT_DETACH)
    LINUX.mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for path in sorted(set(keep_readonly)):
        _readonly(path)
    for path in sorted(set(hide)):
        _tmpfs(path, mode="000", readonly=True)
    for path in ("/tmp", str(STATE_ROOT), str(containers_fs_root())):
        _tmpfs(path)
    LINUX.sethostname(HOSTNAME)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
