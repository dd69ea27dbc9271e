"""The kit's typed errors: one sentence saying what is wrong and what to do.

Every error the kit raises on purpose is a `LabkitError`. The CLI and the TUI
catch it at one boundary and show `str(err)`; nothing else is caught broadly.
"""

from __future__ import annotations

import errno
import os


class LabkitError(Exception):
    """A problem the learner can fix, told as "<subject>: <problem>. <fix>."."""

    def __init__(self, subject: str, problem: str, fix: str) -> None:
        self.subject = subject
        self.problem = problem
        self.fix = fix
        super().__init__(subject, problem, fix)

    def __str__(self) -> str:
        fix = self.fix.rstrip(".")
        return f"{self.subject}: {self.problem}. {fix[:1].upper()}{fix[1:]}."

    def __reduce__(self):  # type: ignore[no-untyped-def]
        # Errors cross process boundaries (run_in_child pickles them back).
        return (self.__class__, (self.subject, self.problem, self.fix))


class NotRoot(LabkitError):
    """The operation needs root (CAP_SYS_ADMIN and friends)."""


class KernelFeatureMissing(LabkitError):
    """This kernel (or its configuration) lacks a feature the kit needs."""


class NameTaken(LabkitError):
    """A name or address is already in use."""


class InvalidValue(LabkitError):
    """An argument has the wrong form; the message names the valid form."""


class NotFound(LabkitError):
    """A file, container, image or other named thing does not exist."""


class Busy(LabkitError):
    """A resource is still in use (EBUSY) and cannot be changed now."""


class KernelError(LabkitError):
    """A syscall failed for a reason with no better-fitting class."""


for _cls in (LabkitError, NotRoot, KernelFeatureMissing, NameTaken, InvalidValue,
             NotFound, Busy, KernelError):
    _cls.__module__ = "kernel_helpers"


def translate_oserror(err: OSError, what: str) -> LabkitError:
    """Turn an OSError from `what` (e.g. "mount /proc") into the fitting LabkitError.

    This is the only place errno values are interpreted; the seam calls it.
    """
    code = err.errno or 0
    reason = os.strerror(code) if code else str(err)
    if code == errno.EPERM or code == errno.EACCES:
        return NotRoot(what, f"permission denied ({reason})",
                       "run as root, e.g. with sudo, inside the lab VM")
    if code == errno.ENOENT:
        return NotFound(what, "no such file or directory", "check the path exists")
    if code == errno.EEXIST:
        return NameTaken(what, "it already exists", "pick another name or remove the old one")
    if code == errno.EBUSY:
        return Busy(what, "the resource is busy", "stop what uses it, or run `labkit cleanup`")
    if code in (errno.ENOSYS, errno.EOPNOTSUPP, errno.ENODEV):
        return KernelFeatureMissing(what, f"this kernel does not support it ({reason})",
                                    "run `labkit doctor` to see what this machine supports")
    if code == errno.ENOSPC:
        return KernelError(what, f"out of space or ids ({reason})", "free some, or run `labkit cleanup`")
    return KernelError(what, f"failed with {errno.errorcode.get(code, code)} ({reason})",
                       "run `labkit doctor`, then `labkit cleanup`, and try again")
