"""Small file helpers every part of the kit shares."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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
