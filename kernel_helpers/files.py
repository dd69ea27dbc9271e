"""Small file helpers every part of the kit shares."""

from __future__ import annotations

import fcntl
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def write_atomic(path: str | Path, text: str | bytes) -> None:
    """Write `text` to `path` through a temp file and rename, so no reader sees half a file.

    State files, leases, image records, progress and notebooks are all read by other
    processes (another `labkit`, JupyterLab) while they may be rewritten.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


@contextmanager
def flocked(path: str | Path) -> Iterator[None]:
    """Hold an exclusive flock on `path` (made if missing); the kernel drops it even on SIGKILL."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
