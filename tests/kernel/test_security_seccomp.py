"""Docker's default seccomp profile on the real kernel: what it blocks, with which errno.

Filters cannot be removed, so every load happens in a forked child.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket

import pytest

from kernel_helpers._sys import LINUX
from kernel_helpers._sys.linux import PR_SET_NO_NEW_PRIVS
from kernel_helpers.errors import LabkitError
from kernel_helpers.namespaces import Namespace
from kernel_helpers.process import run_in_child
from kernel_helpers.runtime.foreground import run_captured
from kernel_helpers.runtime.run_options import spec_from_options
from kernel_helpers.security import seccomp
from kernel_helpers.security.capabilities import DOCKER_DEFAULT
from kernel_helpers.audit.escapes import errno_of
from kernel_helpers.security.hardening import Hardening, HardeningStage

pytestmark = pytest.mark.usefixtures("root")
_libc = ctypes.CDLL(None, use_errno=True)
SYS_CLONE3 = 435  # the same number on every architecture
ADDR_NO_RANDOMIZE = 0x0040000


def _errno(call) -> int:  # type: ignore[no-untyped-def]
    try:
        call()
    except LabkitError as err:
        return errno_of(err)
    except OSError as err:
        return err.errno or 0
    return 0


def _raw(ret: int) -> int:
    return ctypes.get_errno() if ret == -1 else 0


def _unshare_user_in_grandchild() -> int:
    return run_in_child(_errno, lambda: LINUX.unshare(Namespace.USER.flag))


def _attempts() -> dict[str, int]:
    """errno of each call Docker's profile must refuse (0 = it worked)."""
    return {
        "keyctl": _errno(lambda: LINUX.keyctl(0, -4, 0)),
        "unshare-user": _unshare_user_in_grandchild(),
        "mount": _errno(lambda: LINUX.mount("tmpfs", "/nonexistent-lk", "tmpfs")),
        "syslog": _errno(lambda: LINUX.syslog(10)),
        "vsock": _errno(lambda: socket.socket(40, socket.SOCK_STREAM).close()),
        "personality": _raw(_libc.personality(ctypes.c_ulong(ADDR_NO_RANDOMIZE | 0))),
        "clone3": _raw(_libc.syscall(ctypes.c_long(SYS_CLONE3), None, ctypes.c_size_t(0))),
        "io_uring": _errno(lambda: os.close(LINUX.io_uring_setup(1))),
    }


def _under_filter(caps: frozenset[str]) -> dict[str, int]:
    program = seccomp.compile_bpf(seccomp.docker_default(caps))
    LINUX.prctl(PR_SET_NO_NEW_PRIVS, 1)
    seccomp.load(program)
    result = _attempts()
    result["mode"] = seccomp.mode()
    pid = os.fork()  # plain fork and exec still work
    if pid == 0:
        os.execv("/bin/true", ["true"])
    result["fork+exec"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return result


def test_docker_profile_refuses_what_docker_refuses_with_the_right_errno() -> None:
    got = run_in_child(_under_filter, DOCKER_DEFAULT)
    assert got == {"keyctl": errno.EPERM, "unshare-user": errno.EPERM, "mount": errno.EPERM,
                   "syslog": errno.EPERM, "vsock": errno.EPERM, "personality": errno.EPERM,
                   "clone3": errno.ENOSYS, "io_uring": errno.EPERM, "mode": 2, "fork+exec": 0}


def test_without_the_filter_the_same_calls_are_not_refused_with_eperm() -> None:
    got = run_in_child(_attempts)
    assert got["keyctl"] == 0 and got["unshare-user"] == 0 and got["syslog"] == 0
    assert got["mount"] == errno.ENOENT  # the kernel looked at the path: nothing stopped it
    assert got["clone3"] != errno.ENOSYS  # EINVAL: a real clone3 that got bad arguments
    assert got["vsock"] != errno.EPERM
    assert got["io_uring"] == 0  # a ring was made (kernel.io_uring_disabled is 0 here)


def _io_uring_under_cached(profile: seccomp.Profile) -> int:
    program = seccomp.cached_bpf(profile)
    LINUX.prctl(PR_SET_NO_NEW_PRIVS, 1)
    seccomp.load(program)
    return _errno(lambda: os.close(LINUX.io_uring_setup(1)))


def test_the_cached_program_follows_the_profile_and_blocks_io_uring() -> None:
    """The on-disk cache is keyed by everything the program depends on: a profile that still
    allowed io_uring (the kit's before Docker 25's change) has another key and program."""
    current = seccomp.docker_default(DOCKER_DEFAULT)
    older = seccomp.Profile(current.rules + (seccomp.Rule("io_uring_setup"),))
    assert current.verdict("io_uring_setup") == "blocked" and older.verdict("io_uring_setup") == "allowed"
    assert seccomp.cache_key(current) != seccomp.cache_key(older)
    assert seccomp.cache_key(current) == seccomp.cache_key(seccomp.docker_default(DOCKER_DEFAULT))
    assert run_in_child(_io_uring_under_cached, older) == 0  # cached first: must not leak over
    assert run_in_child(_io_uring_under_cached, current) == errno.EPERM


def _mount_with_sys_admin_profile() -> int:
    caps = DOCKER_DEFAULT | {"SYS_ADMIN"}
    program = seccomp.compile_bpf(seccomp.docker_default(caps))
    LINUX.unshare(Namespace.MNT.flag)
    LINUX.mount(None, "/", None, 1 << 18 | 0x4000)  # MS_PRIVATE | MS_REC: nothing propagates out
    LINUX.prctl(PR_SET_NO_NEW_PRIVS, 1)
    seccomp.load(program)
    return _errno(lambda: LINUX.mount("tmpfs", "/mnt", "tmpfs"))


def test_keeping_sys_admin_opens_its_syscall_group_as_docker_does() -> None:
    assert seccomp.docker_default(DOCKER_DEFAULT | {"SYS_ADMIN"}).verdict("mount") == "allowed"
    assert seccomp.docker_default(DOCKER_DEFAULT).verdict("mount") == "blocked"
    assert run_in_child(_mount_with_sys_admin_profile) == 0


@pytest.mark.parametrize("opts, blocked", [(Hardening(), True),
                                           (Hardening(seccomp=False), False)])
def test_an_execed_command_in_the_container_meets_the_filter(opts: Hardening,
                                                              blocked: bool) -> None:
    # busybox's own unshare(1): creating a user namespace needs no capability, only seccomp stops it
    spec = spec_from_options(["/bin/sh", "-c", "grep Seccomp: /proc/self/status; unshare -U true"])
    code, out = run_captured(spec, (HardeningStage(opts),))
    assert ("Operation not permitted" in out) == blocked, out
    assert (code != 0) == blocked
    assert ("Seccomp:\t2" in out) == blocked


def test_without_no_new_privs_the_filter_still_goes_on_first() -> None:
    spec = spec_from_options(["/bin/grep", "-E", "NoNewPrivs|Seccomp:|CapEff", "/proc/self/status"])
    code, out = run_captured(spec, (HardeningStage(Hardening(no_new_privs=False)),))
    assert code == 0, out
    assert "NoNewPrivs:\t0" in out and "Seccomp:\t2" in out and "CapEff:\t00000000a80425fb" in out
