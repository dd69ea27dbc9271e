"""System V IPC objects, to show what the ipc namespace isolates.

A message queue, semaphore set or shared memory segment lives in the ipc
namespace it was made in; /proc/sysvipc/* lists only that namespace's objects.

Taught in: lab 02.
"""

from __future__ import annotations

import ctypes
import os

from kernel_helpers.errors import InvalidValue, translate_oserror

_libc = ctypes.CDLL(None, use_errno=True)
IPC_CREAT = 0o1000
IPC_RMID = 0
KINDS = ("msg", "sem", "shm")
"""File names under /proc/sysvipc/, and the kinds `make` and `remove` accept."""


def _check(ret: int, what: str) -> int:
    if ret == -1:
        code = ctypes.get_errno()
        raise translate_oserror(OSError(code, os.strerror(code)), what)
    return ret


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidValue(f"IPC kind '{kind}'", "is not a System V IPC kind",
                           f"use one of: {', '.join(KINDS)}")
    return kind


def make(kind: str, key: int) -> int:
    """Create (or open) a `kind` object under `key`; returns its id."""
    flags = IPC_CREAT | 0o600
    if _kind(kind) == "msg":
        return _check(_libc.msgget(key, flags), "msgget")
    if kind == "sem":
        return _check(_libc.semget(key, 1, flags), "semget")
    return _check(_libc.shmget(key, ctypes.c_size_t(4096), flags), "shmget")


def remove(kind: str, ident: int) -> None:
    """Delete the object with id `ident`."""
    if _kind(kind) == "msg":
        _check(_libc.msgctl(ident, IPC_RMID, None), "msgctl IPC_RMID")
    elif kind == "sem":
        _check(_libc.semctl(ident, 0, IPC_RMID), "semctl IPC_RMID")
    else:
        _check(_libc.shmctl(ident, IPC_RMID, None), "shmctl IPC_RMID")


def keys(kind: str, proc: str = "/proc") -> set[int]:
    """Keys of the `kind` objects visible in the caller's ipc namespace."""
    with open(f"{proc}/sysvipc/{_kind(kind)}", encoding="ascii") as f:
        rows = f.read().splitlines()[1:]
    return {int(row.split()[0]) for row in rows if row.strip()}
