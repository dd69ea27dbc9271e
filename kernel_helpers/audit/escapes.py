"""The escape battery: real break-out and abuse attempts, run as a container's process.

Each attempt makes the real syscall and reads the kernel's answer, but stops
before anything could touch the host: files are opened for writing and never
written, the module image is garbage (EPERM means "refused", ENOEXEC means
"the kernel would have loaded a real one"), the clock gets an invalid tick
(EPERM versus EINVAL), the hostname is set to the name it already has and
only in a uts namespace of its own, and a disk is only read. Against the
hardened runtime every attempt must fail; against the naive one (where
safe) they show what succeeds.

Taught in: lab 08.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Callable

from kernel_helpers import naming
from kernel_helpers._sys import Kernel
from kernel_helpers._sys.linux import MS_BIND, MS_REMOUNT
from kernel_helpers.cleanup import Leftover
from kernel_helpers.errors import LabkitError
from kernel_helpers.namespaces import Namespace
from kernel_helpers.process import run_in_child
from kernel_helpers.audit import attempts_kernel, attempts_seams
from kernel_helpers.audit.attempt import (Context, Outcome, errno_of, open_for_write,
                                             try_call as _try, why)
from kernel_helpers.spec import ContainerSpec
from kernel_helpers.stage import Stage
from kernel_helpers.audit.disks import SECTOR, pick_disk

ADJ_TICK = 0x4000
KEYCTL_GET_KEYRING_ID = 0
KEY_SPEC_USER_KEYRING = -4
GLOBAL_SYSCTL = "/proc/sys/vm/swappiness"
"""A host-wide knob (not namespaced): opened for writing to test, never written."""


def _mounted_at(path: str) -> bool:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return any(line.split()[4] == path for line in f)


def attempt_chroot(ctx: Context) -> Outcome:
    """chroot into a subdirectory, then walk `..` from the cwd left outside it."""
    def escape() -> tuple[int, int]:
        os.makedirs("/dev/.lk-chroot", exist_ok=True)
        ctx.kernel.chroot("/dev/.lk-chroot")
        for _ in range(64):
            os.chdir("..")
        ctx.kernel.chroot(".")
        reached = os.stat("/")
        return reached.st_dev, reached.st_ino
    mine = os.stat("/")
    try:
        reached = run_in_child(escape)
    except LabkitError as err:
        return Outcome("chroot", False, "chroot was refused", why(err, ctx, "chroot", "SYS_CHROOT"))
    if reached != (mine.st_dev, mine.st_ino):
        return Outcome("chroot", True, "walked `..` out of the chroot to a root above this one")
    return Outcome("chroot", False, "`..` stopped at the container's own root",
                   "pivot_root (the old root is unmounted)")


def attempt_proc_sys(ctx: Context) -> Outcome:
    """Make /proc/sys writable again (remount), then open a host-wide sysctl for writing."""
    remount = ""
    if _mounted_at("/proc/sys"):
        err = _try(lambda: ctx.kernel.mount(None, "/proc/sys", None, MS_REMOUNT | MS_BIND))
        remount = f"remount refused: {why(err, ctx, 'mount', 'SYS_ADMIN')}; " if err else ""
    err = _try(lambda: open_for_write(GLOBAL_SYSCTL))
    if err is None:
        return Outcome("proc-sys", True, f"{GLOBAL_SYSCTL} opened for writing: "
                       "sysctl writes would change the whole machine")
    return Outcome("proc-sys", False, f"{remount}{GLOBAL_SYSCTL} not writable",
                   why(err, ctx, "openat"))


def attempt_sysrq(ctx: Context) -> Outcome:
    """Open /proc/sysrq-trigger for writing (one byte there could reboot the host)."""
    if not os.path.lexists("/proc/sysrq-trigger"):
        return Outcome("sysrq", False, "no /proc/sysrq-trigger", "this kernel lacks it (CONFIG_MAGIC_SYSRQ)")
    err = _try(lambda: open_for_write("/proc/sysrq-trigger"))
    if err is None:
        return Outcome("sysrq", True, "/proc/sysrq-trigger opened for writing (nothing written)")
    return Outcome("sysrq", False, "/proc/sysrq-trigger not writable", why(err, ctx, "openat"))


def attempt_module(ctx: Context) -> Outcome:
    """init_module() with a garbage image: only the kernel's first answer matters."""
    try:
        ctx.kernel.init_module(b"\x7fELF not a module", "")
        code = 0
    except LabkitError as err:
        code = errno_of(err)
        if code in (errno.EPERM, errno.ENOSYS):
            return Outcome("module", False, "init_module refused",
                           why(err, ctx, "init_module", "SYS_MODULE"))
    return Outcome("module", True, f"the kernel checked the image ({errno.errorcode.get(code)}): "
                   "a real module would have loaded")


def attempt_mknod(ctx: Context) -> Outcome:
    """mknod the host's disk in each writable place and read its first sector."""
    if ctx.disk is None:
        return Outcome("mknod-disk", False, "no block device host root can read", "nothing to reach")
    name, major, minor = ctx.disk
    reasons = []
    for place in ("/dev", "/tmp"):
        node = f"{place}/{naming.new_name()}-disk"  # the kit's prefix: `labkit cleanup` finds it
        err = _try(lambda node=node: ctx.kernel.mknod(node, stat.S_IFBLK | 0o600,  # type: ignore[misc]
                                                         os.makedev(major, minor)))
        if err is not None:
            reasons.append(f"{place}: mknod {why(err, ctx, 'mknod', 'MKNOD')}")
            continue
        try:
            fd = os.open(node, os.O_RDONLY | os.O_NONBLOCK)
            try:
                os.read(fd, SECTOR)
            finally:
                os.close(fd)
            return Outcome("mknod-disk", True, f"made {node} ({major}:{minor}) and read the "
                           f"host's block device {name}")
        except OSError as open_err:
            reason = ("nodev mount (EACCES)" if open_err.errno == errno.EACCES
                      else why(open_err, ctx, "openat"))
            reasons.append(f"{place}: open {reason}")
        finally:
            os.unlink(node)
    return Outcome("mknod-disk", False, f"could not read the host's block device {name}", "; ".join(reasons))


def attempt_host_processes(ctx: Context) -> Outcome:
    """List /proc for processes in the host's pid namespace, and signal one with signal 0.

    Compared with the host's namespace, not with our own: a container without a
    pid namespace *is* in the host's, and on a plain VM no other one may exist.
    """
    host = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/pid").st_ino == ctx.host_pid:
                host.append(int(entry))
        except PermissionError:
            host.append(int(entry))  # visible but not inspectable: not one of ours
        except FileNotFoundError:
            continue
    if host:
        signalled = _try(lambda: os.kill(host[0], 0)) is None  # signal 0: a permission check only
        return Outcome("host-procs", True, f"sees {len(host)} processes of the host's pid namespace"
                       + (" and may signal them" if signalled else ""))
    return Outcome("host-procs", False, "sees only its own processes", "pid namespace")


def attempt_hostname(ctx: Context) -> Outcome:
    """sethostname() to the current name (a no-op), never from the host's uts namespace."""
    if os.stat("/proc/self/ns/uts").st_ino == ctx.host_uts:
        return Outcome("hostname", True, "shares the host's uts namespace: sethostname would "
                       "rename the host (not tried)")
    err = _try(lambda: ctx.kernel.sethostname(os.uname().nodename))
    if err is None:
        return Outcome("hostname", False, "renamed only its own uts namespace", "uts namespace")
    return Outcome("hostname", False, "sethostname refused", why(err, ctx, "sethostname", "SYS_ADMIN"))


def attempt_clock(ctx: Context) -> Outcome:
    """adjtimex(ADJ_TICK) with an invalid tick: EPERM = not allowed, EINVAL = allowed."""
    try:
        ctx.kernel.adjtimex(ADJ_TICK, 1)  # 1 is far below the valid range (~9000-11000)
    except LabkitError as err:
        if errno_of(err) != errno.EINVAL:
            return Outcome("clock", False, "adjtimex refused", why(err, ctx, "adjtimex", "SYS_TIME"))
    return Outcome("clock", True, "CAP_SYS_TIME accepted (only the bogus value was refused): "
                   "the host's clock could be set; time namespaces do not cover CLOCK_REALTIME")


def attempt_userns(ctx: Context) -> Outcome:
    """unshare(CLONE_NEWUSER) in a child: a user namespace gives back every capability."""
    code = run_in_child(_unshare_user, ctx.kernel)
    if code:
        return Outcome("userns", False, "unshare(CLONE_NEWUSER) refused",
                       why(OSError(code, os.strerror(code)), ctx, "unshare"))
    return Outcome("userns", True, "made a new user namespace (all capabilities inside it)")


def _unshare_user(kernel: Kernel) -> int:
    """In a throwaway child: 0 if unshare(CLONE_NEWUSER) worked, else its errno."""
    err = _try(lambda: kernel.unshare(Namespace.USER.flag))
    return errno_of(err) if isinstance(err, LabkitError) else 0


def attempt_keyctl(ctx: Context) -> Outcome:
    """keyctl(GET_KEYRING_ID) on uid 0's user keyring: keyrings are not namespaced by uid."""
    try:
        ctx.kernel.keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0)
    except LabkitError as err:
        return Outcome("keyctl", False, "keyctl refused", why(err, ctx, "keyctl"))
    outside = Path("/proc/self/uid_map").read_text().split()[1]
    if outside == "0":
        return Outcome("keyctl", True, "reached host root's user keyring")
    return Outcome("keyctl", False, f"reached only the keyring of host uid {outside}", "user namespace")


ATTEMPTS: tuple[Callable[[Context], Outcome], ...] = (
    attempt_chroot, attempt_proc_sys, attempt_sysrq, attempt_module, attempt_mknod,
    attempt_host_processes, attempt_hostname, attempt_clock, attempt_userns, attempt_keyctl,
    *attempts_kernel.ATTEMPTS)
"""The battery, in the order a lab tells the story; attempt modules add their own at the end."""


def run_battery(ctx: Context) -> list[Outcome]:
    """Every attempt, from inside the current process's container."""
    return [attempt(ctx) for attempt in ATTEMPTS]


def context_for(stages: tuple[Stage, ...]) -> Context:
    """The Context for a container started with `stages` (host side, before start)."""
    from kernel_helpers.security.hardening import HardeningStage
    profiles = [stage.profile for stage in stages if isinstance(stage, HardeningStage)]
    return Context(os.stat("/proc/self/ns/uts").st_ino, os.stat("/proc/self/ns/pid").st_ino,
                   profiles[-1] if profiles else None, pick_disk())


HOST_SIDE: tuple[Callable[[ContainerSpec, tuple[Stage, ...]], Outcome], ...] = attempts_seams.HOST_SIDE
"""Attempts at the seams around a container (exec, the terminal, --init, names, root),
run from the host side with the same spec and stages, after the battery."""


def battery_in_container(spec: ContainerSpec, stages: tuple[Stage, ...] = ()) -> list[Outcome]:
    """Start a container from `spec` and `stages`, run the battery as its PID 1, then the seams."""
    from kernel_helpers.audit.probe import run_inside
    outcomes = run_inside(run_battery, spec, stages, context_for(stages))
    return outcomes + [attempt(spec, stages) for attempt in HOST_SIDE]


def leftovers() -> list[Leftover]:
    """Device nodes an attempt made in an image's /tmp and could not unlink (it was killed)."""
    return [Leftover("device node", str(path), "mknod attempt")
            for path in sorted(naming.DATA_ROOT.glob("images/*/rootfs/tmp/lk*-disk"))
            if naming.is_ours(path.name) and path.is_block_device()]


def remove(item: Leftover) -> None:
    Path(item.name).unlink(missing_ok=True)
