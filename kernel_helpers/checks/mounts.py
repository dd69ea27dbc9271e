"""Checks of lab 03: the mount namespace, propagation, and pivot_root versus chroot.

The check's own process first takes a mount namespace that is a *slave* of
the host's (nothing flows back to the host) and *shared* with its children.
So a learner mount that forgets `unshare` or `MS_PRIVATE` leaks into the
check's namespace, where the check sees it, and never onto the machine.

Taught in: lab 03.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Iterator

from kernel_helpers._sys import LINUX
from kernel_helpers._sys.linux import MNT_DETACH, MS_REC, MS_SHARED, MS_SLAVE
from kernel_helpers.checks._probe import mount_fstypes, ns_inode
from kernel_helpers.course.checks import call, check, fail
from kernel_helpers.namespaces import Namespace, unshare
from kernel_helpers.process import run_in_child
from kernel_helpers.rootfs.mounts import chroot_escape

MARKER = "labkit-host-only"
"""A file the check puts outside the container's root: it must not be reachable."""


@contextmanager
def _sandbox() -> Iterator[str]:
    """Own mount namespace, slave to the host, shared with children; a tmpfs to work in."""
    unshare({Namespace.MNT})
    LINUX.mount(None, "/", None, MS_REC | MS_SLAVE)
    LINUX.mount(None, "/", None, MS_REC | MS_SHARED)
    work = tempfile.mkdtemp(prefix="labkit-check-")
    try:
        LINUX.mount("tmpfs", work, "tmpfs", 0, "size=64m")
        LINUX.mount(None, work, None, MS_SHARED)
        yield work
    finally:
        if os.path.isdir(work):  # not if a wrong answer moved this process's root away
            LINUX.umount2(work, MNT_DETACH)
            os.rmdir(work)


def _root_moved(probe: str) -> None:
    if not os.path.exists(probe):
        raise fail("your pivot_root or chroot also moved the parent process's root",
                   "call unshare({Namespace.MNT}) before changing the root")


@check("mnt.private-tmpfs")
def private_tmpfs(answer: object) -> str:
    with _sandbox() as work:
        target = os.path.join(work, "scratch")
        os.mkdir(target)
        outer = ns_inode("self", "mnt")

        def inside() -> tuple[str | None, int]:
            call(answer, target)
            return mount_fstypes().get(target), ns_inode("self", "mnt")

        fstype, ns = run_in_child(inside, timeout=10)
        if ns == outer:
            raise fail("your process is still in its parent's mount namespace",
                       "call unshare({Namespace.MNT}) first")
        if fstype != "tmpfs":
            raise fail("there is no tmpfs mounted at the path inside your namespace",
                       "mount it with kernel.mount('tmpfs', path, 'tmpfs')")
        if target in mount_fstypes():
            raise fail("your tmpfs also appeared in the parent's mount namespace",
                       "make / private (MS_REC | MS_PRIVATE) before mounting: mounts "
                       "propagate between shared peers")
    return "the tmpfs exists in your mount namespace only"


def _escape_reaches(path: str) -> bool:
    """The classic chroot escape, then: is the host-only `path` reachable?"""
    chroot_escape()  # leaves the process at whatever root `..` reached
    return os.path.exists(path)


@check("mnt.pivot-root")
def pivot_root(answer: object) -> str:
    from kernel_helpers.rootfs.busybox import busybox_rootfs
    with _sandbox() as work:
        rootfs = os.path.join(work, "rootfs")
        shutil.copytree(busybox_rootfs(), rootfs, symlinks=True)
        with open(os.path.join(rootfs, "etc", "labkit-inside"), "w") as f:
            f.write("inside\n")
        host_only = os.path.join(work, MARKER)
        with open(host_only, "w") as f:
            f.write("outside\n")

        def inside() -> tuple[bool, bool, bool]:
            call(answer, rootfs)
            return (os.path.exists("/etc/labkit-inside"), os.path.exists(host_only),
                    _escape_reaches(host_only))

        in_root, sees_host, escaped = run_in_child(inside, timeout=20)
        _root_moved(host_only)
        if not in_root:
            raise fail("after your function, / is not the new root filesystem",
                       "pivot_root('.', '.') in the rootfs, then umount2('.', MNT_DETACH)")
        if sees_host:
            raise fail("the host's files are still reachable by their old path",
                       "unmount the old root with umount2('.', MNT_DETACH) after pivot_root")
        if escaped:
            raise fail("root escaped to the host's files with the chroot trick",
                       "use pivot_root in a new mount namespace and detach the old root, not chroot")
        if mount_fstypes().get(rootfs):
            raise fail("your bind mount of the rootfs leaked into the parent's namespace",
                       "unshare the mount namespace and make / private before mounting")
    return "your process lives in the new root, with no way back to the host's files"
