"""The container's mounts, planned as data and applied in its own mount namespace.

Plan first (a pure function returning `MountStep`s a lab can print), then
apply. All of it happens inside the container's new mount namespace, so none
of these mounts ever shows up in the host's /proc/self/mountinfo, and they all
vanish when the namespace's last process exits.

Every path under the new root is looked up as the container will see it:
openat2(RESOLVE_IN_ROOT) resolves the image's symlinks against the container's
root, never the host's, and missing parts are made relative to a descriptor
of their parent. So an image whose /etc/hosts points at a host folder gets
the kit's hosts file mounted at that folder *inside the container*, and the
host folder is never touched (runc's securejoin does the same). /proc, /sys
and /dev must be real directories, as runc requires.

Taught in: lab 03.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path

from kernel_helpers import procfs
from kernel_helpers import naming
from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers._sys.linux import (MNT_DETACH, MS_BIND, MS_NOATIME, MS_NODEV,
                                       MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_PRIVATE,
                                       MS_RDONLY, MS_REC, MS_RELATIME, MS_REMOUNT, MS_SHARED,
                                       MS_SLAVE, MS_UNBINDABLE,
                                       RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS,
                                       RESOLVE_NO_SYMLINKS, openat2)
from kernel_helpers.cleanup import Leftover
from kernel_helpers.errors import InvalidValue, LabkitError, NotFound

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
"""Device nodes a container gets: bind-mounted from the host, which also works in a user namespace."""

LOCKABLE_FLAGS = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
                  (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME),
                  (os.ST_RELATIME, MS_RELATIME))
"""statvfs(3) bit -> mount(2) flag, for the per-mount flags a user namespace locks."""

DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}
KERNEL_DIRS = ("proc", "sys", "dev")
"""Mount points of kernel filesystems: never reached through a symlink (runc refuses too)."""
MAX_LINKS = 40
"""Symlinks followed while making a path, as the kernel's own limit (ELOOP)."""
PROPAGATION = {"private": MS_PRIVATE, "rprivate": MS_PRIVATE | MS_REC, "shared": MS_SHARED,
               "rshared": MS_SHARED | MS_REC, "slave": MS_SLAVE, "rslave": MS_SLAVE | MS_REC,
               "unbindable": MS_UNBINDABLE, "runbindable": MS_UNBINDABLE | MS_REC}
"""Mount propagation by name (mount(8), OCI rootfsPropagation) -> mount(2) flags."""
BIND_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
"""Flags a bind mount ignores until it is remounted."""


@dataclass(frozen=True)
class MountStep:
    """One mount(2) call: what, where, which filesystem, flags and options."""

    source: str | None
    target: str
    fstype: str | None
    flags: int = 0
    data: str | None = None
    make_file: bool = False
    """Create the target as an empty file (bind-mounting a device node) rather than a dir."""

    def __str__(self) -> str:
        what = self.fstype or f"bind {self.source}"
        ro = " ro" if self.flags & MS_RDONLY else ""
        return f"mount {what} on {self.target}{ro}" + (f" ({self.data})" if self.data else "")


@dataclass(frozen=True)
class MountPlan:
    """Everything needed to turn a directory into a container's root."""

    rootfs: str
    steps: tuple[MountStep, ...]
    read_only: bool = False
    links: dict[str, str] = field(default_factory=dict)
    propagation: int = MS_PRIVATE | MS_REC
    """Propagation of the container's mounts, set on its / after pivot_root."""
    pivot: bool = True
    """pivot_root in a mount namespace of its own; False: chroot in the runtime's (OCI
    configs without a mount namespace), the mounts under the root bind made private."""


def plan_mounts(rootfs: str | Path, *, read_only: bool = False, new_net: bool = True,
                new_pid: bool = True, root: MountStep | None = None,
                extra: list[MountStep] | tuple[MountStep, ...] = (), standard: bool = True,
                propagation: str = "rprivate", pivot: bool = True) -> MountPlan:
    """Plan the mounts for `rootfs`: itself (bind), /proc, /sys (ro), a minimal /dev.

    /sys can only be mounted fresh in a net namespace the process owns; otherwise
    the host's is bind-mounted read-only. `root` replaces the bind of rootfs onto
    itself (an overlay mount, say); `extra` mounts come last, before pivot_root.
    Without `standard`, only `extra` is mounted, in its order (an OCI config lists
    every mount), and a tmpfs among them at /dev gets the device nodes and links.
    The whole tree is made private first, so no mount reaches the host;
    `propagation` is set on the new / once inside.
    """
    if propagation not in PROPAGATION:
        raise InvalidValue(f"rootfs propagation '{propagation}'", "is not a propagation type",
                           f"use one of: {', '.join(PROPAGATION)}")
    if not standard:
        return _plan_listed(rootfs, root, list(extra), read_only, PROPAGATION[propagation], pivot)
    root_dir = str(Path(rootfs).resolve())
    if root is None and not Path(root_dir, "bin").is_dir() and not Path(root_dir, "usr").is_dir():
        raise NotFound(f"rootfs '{rootfs}'", "is not a root filesystem (no /bin or /usr in it)",
                       "use --rootfs busybox, or a directory holding an unpacked image")
    if not new_pid:
        raise InvalidValue("rootfs without a pid namespace",
                           "a fresh /proc would show the host's processes",
                           "add the pid namespace, e.g. --ns pid,mnt,uts")
    dev = f"{root_dir}/dev"
    steps = [
        MountStep(None, "/", None, MS_REC | MS_PRIVATE),
        root or MountStep(root_dir, root_dir, None, MS_BIND | MS_REC),
        MountStep("proc", f"{root_dir}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC),
        (MountStep("sysfs", f"{root_dir}/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY)
         if new_net else
         MountStep("/sys", f"{root_dir}/sys", None, MS_BIND | MS_REC | MS_RDONLY)),
        MountStep("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=755,size=65536k"),
        *(MountStep(f"/dev/{name}", f"{dev}/{name}", None, MS_BIND, make_file=True)
          for name in DEVICES),
        MountStep("devpts", f"{dev}/pts", "devpts", MS_NOSUID | MS_NOEXEC,
                  "newinstance,ptmxmode=0666,mode=0620"),
        MountStep("shm", f"{dev}/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                  "mode=1777,size=65536k"),
        *extra,
    ]
    return MountPlan(root_dir, tuple(steps), read_only, dict(DEV_LINKS), PROPAGATION[propagation])


def _plan_listed(rootfs: str | Path, root: MountStep | None, extra: list[MountStep],
                 read_only: bool, propagation: int, pivot: bool) -> MountPlan:
    root_dir = str(Path(rootfs).resolve())
    dev = f"{root_dir}/dev"
    dev_tmpfs = any(step.target == dev and step.fstype == "tmpfs" for step in extra)
    devices = [MountStep(f"/dev/{name}", f"{dev}/{name}", None, MS_BIND, make_file=True)
               for name in DEVICES] if dev_tmpfs else []
    bind = root or MountStep(root_dir, root_dir, None, MS_BIND | MS_REC)
    # In the runtime's own mount namespace (no pivot), only the new root's tree is made private.
    private = [MountStep(None, "/", None, MS_REC | MS_PRIVATE), bind] if pivot else [
        bind, MountStep(None, root_dir, None, MS_REC | MS_PRIVATE)]
    return MountPlan(root_dir, tuple([*private, *extra, *devices]), read_only,
                     dict(DEV_LINKS) if dev_tmpfs else {}, propagation, pivot)


def locked_flags(path: str) -> int:
    """The nosuid/nodev/noexec/atime flags of the mount at `path`, as mount(2) flags.

    A mount copied into a user namespace's mount namespace keeps these flags
    locked (mount_namespaces(7)): a remount that leaves one out would clear it
    and is refused with EPERM. systemd mounts /sys and /run nosuid,nodev(,noexec),
    so every bind remount repeats them, as runc does.
    """
    f_flag = os.statvfs(path).f_flag
    return sum(ms for st, ms in LOCKABLE_FLAGS if f_flag & st)


def remount_bind(target: str, flags: int, kernel: Kernel = LINUX) -> None:
    """Change a bind mount's per-mount flags, keeping those its source had."""
    kernel.mount(None, target, None, MS_REMOUNT | MS_BIND | flags | locked_flags(target))


def _inside(path: str | None, root: str) -> bool:
    return path is not None and path.startswith(root.rstrip("/") + "/")


def resolve_in_root(root: str, path: str, make: str | None = None, links: bool = True) -> str:
    """The host path of `path` (a path under `root`) as the container resolves it.

    Symlinks resolve against `root`, never the host's /; with `make` ("dir" or
    "file") missing parts are made, each relative to its parent's descriptor,
    and a dangling symlink is followed (inside the root) to where it points.
    With `links` False any symlink on the way is refused. The answer has no
    symlink in it, so mount(2) on it follows nothing.
    """
    rel = path[len(root.rstrip("/")) + 1:]
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = _open_in_root(root_fd, rel, make, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS |
                           (0 if links else RESOLVE_NO_SYMLINKS), 0)
        try:
            return os.readlink(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
    except OSError as err:
        if err.errno != errno.ELOOP:
            raise
        raise LabkitError(f"image path '/{rel}'", "leads through a symlink where a real "
                          "directory is needed (or through too many symlinks)",
                          "use an image whose /proc, /sys and /dev are plain directories") from err
    finally:
        os.close(root_fd)


def _open_in_root(root_fd: int, rel: str, make: str | None, resolve: int, links: int) -> int:
    """An O_PATH descriptor of `rel` under `root_fd`; see `resolve_in_root`."""
    try:
        return openat2(root_fd, rel or ".", os.O_PATH | os.O_CLOEXEC, resolve)
    except FileNotFoundError:
        if make is None:
            raise
    head, name = posixpath.split(rel)
    parent = _open_in_root(root_fd, head, "dir", resolve, links) if head else os.dup(root_fd)
    try:
        try:
            if make == "dir":
                os.mkdir(name, 0o755, dir_fd=parent)
            else:
                os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW |
                                 os.O_CLOEXEC, 0o644, dir_fd=parent))
        except FileExistsError:  # a dangling symlink: follow it, inside the root
            if links >= MAX_LINKS or resolve & RESOLVE_NO_SYMLINKS:
                raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), rel) from None
            target = os.readlink(name, dir_fd=parent)
            here = os.readlink(f"/proc/self/fd/{parent}")[len(os.readlink(
                f"/proc/self/fd/{root_fd}")):]
            joined = posixpath.normpath(posixpath.join("/", here, target)).lstrip("/")
            return _open_in_root(root_fd, joined, make, resolve, links + 1)
        return os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
    finally:
        os.close(parent)


def apply_step(step: MountStep, kernel: Kernel = LINUX, root: str | None = None) -> None:
    """Make the target if needed, mount, and re-mount read-only where asked (bind needs it).

    With `root`, paths under it are resolved as the container sees them
    (`resolve_in_root`): an image's symlinks cannot send a mount, or a file
    the kit makes, out to the host.
    """
    if root is not None and _inside(step.target, root):
        kernel_dir = step.target in {f"{root}/{name}" for name in KERNEL_DIRS}
        step = dataclasses.replace(
            step, target=resolve_in_root(root, step.target, "file" if step.make_file else "dir",
                                         links=not kernel_dir),
            source=(resolve_in_root(root, step.source) if step.source is not None and
                    _inside(step.source, root) else step.source))
    elif step.target != "/":
        if step.make_file:
            if not os.path.lexists(step.target):  # touch() of a /proc file fails in a user ns
                Path(step.target).touch()
        else:
            os.makedirs(step.target, exist_ok=True)
    if step.flags & MS_REMOUNT and step.flags & MS_BIND:
        remount_bind(step.target, step.flags & ~(MS_REMOUNT | MS_BIND), kernel)
        return
    kernel.mount(step.source, step.target, step.fstype, step.flags, step.data)
    if step.flags & MS_BIND and step.flags & BIND_FLAGS:
        # A bind mount ignores MS_RDONLY (and nosuid, nodev, noexec) until it is remounted.
        remount_bind(step.target, step.flags & BIND_FLAGS, kernel)


def enter_rootfs(plan: MountPlan, kernel: Kernel = LINUX) -> None:
    """Apply the plan, then pivot_root into it and detach the old root.

    pivot_root(".", ".") stacks the old root under the new one; unmounting it
    with MNT_DETACH leaves no path back to the host's files (unlike chroot).
    """
    for step in plan.steps:
        apply_step(step, kernel, plan.rootfs)
    dev = resolve_in_root(plan.rootfs, f"{plan.rootfs}/dev", links=False)  # the kit's tmpfs
    for name, target in plan.links.items():
        os.symlink(target, f"{dev}/{name}")
    os.chdir(plan.rootfs)
    if not plan.pivot:
        kernel.chroot(".")
        os.chdir("/")
        if plan.read_only:
            remount_bind("/", MS_RDONLY | MS_REC, kernel)
        return
    kernel.pivot_root(".", ".")
    kernel.umount2(".", MNT_DETACH)
    os.chdir("/")
    if plan.propagation != MS_PRIVATE | MS_REC:
        kernel.mount(None, "/", None, plan.propagation)
    if plan.read_only:
        remount_bind("/", MS_RDONLY | MS_REC, kernel)


def chroot_escape(kernel: Kernel = LINUX) -> str:
    """The classic chroot escape: chroot deeper, then walk `..` past the old root.

    Returns the contents of /etc/hostname of whatever root was reached, so a
    lab (and a test) can show that chroot alone is escapable by root while
    pivot_root in a mount namespace is not. Run it in a child process.
    """
    os.makedirs("/.lk-escape", exist_ok=True)
    kernel.chroot("/.lk-escape")  # cwd stays outside the new root...
    for _ in range(64):
        os.chdir("..")                 # ...so `..` climbs to the real /
    kernel.chroot(".")
    try:
        return Path("/etc/hostname").read_text().strip()
    except FileNotFoundError:
        return ""


def _our_roots() -> tuple[str, ...]:
    return (str(naming.STATE_ROOT) + "/", str(naming.DATA_ROOT) + "/")


def leftovers() -> list[Leftover]:
    """Mounts in the host's namespace under the kit's state or data directories."""
    items = [Leftover("mount", mount.target, "/proc/self/mountinfo") for mount in procfs.mounts()
             if mount.target.startswith(_our_roots())]
    return sorted(items, key=lambda item: -len(item.name))  # deepest first


def remove(item: Leftover, kernel: Kernel = LINUX) -> None:
    """Lazily unmount a leftover mount."""
    kernel.umount2(item.name, MNT_DETACH)
