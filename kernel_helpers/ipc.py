"""System V IPC objects, to show what the ipc namespace isolates.

A message queue, semaphore set or shared memory segment lives in the ipc
namespace it was made in; /proc/sysvipc/* lists only that namespace's objects.

Taught in: lab 02.
"""

from __future__ import annotations

from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers.errors import InvalidValue

IPC_CREAT = 0o1000
IPC_RMID = 0
KINDS = ("msg", "sem", "shm")
"""File names under /proc/sysvipc/, and the kinds `make` and `remove` accept."""


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise InvalidValue(f"IPC kind '{kind}'", "is not a System V IPC kind",
                           f"use one of: {', '.join(KINDS)}")
    return kind


def make(kind: str, key: int, kernel: Kernel = LINUX) -> int:
    """Create (or open) a `kind` object under `key`; returns its id."""
    flags = IPC_CREAT | 0o600
    if _kind(kind) == "msg":
        return kernel.msgget(key, flags)
    if kind == "sem":
        return kernel.semget(key, 1, flags)
    return kernel.shmget(key, 4096, flags)


def remove(kind: str, ident: int, kernel: Kernel = LINUX) -> None:
    """Delete the object with id `ident`."""
    if _kind(kind) == "msg":
        kernel.msgctl(ident, IPC_RMID)
    elif kind == "sem":
        kernel.semctl(ident, 0, IPC_RMID)
    else:
        kernel.shmctl(ident, IPC_RMID)


def keys(kind: str, proc: str = "/proc") -> set[int]:
    """Keys of the `kind` objects visible in the caller's ipc namespace."""
    with open(f"{proc}/sysvipc/{_kind(kind)}", encoding="ascii") as f:
        rows = f.read().splitlines()[1:]
    return {int(row.split()[0]) for row in rows if row.strip()}
