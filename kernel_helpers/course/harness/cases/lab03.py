"""Lab 03's cases: a private mount namespace, pivot_root with no old root, /proc, /sys, /dev."""

from __future__ import annotations

from kernel_helpers.course.harness.cases.base import Case, Fail
from kernel_helpers.course.harness.cases.common import (SHARED_MOUNT_NS, no_leftovers,
                                                       shares_namespace, started)
from kernel_helpers.course.harness.judge import Run
from kernel_helpers.course.harness.observe import DEVICES


def host_mounts_unchanged(run: Run) -> Fail | None:
    if run.during not in (None, run.before) or run.after != run.before:
        return Fail("your mounts appeared in the host's mount table: mount propagation carried "
                    "them out of the container's namespace",
                    "right after unshare(CLONE_NEWNS), make every mount private: "
                    "lk.mount(None, '/', None, lk.MS_REC | lk.MS_PRIVATE)")
    return None


def own_mount_namespace(run: Run) -> Fail | None:
    if shares_namespace(run, "mnt"):
        return SHARED_MOUNT_NS
    return None


def _root_layout(run: Run) -> str:
    """How the container's namespace holds its root: pivoted, stacked, chroot or missing.

    Two views: the namespace's own table (from its root: setns follows to the topmost
    mount at /) and the container's (from its root directory). After pivot_root the
    namespace's / is the rootfs; with the old root left on top, the namespace shows only
    the host's root and the container still sees the rootfs at its /; after chroot the
    namespace's / is still the host's, with the rootfs (if bound) at its host path.
    """
    held = run.held
    assert held is not None
    rootfs, host = (run.scratch_dev, run.rootfs_rel), run.host_root
    ns_root = {(m.dev, m.root) for m in held.ns_mounts if m.target == "/"}
    ns_all = {(m.dev, m.root) for m in held.ns_mounts}
    mine_root = {(m.dev, m.root) for m in held.mounts if m.target == "/"}
    if rootfs in ns_root:
        return "pivoted"
    if host in ns_root and rootfs not in ns_all and rootfs in mine_root:
        return "stacked"
    if host in ns_root:
        return "chroot"
    return "missing"


def pivoted(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    layout = _root_layout(run)
    if layout == "chroot":
        return Fail("the container's mount namespace still has the host's root at /: chroot "
                    "only changes where path lookups start, and root can climb back out",
                    "use pivot_root: bind-mount the rootfs onto itself, chdir into it, "
                    "lk.pivot_root('.', '.'), then detach the old root")
    if layout == "missing":
        return Fail("spec.rootfs is not mounted at / of the container's namespace",
                    "bind-mount it onto itself (MS_BIND | MS_REC) and pivot_root into it")
    if held.root != run.rootfs_id:
        return Fail("the container's root directory is not spec.rootfs",
                    "after pivot_root, chdir('/') so the process stands in the new root")
    return None


def no_old_root(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    if _root_layout(run) == "stacked":
        return Fail("the old root is still mounted, stacked on top of the new one",
                    "right after lk.pivot_root('.', '.'), lk.umount2('.', lk.MNT_DETACH) "
                    "takes it away")
    for mount in held.ns_mounts:
        if (mount.dev, mount.root) == run.host_root:
            return Fail(f"the old root is still mounted at {mount.target} in the container",
                        f"lk.umount2('{mount.target}', lk.MNT_DETACH), then os.rmdir it")
    extra = sorted(run.rootfs_after - run.rootfs_listing)
    if extra:
        return Fail(f"the folder /{extra[0]} where the old root was is still in the new root",
                    f"after detaching the old root, os.rmdir('/{extra[0]}')")
    return None


def proc_mounted(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    if not any(m.target == "/proc" and m.fstype == "proc" for m in held.mounts):
        return Fail("there is no proc at /proc in the container",
                    "in mount_pseudo_fs: lk.mount('proc', '/proc', 'proc')")
    if held.proc_one.get("Name") != held.status.get("Name") or len(held.proc_pids) > 8:
        return Fail("the container's /proc shows the host's processes",
                    "mount a new proc from inside the container's pid namespace (in run's "
                    "child, after enter_rootfs), never a bind of the host's /proc")
    return None


def sys_read_only(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    sys_mounts = [m for m in held.mounts if m.target == "/sys"]
    if not any(m.fstype == "sysfs" for m in sys_mounts):
        return Fail("there is no sysfs at /sys in the container",
                    "lk.mount('sysfs', '/sys', 'sysfs', lk.MS_RDONLY)")
    if not all(m.read_only for m in sys_mounts):
        return Fail("/sys is writable in the container: root inside could change the host's "
                    "kernel settings", "mount it with lk.MS_RDONLY")
    return None


def minimal_dev(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    dev = [m for m in held.mounts if m.target == "/dev"]
    if any(m.fstype == "devtmpfs" for m in dev):
        return Fail("/dev is the host's devtmpfs: every device of the machine is in the container",
                    "mount a tmpfs on /dev and make only the nodes a container needs")
    if not any(m.fstype == "tmpfs" for m in dev):
        return Fail("there is no tmpfs mounted at /dev in the container",
                    "lk.mount('tmpfs', '/dev', 'tmpfs', lk.MS_NOSUID, 'mode=755')")
    for name, numbers in DEVICES.items():
        if held.devices.get(name) != numbers:
            return Fail(f"/dev/{name} is missing or is not the character device {numbers[0]},"
                        f"{numbers[1]}", f"lk.mknod('/dev/{name}', stat.S_IFCHR | 0o666, "
                        f"os.makedev({numbers[0]}, {numbers[1]}))")
    return None



CASES = (
    Case("private", 0, True, (host_mounts_unchanged, started, own_mount_namespace, no_leftovers)),
    Case("pivot", 0, True, (started, own_mount_namespace, pivoted, no_leftovers)),
    Case("old-root", 0, True, (started, pivoted, no_old_root, no_leftovers)),
    Case("proc", 0, True, (started, proc_mounted, no_leftovers)),
    Case("sys", 0, True, (started, sys_read_only, no_leftovers)),
    Case("dev", 0, True, (started, minimal_dev, no_leftovers)),
)
