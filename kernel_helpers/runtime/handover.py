"""The last steps before a container's command runs, shared by its PID 1 and `labkit exec`.

runc's init and its `exec` (setns) process end the same way, and so do the
kit's: stdio only, the container's user, then exec. Hardening itself is
`security.hardening.apply`, called by both just before `become`.

Taught in: lab 09.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import sys
from typing import NoReturn

from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers.errors import NotFound, NotRoot
from kernel_helpers.security.hardening import become

__all__ = ["become", "close_inherited_fds", "drop_supplementary_groups", "exec_command",
           "present_as"]

PR_SET_NAME = 15
PR_SET_MM = 35
PR_SET_MM_MAP = 14
_STAT_FIELDS = {"start_code": 26, "end_code": 27, "start_stack": 28, "start_data": 45,
                "end_data": 46, "start_brk": 47, "arg_start": 48, "arg_end": 49,
                "env_start": 50, "env_end": 51}
"""Where /proc/self/stat lists each address (proc(5), counting from 1)."""
_kept: list[mmap.mmap] = []
"""The page the new argv and environment live on: it must stay mapped for good."""


class _MmMap(ctypes.Structure):
    """struct prctl_mm_map (include/uapi/linux/prctl.h)."""

    _fields_ = [*((name, ctypes.c_uint64) for name in (
        "start_code", "end_code", "start_data", "end_data", "start_brk", "brk", "start_stack",
        "arg_start", "arg_end", "env_start", "env_end", "auxv")),
        ("auxv_size", ctypes.c_uint32), ("exe_fd", ctypes.c_uint32)]


def drop_supplementary_groups(kernel: Kernel = LINUX) -> None:
    """Forget the caller's extra groups (root's `0`, an admin's `sudo`...).

    Done before entering or making a user namespace: inside one whose setgroups
    is "deny" (the kit's), setgroups(2) is refused, and any group kept would
    stay with the container as an unmapped id.
    """
    kernel.setgroups([])




def close_inherited_fds(keep: int) -> None:
    """Keep stdin, stdout, stderr and `keep` (the kit's close-on-exec channel); close the rest.

    Nothing the caller had open (a shell's redirect, the kit's own files) may
    reach the container's command (as runc's close_range before exec).
    """
    os.closerange(3, keep)
    os.closerange(keep + 1, os.sysconf("SC_OPEN_MAX"))


def exec_command(command: tuple[str, ...] | list[str], env: dict[str, str]) -> NoReturn:
    """execve the command (searching PATH as a shell does), or one sentence why not."""
    try:
        os.execvpe(command[0], list(command), env)
    except FileNotFoundError:
        raise NotFound(f"command '{command[0]}'", "was not found in the container",
                       "check the command and that the rootfs has it (try /bin/sh)") from None
    except PermissionError:
        raise NotRoot(f"command '{command[0]}'", "is not executable",
                      "check its mode bits inside the rootfs") from None


def present_as(argv: list[str], env: dict[str, str], kernel: Kernel = LINUX) -> None:
    """Make /proc/self/cmdline, environ and comm show `argv` and `env`, and nothing else.

    The kit's init is the forked `labkit run` process, whose argv and environment
    (the admin's command line, SUDO_USER, paths, tokens...) sit in its stack, where
    /proc/1/cmdline and /proc/1/environ read them from inside the container. They
    are zeroed, and prctl(PR_SET_MM_MAP) (which needs no capability, for CRIU)
    points the kernel at a fresh page holding only what is given here.
    """
    argv_bytes = b"".join(os.fsencode(arg) + b"\0" for arg in argv)
    env_bytes = b"".join(os.fsencode(f"{key}={value}") + b"\0" for key, value in env.items())
    # Private: the kernel reads cmdline with FOLL_ANON, which a shared (shmem) page fails.
    page = mmap.mmap(-1, max(mmap.PAGESIZE, len(argv_bytes) + len(env_bytes)),
                     flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    page.write(argv_bytes + env_bytes)
    _kept.append(page)
    base = ctypes.addressof(ctypes.c_char.from_buffer(page))
    with open("/proc/self/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    old = {name: int(fields[number - 3]) for name, number in _STAT_FIELDS.items()}
    libc = ctypes.CDLL(None, use_errno=True)
    libc.sbrk.restype = ctypes.c_void_p
    new = _MmMap(**{**old, "brk": libc.sbrk(0) or old["start_brk"], "auxv": 0, "auxv_size": 0,
                    "exe_fd": 0xFFFFFFFF, "arg_start": base, "arg_end": base + len(argv_bytes),
                    "env_start": base + len(argv_bytes),
                    "env_end": base + len(argv_bytes) + len(env_bytes)})
    kernel.prctl(PR_SET_MM, PR_SET_MM_MAP, ctypes.addressof(new), ctypes.sizeof(new))
    for start, end in ((old["arg_start"], old["arg_end"]), (old["env_start"], old["env_end"])):
        ctypes.memset(start, 0, end - start)  # the old strings, still readable in /proc/1/mem
    name = ctypes.create_string_buffer(os.fsencode(argv[0])[:15])
    kernel.prctl(PR_SET_NAME, ctypes.addressof(name))
    os.environ.clear()
    sys.argv[:] = argv
