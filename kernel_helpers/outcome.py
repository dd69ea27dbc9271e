"""One envelope for a result that crosses a process boundary: a value, a LabkitError or a crash.

`run_in_child`, the in-container probe, the checks' two-phase children and the detached
supervisor all ship their answer this way, so the other side always reads it the same way:
the value comes back, a LabkitError is raised again as itself, and anything else is a crash
reported in one sentence (with its first line) instead of a traceback.
"""

from __future__ import annotations

import os
import pickle
from typing import Any, Callable

from kernel_helpers.errors import KernelError, LabkitError

OK, ERR, CRASH = "ok", "err", "crash"


def pack(value: Any) -> bytes:
    """A successful answer."""
    return pickle.dumps((OK, value))


def pack_error(err: LabkitError) -> bytes:
    """An answer that is one of the kit's sentences."""
    return pickle.dumps((ERR, err))


def pack_call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> bytes:
    """Call `fn` and pack whatever comes of it (never raises, except for what pickling refuses)."""
    try:
        return pack(fn(*args, **kwargs))
    except LabkitError as err:
        return pack_error(err)
    except BaseException as err:  # shipped to the other side as text
        import traceback  # only for a crash: not on every container start
        return pickle.dumps((CRASH, f"{type(err).__name__}: {err}\n{traceback.format_exc()}"))


def bug(who: str, text: str) -> LabkitError:
    """The default reading of a crash: a bug in the kit, named by its first line."""
    return KernelError(who, "raised an unexpected error",
                       f"this is a bug in the kit; details: {text.splitlines()[0]}")


def unpack(data: bytes, who: str, empty: LabkitError,
           crash: Callable[[str, str], LabkitError] = bug) -> Any:
    """The value packed in `data`; raise its LabkitError, `crash(who, text)`, or `empty` if none."""
    if not data:
        raise empty
    kind, value = pickle.loads(data)
    if kind == ERR:
        raise value
    if kind == CRASH:
        raise crash(who, value)
    return value


def write_all(fd: int, data: bytes) -> None:
    """write(2) until all of `data` is out (a pipe takes at most 64 KiB at a time)."""
    while data:
        data = data[os.write(fd, data):]


def read_all(fd: int) -> bytes:
    """read(2) until EOF."""
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)
