"""The real `Kernel`: ctypes calls into libc, errors translated once.

Python 3.11 has no ``os.unshare``/``os.setns`` (they arrived in 3.12), so all
of these go through libc with ``use_errno=True``.
"""

from __future__ import annotations

import ctypes
import os

from kernel_helpers.errors import LabkitError, translate_oserror

MACHINE = os.uname().machine
"""This machine's architecture as uname(2) names it (what platform.machine() returns,
without importing platform on every container start)."""

_libc = ctypes.CDLL(None, use_errno=True)

_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "armv7l": 218, "riscv64": 41}
"""glibc has no pivot_root wrapper; the raw syscall number differs per arch."""
_SYS_BPF = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "riscv64": 280}
"""glibc has no bpf wrapper either."""
_SYS_KEYCTL = {"x86_64": 250, "aarch64": 219, "armv7l": 311, "riscv64": 219}
"""keyctl(2) lives in libkeyutils, not glibc."""
_SYS_OPENAT2 = 437
"""openat2(2) (Linux 5.6): one number on every architecture, as for all syscalls after 5.0."""
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_IN_ROOT = 0x10
_SYS_IO_URING_SETUP = 425
"""io_uring_setup(2): one number on every architecture (syscalls added since 5.1 share one table)."""
_IO_URING_PARAMS_SIZE = 120
"""sizeof(struct io_uring_params); all zero asks for the defaults."""

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_SYNCHRONOUS = 0x10
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_UNBINDABLE = 1 << 17
MS_STRICTATIME = 1 << 24
MNT_DETACH = 0x2
PR_SET_CHILD_SUBREAPER = 36
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39


def _b(value: str | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def _check(ret: int, what: str) -> int:
    if ret == -1:
        code = ctypes.get_errno()
        cause = OSError(code, os.strerror(code))
        raise translate_oserror(cause, what) from cause  # __cause__.errno keeps the raw errno
    return ret


class Linux:
    """Syscalls on the running kernel. Each raises a `LabkitError` naming what failed."""

    def unshare(self, flags: int) -> None:
        _check(_libc.unshare(ctypes.c_int(flags)), f"unshare({flags:#x})")

    def setns(self, fd: int, nstype: int) -> None:
        _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")

    def mount(self, source: str | None, target: str, fstype: str | None,
              flags: int = 0, data: str | None = None) -> None:
        ret = _libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data))
        _check(ret, f"mount {fstype or 'bind'} on {target}")

    def umount2(self, target: str, flags: int = 0) -> None:
        _check(_libc.umount2(_b(target), ctypes.c_int(flags)), f"umount {target}")

    def pivot_root(self, new_root: str, put_old: str) -> None:
        number = _SYS_PIVOT_ROOT.get(MACHINE)
        if number is None:
            raise LabkitError("pivot_root", f"no syscall number known for {MACHINE}",
                              "add it to _SYS_PIVOT_ROOT in kernel_helpers/_sys/linux.py")
        _check(_libc.syscall(ctypes.c_long(number), _b(new_root), _b(put_old)),
               f"pivot_root {new_root}")

    def sethostname(self, name: str) -> None:
        raw = name.encode()
        _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")

    def setdomainname(self, name: str) -> None:
        raw = name.encode()
        _check(_libc.setdomainname(raw, ctypes.c_size_t(len(raw))), "setdomainname")

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0,
              arg5: int = 0) -> int:
        args = [ctypes.c_ulong(a) for a in (arg2, arg3, arg4, arg5)]
        return _check(_libc.prctl(ctypes.c_int(option), *args), f"prctl({option})")

    def chroot(self, path: str) -> None:
        try:
            os.chroot(path)
        except OSError as err:
            raise translate_oserror(err, f"chroot {path}") from err


    def write_knob(self, path: str, value: str) -> None:
        """One write(2) of `value` to a kernel file (cgroup, /proc/sys): one value per write."""
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as err:
            raise translate_oserror(err, f"write '{value}' to {path}") from err

    def bpf(self, cmd: int, attr: bytearray) -> int:
        """bpf(2) with `attr` (union bpf_attr bytes, updated in place); returns fd or 0."""
        number = _SYS_BPF.get(MACHINE)
        if number is None:
            raise LabkitError("bpf", f"no syscall number known for {MACHINE}",
                              "add it to _SYS_BPF in kernel_helpers/_sys/linux.py")
        buf = (ctypes.c_char * len(attr)).from_buffer(attr)
        return _check(_libc.syscall(ctypes.c_long(number), ctypes.c_int(cmd), buf,
                                    ctypes.c_uint(len(attr))), f"bpf(cmd {cmd})")

    def ioctl(self, fd: int, request: int, arg: int | bytes = 0) -> int | bytes:
        """ioctl(2): an int argument returns the result, a bytes argument the filled buffer."""
        import fcntl
        try:
            return fcntl.ioctl(fd, request, arg)
        except OSError as err:
            raise translate_oserror(err, f"ioctl {request:#x}") from err


    def mkdir(self, path: str, mode: int = 0o755) -> None:
        """mkdir(2): in cgroupfs, this creates a control group."""
        try:
            os.mkdir(path, mode)
        except OSError as err:
            raise translate_oserror(err, f"mkdir {path}") from err

    def rmdir(self, path: str) -> None:
        """rmdir(2): in cgroupfs, this removes an empty control group."""
        try:
            os.rmdir(path)
        except OSError as err:
            raise translate_oserror(err, f"rmdir {path}") from err

    def setresuid(self, ruid: int, euid: int, suid: int) -> None:
        try:
            os.setresuid(ruid, euid, suid)
        except OSError as err:
            raise translate_oserror(err, f"setresuid({ruid})") from err

    def setresgid(self, rgid: int, egid: int, sgid: int) -> None:
        try:
            os.setresgid(rgid, egid, sgid)
        except OSError as err:
            raise translate_oserror(err, f"setresgid({rgid})") from err

    def setgroups(self, groups: list[int]) -> None:
        try:
            os.setgroups(groups)
        except OSError as err:
            raise translate_oserror(err, "setgroups") from err

    # --- System V IPC: objects that live in an ipc namespace ---

    def msgget(self, key: int, flags: int) -> int:
        return _check(_libc.msgget(ctypes.c_int(key), ctypes.c_int(flags)), "msgget")

    def semget(self, key: int, nsems: int, flags: int) -> int:
        return _check(_libc.semget(ctypes.c_int(key), ctypes.c_int(nsems), ctypes.c_int(flags)),
                      "semget")

    def shmget(self, key: int, size: int, flags: int) -> int:
        return _check(_libc.shmget(ctypes.c_int(key), ctypes.c_size_t(size), ctypes.c_int(flags)),
                      "shmget")

    def msgctl(self, ident: int, cmd: int) -> None:
        _check(_libc.msgctl(ctypes.c_int(ident), ctypes.c_int(cmd), None), f"msgctl({cmd})")

    def semctl(self, ident: int, semnum: int, cmd: int) -> None:
        _check(_libc.semctl(ctypes.c_int(ident), ctypes.c_int(semnum), ctypes.c_int(cmd)),
               f"semctl({cmd})")

    def shmctl(self, ident: int, cmd: int) -> None:
        _check(_libc.shmctl(ctypes.c_int(ident), ctypes.c_int(cmd), None), f"shmctl({cmd})")

    # --- security: capabilities, seccomp, and what the escape battery attempts ---

    def capget(self) -> tuple[int, int, int]:
        """The caller's (effective, permitted, inheritable) capability masks."""
        header, data = _cap_header(), (ctypes.c_uint32 * 6)()
        _check(_libc.capget(ctypes.byref(header), data), "capget")
        return tuple(data[i] | data[i + 3] << 32 for i in range(3))  # type: ignore[return-value]

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        data = (ctypes.c_uint32 * 6)()
        for i, mask in enumerate((effective, permitted, inheritable)):
            data[i], data[i + 3] = mask & 0xFFFFFFFF, mask >> 32
        _check(_libc.capset(ctypes.byref(_cap_header()), data), "capset")

    def seccomp_filter(self, program: bytes) -> None:
        """Install a classic-BPF seccomp filter (struct sock_filter array) on the caller."""
        code = ctypes.create_string_buffer(program, len(program))
        prog = _SockFprog(len(program) // 8, ctypes.cast(code, ctypes.c_void_p))
        _check(_libc.prctl(ctypes.c_int(22), ctypes.c_ulong(2), ctypes.byref(prog),  # PR_SET_SECCOMP,
                           ctypes.c_ulong(0), ctypes.c_ulong(0)), "load seccomp filter")  # MODE_FILTER

    def init_module(self, image: bytes, params: str = "") -> None:
        _check(_libc.init_module(image, ctypes.c_ulong(len(image)), params.encode()), "init_module")

    def keyctl(self, operation: int, arg2: int = 0, arg3: int = 0) -> int:
        number = _SYS_KEYCTL.get(MACHINE)
        if number is None:
            raise LabkitError("keyctl", f"no syscall number known for {MACHINE}",
                              "add it to _SYS_KEYCTL in kernel_helpers/_sys/linux.py")
        return _check(_libc.syscall(ctypes.c_long(number), ctypes.c_int(operation),
                                    ctypes.c_long(arg2), ctypes.c_long(arg3)), f"keyctl({operation})")

    def syslog(self, action: int) -> int:
        """syslog(2) (glibc's klogctl) for actions that need no buffer, e.g. 10 = SIZE_BUFFER."""
        return _check(_libc.klogctl(ctypes.c_int(action), None, ctypes.c_int(0)), f"syslog({action})")

    def adjtimex(self, modes: int, tick: int = 0) -> int:
        """adjtimex(2) with only `modes` and `tick` filled in; returns the clock state."""
        timex = (ctypes.c_long * 32)()  # struct timex is 208 bytes on 64-bit; modes first
        timex[0], timex[11] = modes, tick  # tick is the 12th 8-byte slot (offset 88)
        return _check(_libc.adjtimex(timex), "adjtimex")

    def mknod(self, path: str, mode: int, device: int) -> None:
        try:
            os.mknod(path, mode, device)
        except OSError as err:
            raise translate_oserror(err, f"mknod {path}") from err


    def io_uring_setup(self, entries: int) -> int:
        """io_uring_setup(2) with default parameters; returns the ring's fd (the caller closes it)."""
        params = ctypes.create_string_buffer(_IO_URING_PARAMS_SIZE)
        return _check(_libc.syscall(ctypes.c_long(_SYS_IO_URING_SETUP), ctypes.c_uint(entries),
                                    params), "io_uring_setup")


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def openat2(dirfd: int, path: str, flags: int, resolve: int) -> int:
    """openat2(2): open `path` under `dirfd` with RESOLVE_* rules; raises OSError.

    A lookup, not a change to the machine, so it is a plain function and not a
    `Kernel` verb: the recording kernel's traces show the mounts made, not how
    their targets were found.
    """
    how = _OpenHow(flags, 0, resolve)
    fd = _libc.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(dirfd), os.fsencode(path),
                       ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
    if fd == -1:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)
    return int(fd)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


def _cap_header() -> _CapHeader:
    return _CapHeader(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


LINUX = Linux()
"""The one real kernel instance."""
