"""What every escape attempt shares: its Outcome, the Context it runs with, and `why`.

The battery (`escapes`) and the modules that add attempts to it
(`attempts_kernel`, ...) all build on this module, so an attempt module never
imports the battery that lists it.

Taught in: lab 08.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers.errors import LabkitError
from kernel_helpers.security.capabilities import read_sets
from kernel_helpers.security.seccomp import Profile


@dataclass(frozen=True)
class Outcome:
    """What one attempt achieved, and what stopped it if it failed."""

    attempt: str
    escaped: bool
    detail: str
    stopped_by: str = ""

    def line(self) -> str:
        verdict = "ESCAPED" if self.escaped else "blocked"
        why = f" [stopped by: {self.stopped_by}]" if self.stopped_by else ""
        return f"{verdict:<8} {self.attempt:<13} {self.detail}{why}"


@dataclass(frozen=True)
class Context:
    """What the attempts need to know from outside the container."""

    host_uts: int
    """Inode of the host's uts namespace: sethostname is never tried from inside it."""
    host_pid: int
    """Inode of the host's pid namespace: a process in it is a host process."""
    profile: Profile | None = None
    """The seccomp profile in force (to tell a seccomp EPERM from a capability EPERM)."""
    disk: tuple[str, int, int] | None = None
    """A host block device (name, major, minor) for the mknod attempt (`pick_disk`)."""
    kernel: Kernel = LINUX


def errno_of(err: LabkitError) -> int:
    """The raw errno behind a seam error (the seam chains the OSError as __cause__)."""
    return getattr(err.__cause__, "errno", 0) or 0


def why(err: LabkitError | OSError, ctx: Context, syscall: str, cap: str = "") -> str:
    """Name the mechanism behind a failure, from the errno and what is in force."""
    code = (err.errno or 0) if isinstance(err, OSError) else errno_of(err)
    name = errno.errorcode.get(code, str(code))
    if code == errno.EPERM:
        if ctx.profile is not None and ctx.profile.verdict(syscall) == "blocked":
            return f"seccomp profile ({name})"
        if cap and cap not in read_sets().effective:
            return f"missing CAP_{cap} ({name})"
        if cap and Path("/proc/self/uid_map").read_text().split()[:2] != ["0", "0"]:
            return f"user namespace: CAP_{cap} counts only inside it ({name})"
    if code == errno.EACCES:
        return f"permission denied ({name})"
    if code == errno.EROFS:
        return f"read-only mount ({name})"
    if code == errno.ENOSYS:
        return f"this kernel lacks it ({name})"
    return name


def try_call(fn: Callable[[], object]) -> LabkitError | OSError | None:
    """Run `fn`; return the error it raised, or None if it worked."""
    try:
        fn()
    except (LabkitError, OSError) as err:
        return err
    return None


def open_for_write(path: str) -> None:
    os.close(os.open(path, os.O_WRONLY))  # no write(2): opening is the whole test
