"""The syscalls a learner's runtime makes, named after the syscalls, with a hint on every error.

These are thin: each is one call through the kit's seam (`kernel_helpers._sys.LINUX`,
the only ctypes in the kit). What they add is for learners: an error is an `OSError`
subclass (`except PermissionError` works) carrying the errno, the syscall and one
sentence saying what that errno means for *that* syscall::

    from kernel_helpers import learn as lk
    lk.unshare(lk.CLONE_NEWNS)
    lk.mount(None, "/", None, lk.MS_REC | lk.MS_PRIVATE)
    lk.pivot_root(".", ".")     # EINVAL -> "new_root must be a mount point: ..."

Netlink verbs (veth, addresses, routes) are in `kernel_helpers.learn.net` (lab 07), the
same way. Lab 08's names (capabilities, masked paths, the seccomp program) are at the end,
thin over `kernel_helpers.security`.

Taught in: lab 01, lab 02, lab 03, lab 04, lab 05, lab 06, lab 08.
"""

from __future__ import annotations

import errno
import os
import sys as _pysys
import threading
from typing import Any, Callable, Iterable

from kernel_helpers._sys import LINUX
from kernel_helpers._sys import linux as _linux
from kernel_helpers.errors import LabkitError
from kernel_helpers.namespaces import Namespace
from kernel_helpers.security import capabilities as _caps
from kernel_helpers.security import masking as _masking
from kernel_helpers.security import seccomp as _seccomp

CLONE_NEWNS = Namespace.MNT.flag
CLONE_NEWPID = Namespace.PID.flag
CLONE_NEWUTS = Namespace.UTS.flag
CLONE_NEWIPC = Namespace.IPC.flag
CLONE_NEWNET = Namespace.NET.flag
CLONE_NEWUSER = Namespace.USER.flag
CLONE_NEWCGROUP = Namespace.CGROUP.flag
CLONE_NEWTIME = Namespace.TIME.flag
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = (_linux.MS_RDONLY, _linux.MS_NOSUID,
                                             _linux.MS_NODEV, _linux.MS_NOEXEC)
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC = (_linux.MS_REMOUNT, _linux.MS_BIND, _linux.MS_MOVE,
                                        _linux.MS_REC)
MS_PRIVATE, MS_SLAVE, MS_SHARED = _linux.MS_PRIVATE, _linux.MS_SLAVE, _linux.MS_SHARED
MNT_DETACH = _linux.MNT_DETACH
PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG = _linux.PR_SET_NO_NEW_PRIVS, _linux.PR_SET_PDEATHSIG

__all__ = ["CLONE_NEWCGROUP", "CLONE_NEWIPC", "CLONE_NEWNET", "CLONE_NEWNS", "CLONE_NEWPID",
           "CLONE_NEWTIME", "CLONE_NEWUSER", "CLONE_NEWUTS", "MNT_DETACH", "MS_BIND", "MS_MOVE",
           "MS_NODEV", "MS_NOEXEC", "MS_NOSUID", "MS_PRIVATE", "MS_RDONLY", "MS_REC",
           "MS_REMOUNT", "MS_SHARED", "MS_SLAVE", "PR_CAPBSET_DROP", "PR_SET_NO_NEW_PRIVS",
           "PR_SET_PDEATHSIG", "SyscallError", "capget", "capset", "chroot", "error_for",
           "mknod", "mount", "pivot_root", "prctl", "seccomp_load", "sethostname", "setns",
           "setresgid", "setresuid",
           "umount2", "unshare", "write_knob",
           "CAPS", "DEFAULT_CAPS", "MASKED_PATHS", "PR_CAP_AMBIENT", "PR_CAP_AMBIENT_CLEAR_ALL",
           "PR_GET_NO_NEW_PRIVS", "READONLY_PATHS", "cap_last_cap", "cap_number",
           "seccomp_default_program"]

HINTS: dict[tuple[str, int], str] = {
    ("unshare", errno.EINVAL): "a threaded process cannot take some namespaces: call it in a "
                               "fresh process (your runtime), never in the notebook",
    ("unshare", errno.EPERM): "making namespaces needs root (CAP_SYS_ADMIN): run as root",
    ("unshare", errno.ENOSPC): "the nesting limit or the namespace count limit is reached",
    ("setns", errno.EINVAL): "the fd is not a namespace of that type, or a threaded process "
                             "tried to join a mount or user namespace",
    ("setns", errno.EPERM): "joining a namespace needs root (CAP_SYS_ADMIN) over it",
    ("mount", errno.EINVAL): "bad flags for this mount, or a bind/move of something that is "
                             "not a mount point; propagation changes take no source or type; "
                             "overlay needs lowerdir=, upperdir= and workdir= (an empty folder "
                             "on the upper dir's filesystem)",
    ("mount", errno.ELOOP): "overlay: the upper or work dir is inside a lower layer (or the "
                            "other way round): keep the container's dirs out of the image",
    ("mount", errno.ENOENT): "the target directory does not exist inside the current root: "
                             "create it first (os.makedirs)",
    ("mount", errno.EBUSY): "something is already mounted there in a way that conflicts",
    ("mount", errno.ENODEV): "this kernel does not know that filesystem type",
    ("mount", errno.EPERM): "mounting needs root (CAP_SYS_ADMIN) in the mount namespace's owner "
                            "(for proc: the pid namespace's; sysfs: the net namespace's), so a "
                            "runtime whose pid namespace is the host's enters its user "
                            "namespace after the mounts (lab 04)",
    ("umount2", errno.EINVAL): "the path is not a mount point (or the flags are wrong)",
    ("umount2", errno.EBUSY): "something still uses the mount: add MNT_DETACH to detach it lazily",
    ("umount2", errno.ENOENT): "no such path inside the current root",
    ("pivot_root", errno.EINVAL): "new_root must be a mount point: bind-mount it onto itself "
                                  "first; and no mount on the way may be shared: make / private "
                                  "(MS_REC | MS_PRIVATE) in a new mount namespace",
    ("pivot_root", errno.EBUSY): "new_root must be a mount point of its own, not a folder on "
                                 "the current root: bind-mount it onto itself first",
    ("pivot_root", errno.ENOTDIR): "new_root and put_old must both be directories",
    ("pivot_root", errno.EPERM): "pivot_root needs root (CAP_SYS_ADMIN) in the mount namespace",
    ("sethostname", errno.EINVAL): "the name is longer than 64 bytes",
    ("sethostname", errno.EPERM): "changing the hostname needs root in the uts namespace: "
                                  "unshare CLONE_NEWUTS first so the host keeps its name",
    ("mknod", errno.EEXIST): "the node already exists: remove it or skip it",
    ("mknod", errno.EPERM): "device nodes need CAP_MKNOD (root outside a user namespace)",
    ("prctl", errno.EINVAL): "that option or its arguments are not valid (PR_SET_NO_NEW_PRIVS "
                             "takes 1; PR_CAP_AMBIENT_CLEAR_ALL takes no more arguments)",
    ("prctl", errno.EPERM): "dropping from the bounding set needs CAP_SETPCAP: drop the bounding "
                            "set first, before capset takes SETPCAP away",
    ("capset", errno.EPERM): "a capability can only be kept or dropped, never added back: "
                             "keep only what is still permitted (and the bounding set allows)",
    ("seccomp_load", errno.EINVAL): "the filter program is malformed",
    ("seccomp_load", errno.EACCES): "set no_new_privs (prctl PR_SET_NO_NEW_PRIVS) before "
                                    "loading a filter without CAP_SYS_ADMIN",
    ("write_knob", errno.EINVAL): "the kernel refused that value for this file",
    ("write_knob", errno.ENOENT): "no such cgroup file: is the controller enabled for the "
                                  "group (cgroup.subtree_control on v2)?",
    ("write_knob", errno.EPERM): "the kernel refused this write; for /proc/PID/uid_map, gid_map "
                                 "or setgroups: PID must be in a new user namespace, the maps "
                                 "are written from its parent (never by PID itself), once each, "
                                 "and setgroups before gid_map",
    ("write_knob", errno.EBUSY): "the group cannot change now (v2: a group with processes "
                                 "cannot enable controllers for children)",
    ("setresuid", errno.EINVAL): "that uid is not mapped in this user namespace: wait until the "
                                 "parent has written uid_map",
    ("setresgid", errno.EINVAL): "that gid is not mapped in this user namespace: wait until the "
                                 "parent has written gid_map",
    ("setresuid", errno.EPERM): "changing uids needs CAP_SETUID in this user namespace",
    ("setresgid", errno.EPERM): "changing gids needs CAP_SETGID in this user namespace",
}
"""One sentence per (syscall, errno): what it means there and what to do."""

GENERIC: dict[int, str] = {
    errno.EPERM: "the kernel refused: this needs root (and CAP_SYS_ADMIN in the right namespace)",
    errno.EACCES: "permission denied on the path or object",
    errno.ENOENT: "a path in the call does not exist",
    errno.EINVAL: "an argument is not valid for this call: check the flags and paths",
    errno.EBUSY: "the object is in use",
}


class SyscallError(OSError):
    """A failed syscall: `errno`, `syscall`, the arguments and a one-sentence `hint`."""

    syscall: str = ""
    hint: str = ""

    def __str__(self) -> str:
        name = errno.errorcode.get(self.errno or 0, str(self.errno))
        return f"{self.syscall}{self.filename or ''} failed with {name} ({self.strerror}): {self.hint}"


_BUILTIN = {errno.EPERM: PermissionError, errno.EACCES: PermissionError,
            errno.ENOENT: FileNotFoundError, errno.EEXIST: FileExistsError,
            errno.ENOTDIR: NotADirectoryError, errno.EINTR: InterruptedError}
_CLASSES: dict[int, type[SyscallError]] = {}


def error_for(syscall: str, code: int, args: tuple[Any, ...] = ()) -> SyscallError:
    """The error raised for `syscall` failing with `code`: also a PermissionError etc. where fitting."""
    cls = _CLASSES.get(code)
    if cls is None:
        base = _BUILTIN.get(code)
        cls = SyscallError if base is None else type(f"Syscall{base.__name__}",
                                                      (SyscallError, base), {})
        _CLASSES[code] = cls
    err = cls(code, os.strerror(code))
    err.syscall = syscall
    err.filename = "(" + ", ".join(repr(a) for a in args) + ")"  # shown after the syscall name
    err.hint = HINTS.get((syscall, code)) or GENERIC.get(code, "see the syscall's man page")
    return err


def _call(syscall: str, fn: Callable[..., Any], *args: Any,
          shown: tuple[Any, ...] | None = None) -> Any:
    try:
        return fn(*args)
    except LabkitError as err:  # the seam translated an OSError; take its errno back
        code = getattr(err.__cause__, "errno", None)
        if code is None:
            raise
        raise error_for(syscall, code, args if shown is None else shown) from None
    except OSError as err:
        raise error_for(syscall, err.errno or 0, args if shown is None else shown) from None


class _Shown(str):
    """An argument shown in an error as written, not repr'd (a BPF program is bytes of noise)."""

    def __repr__(self) -> str:
        return str(self)


def _not_in_a_notebook(syscall: str) -> None:
    """Namespace syscalls in the notebook's kernel would change the notebook itself.

    The kernel process is threaded (a forked child of it is not, and may unshare).
    """
    if "ipykernel" in _pysys.modules and threading.active_count() > 1:
        err = error_for(syscall, errno.EINVAL)
        err.hint = ("this is the notebook's own process: let your runtime make it, through "
                    "the check cell or `python myruntime.py run ...`")
        raise err


def unshare(flags: int) -> None:
    """unshare(2): new namespaces for the caller (pid: for its children). man 2 unshare."""
    _not_in_a_notebook("unshare")
    _call("unshare", LINUX.unshare, flags)


def setns(fd: int, nstype: int = 0) -> None:
    """setns(2): join the namespace open on `fd`. man 2 setns."""
    _not_in_a_notebook("setns")
    _call("setns", LINUX.setns, fd, nstype)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    """mount(2), arguments in the kernel's order. man 2 mount."""
    _call("mount", LINUX.mount, source, target, fstype, flags, data)


def umount2(target: str, flags: int = 0) -> None:
    """umount2(2); MNT_DETACH detaches now and frees when unused. man 2 umount2."""
    _call("umount2", LINUX.umount2, target, flags)


def pivot_root(new_root: str, put_old: str) -> None:
    """pivot_root(2): new_root becomes /, the old root goes to put_old. man 2 pivot_root."""
    _call("pivot_root", LINUX.pivot_root, new_root, put_old)


def chroot(path: str) -> None:
    """chroot(2): only where path lookups start (lab 03 shows why runtimes pivot instead)."""
    _call("chroot", LINUX.chroot, path)


def sethostname(name: str) -> None:
    """sethostname(2) in the caller's uts namespace. man 2 sethostname."""
    _call("sethostname", LINUX.sethostname, name)


def mknod(path: str, mode: int, device: int) -> None:
    """mknod(2); `device` from os.makedev(major, minor). man 2 mknod."""
    _call("mknod", LINUX.mknod, path, mode, device)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    """prctl(2). man 2 prctl."""
    return int(_call("prctl", LINUX.prctl, option, arg2, arg3, arg4, arg5))


def capget() -> tuple[int, int, int]:
    """The caller's (effective, permitted, inheritable) capability masks. man 2 capget."""
    return _call("capget", LINUX.capget)  # type: ignore[no-any-return]


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the caller's capability masks (bit N = capability N). man 2 capset."""
    _call("capset", LINUX.capset, effective, permitted, inheritable)


def seccomp_load(program: bytes) -> None:
    """Install a classic-BPF seccomp filter on the caller. man 2 seccomp."""
    _call("seccomp_load", LINUX.seccomp_filter, program,
          shown=(_Shown(f"<a {len(program)}-byte program>"),))


def write_knob(path: str, value: str) -> None:
    """One write(2) of `value` to a kernel file (a cgroup knob, /proc/sys)."""
    _call("write_knob", LINUX.write_knob, path, value)


def setresuid(ruid: int, euid: int, suid: int) -> None:
    """setresuid(2): in a new user namespace, (0, 0, 0) makes the caller root there. man 2 setresuid."""
    _call("setresuid", LINUX.setresuid, ruid, euid, suid)


def setresgid(rgid: int, egid: int, sgid: int) -> None:
    """setresgid(2): the same for group ids. man 2 setresgid."""
    _call("setresgid", LINUX.setresgid, rgid, egid, sgid)


# --- lab 08: capabilities, masked paths, seccomp (thin over kernel_helpers.security) ---

CAPS = _caps.CAPS
"""Every capability name; a capability's number is its index (`cap_number`)."""
DEFAULT_CAPS: frozenset[str] = _caps.DOCKER_DEFAULT
"""The 14 capabilities `docker run` keeps: a container's root gets these and no others."""
MASKED_PATHS = _masking.MASKED_PATHS
"""runc's masked paths: a file is covered with /dev/null, a folder with an empty read-only tmpfs."""
READONLY_PATHS = _masking.READONLY_PATHS
"""runc's read-only paths: bound onto themselves, then remounted read-only."""
PR_CAPBSET_DROP = _caps.PR_CAPBSET_DROP
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = _caps.PR_CAP_AMBIENT, _caps.PR_CAP_AMBIENT_CLEAR_ALL
PR_GET_NO_NEW_PRIVS = 39
try:
    _seccomp._libseccomp()  # loaded now, in the runtime: harden compiles after pivot_root
except LabkitError:
    pass  # seccomp_default_program says what is missing, when called


def cap_number(name: str) -> int:
    """'SYS_ADMIN' (or 'CAP_SYS_ADMIN', 'sys_admin') -> 21: its bit in the masks capset takes.

    Taught in: lab 08.
    """
    return _caps.CAP_NUMBER[_caps.parse_cap(name)]


def cap_last_cap() -> int:
    """The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap).

    Taught in: lab 08.
    """
    return _caps.last_cap()


def seccomp_default_program(keep: Iterable[str] = DEFAULT_CAPS) -> bytes:
    """Docker's default seccomp profile for a container keeping `keep`, compiled: give it to
    `seccomp_load`. Works after pivot_root (the compiler was loaded with this module).

    Taught in: lab 08.
    """
    caps = frozenset(_caps.parse_cap(name) for name in keep)
    return _seccomp.compile_bpf(_seccomp.docker_default(caps))
