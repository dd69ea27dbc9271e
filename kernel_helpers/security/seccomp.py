"""seccomp: a syscall filter the kernel runs on every syscall of the container.

Compute, then apply. `docker_default(caps)` builds Docker's default profile
for the capabilities the container keeps, as plain `Rule`s a lab can print;
`compile_bpf` hands them to libseccomp (ctypes on libseccomp.so.2), which
writes the classic-BPF program; `load` installs it through the kernel seam.
Compiling happens in the supervisor before fork, so nothing needs the
library after pivot_root, and the container only makes one prctl call.

A filter is inherited by every child and kept across exec, and cannot be
removed: load it in a child process (`process.run_in_child`) when trying it.

Taught in: lab 08.
"""

from __future__ import annotations

import ctypes
import errno
import os
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from kernel_helpers import naming
from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers._sys.linux import MACHINE
from kernel_helpers.errors import KernelError, KernelFeatureMissing
from kernel_helpers.files import READABLE, write_atomic
from kernel_helpers.security import _docker_profile as docker

SCMP_ACT_ALLOW = 0x7FFF0000
_OPS = {"ne": 1, "eq": 4, "masked_eq": 7}  # enum scmp_compare


def scmp_act_errno(code: int) -> int:
    """libseccomp's SCMP_ACT_ERRNO(x): fail the syscall with errno `code`."""
    return 0x00050000 | (code & 0xFFFF)


@dataclass(frozen=True)
class ArgCheck:
    """A condition on one syscall argument: `(arg & mask) == value` for masked_eq."""

    index: int
    op: str
    value: int
    mask: int = 0


@dataclass(frozen=True)
class Rule:
    """What happens to one syscall: allow it, or fail it with `errno`, when `args` all hold."""

    syscall: str
    errno: int = 0
    """0 allows the call; anything else is the errno it fails with."""
    args: tuple[ArgCheck, ...] = ()

    def __str__(self) -> str:
        what = "allow" if not self.errno else f"fail with {errno.errorcode.get(self.errno)}"
        cond = " if " + " and ".join(f"arg{a.index} {a.op} {a.value:#x}" for a in self.args)
        return f"{self.syscall}: {what}{cond if self.args else ''}"


@dataclass(frozen=True)
class Profile:
    """A whole filter: the rules, and the errno every other syscall fails with."""

    rules: tuple[Rule, ...]
    default_errno: int = errno.EPERM
    arch: str = MACHINE

    def verdict(self, syscall: str) -> str:
        """'allowed', 'blocked' or 'depends on arguments', as this profile says."""
        rules = [rule for rule in self.rules if rule.syscall == syscall]
        if any(not rule.errno and not rule.args for rule in rules):
            return "allowed"
        if any(not rule.errno for rule in rules):
            return "depends on arguments"
        return "blocked"


@lru_cache(maxsize=8)
def docker_default(caps: frozenset[str], arch: str = MACHINE) -> Profile:
    """Docker's default profile for a container keeping `caps` (names as in CAPS).

    Remembered per (caps, arch): a start asks twice (the stage, then its program), and
    each build makes some 350 frozen rules. Profiles are frozen, so sharing one is safe.
    """
    names = docker.ALWAYS.split() + docker.PER_ARCH.get(arch, "").split()
    for cap, group in docker.WITH_CAP.items():
        if cap in caps:
            names += group.split()
    rules = [Rule(name) for name in dict.fromkeys(names)]
    rules += [Rule("socket", args=(ArgCheck(0, "ne", docker.AF_VSOCK),))]
    rules += [Rule("personality", args=(ArgCheck(0, "eq", value),))
              for value in docker.PERSONALITY_ALLOWED]
    if "SYS_ADMIN" not in caps:
        rules += [Rule("clone", args=(ArgCheck(0, "masked_eq", 0, docker.NAMESPACE_FLAGS),)),
                  Rule("clone3", errno=docker.ENOSYS)]
    return Profile(tuple(rules), errno.EPERM, arch)


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


@lru_cache(maxsize=1)
def _libseccomp() -> ctypes.CDLL:
    """libseccomp, loaded once: a process that loaded it may compile after pivot_root
    (lab 08's harden does), when the host's library files are out of reach."""
    try:
        lib = ctypes.CDLL("libseccomp.so.2")
    except OSError as err:
        raise KernelFeatureMissing("libseccomp", "libseccomp.so.2 could not be loaded",
                                   "install it with `apt-get install libseccomp2`") from err
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    return lib


_LIBSECCOMP_ARCH = {"x86_64": "x86_64", "aarch64": "aarch64", "riscv64": "riscv64",
                    "x86": "x86", "x32": "x32", "arm": "arm"}


def compile_bpf(profile: Profile) -> bytes:
    """The profile as a BPF program (struct sock_filter[]), written by libseccomp.

    Syscall names this libseccomp does not know are skipped, as Docker does.
    """
    lib = _libseccomp()
    ctx = lib.seccomp_init(scmp_act_errno(profile.default_errno))
    if not ctx:
        raise KernelError("seccomp_init", "libseccomp could not start a filter",
                          "check that libseccomp2 is installed and not broken")
    try:
        for sub in docker.SUB_ARCHES.get(profile.arch, ()):
            token = lib.seccomp_arch_resolve_name(_LIBSECCOMP_ARCH[sub].encode())
            _ok(lib.seccomp_arch_add(ctx, token), f"add architecture {sub}")
        for rule in profile.rules:
            number = lib.seccomp_syscall_resolve_name(rule.syscall.encode())
            if number < 0:
                continue  # older libseccomp: it cannot name this syscall, so none can call it
            args = (_ArgCmp * max(1, len(rule.args)))(*(
                _ArgCmp(a.index, _OPS[a.op], a.mask if a.op == "masked_eq" else a.value,
                        a.value if a.op == "masked_eq" else 0) for a in rule.args))
            action = scmp_act_errno(rule.errno) if rule.errno else SCMP_ACT_ALLOW
            _ok(lib.seccomp_rule_add_array(ctx, action, number, len(rule.args), args),
                f"add rule '{rule}'")
        fd = os.memfd_create("lk-seccomp", os.MFD_CLOEXEC)
        try:
            _ok(lib.seccomp_export_bpf(ctx, fd), "export the BPF program")
            return os.pread(fd, os.fstat(fd).st_size, 0)  # no /proc needed (after pivot_root)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)


CACHE_FORMAT = 3
"""Bump when `compile_bpf` changes what it makes of a profile: old cached programs are then unused."""


def _inputs(profile: Profile) -> bytes:
    """Everything the compiled program depends on: the rules, the sub-architectures, the compiler."""
    return repr((CACHE_FORMAT, profile, docker.SUB_ARCHES.get(profile.arch, ()))).encode()


def cache_key(profile: Profile) -> str:
    """The cache file's name: a checksum and the length of the profile's inputs.

    A profile that changes (io_uring leaving Docker's list, say) gets a new key. The
    file holds the inputs themselves, and `cached_bpf` serves a program only when they
    match exactly, so two profiles sharing a checksum never share a program. (zlib's
    CRC, not hashlib: importing OpenSSL cost ~5 ms of every container start.)
    """
    return _name(_inputs(profile))


def _name(inputs: bytes) -> str:
    return f"{zlib.crc32(inputs):08x}-{len(inputs):x}"


def cached_bpf(profile: Profile) -> bytes:
    """`compile_bpf`, remembered on disk per `cache_key` (inputs, a NUL, then the program).

    libseccomp takes about 9 ms to build Docker's profile, on every container start;
    reading the 7 KB result back takes a tenth of that.
    """
    data = _inputs(profile)
    path = naming.DATA_ROOT / "cache" / "seccomp" / f"{_name(data)}.bpf"
    try:
        stored, sep, program = path.read_bytes().partition(b"\0")
        if sep and stored == data:
            return program
    except FileNotFoundError:
        pass
    program = compile_bpf(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data + b"\0" + program, READABLE)
    return program


def _ok(ret: int, what: str) -> None:
    if ret < 0:
        raise KernelError(f"libseccomp: {what}", f"failed with {errno.errorcode.get(-ret, ret)}",
                          "this is a bug in the kit's profile; please report it")


def load(program: bytes, kernel: Kernel = LINUX) -> None:
    """Install the filter on the calling thread (needs no_new_privs or CAP_SYS_ADMIN)."""
    kernel.seccomp_filter(program)


def mode(pid: int | str = "self", proc: str = "/proc") -> int:
    """0 = no seccomp, 1 = strict, 2 = filter (the `Seccomp:` line of /proc/PID/status)."""
    for line in Path(proc, str(pid), "status").read_text().splitlines():
        if line.startswith("Seccomp:"):
            return int(line.split()[1])
    raise KernelFeatureMissing("seccomp", "this kernel does not report a seccomp mode",
                               "run `labkit doctor` to see what this machine supports")
