"""Small file helpers every part of the kit shares."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from kernel_helpers import naming

PRIVATE_DIRS = ("layers", "containers", "images")
"""Data dirs holding what containers run and write: layers, upper dirs, plain rootfs dirs."""
USERNS_ROOT_GID = 100000
"""Host gid of root inside a `--userns` container (`IdMap`'s default): the one group let in."""


READABLE = 0o644
"""Records anyone may read: image records, container state, networks, exported layouts."""


def _temp_beside(path: Path) -> tuple[int, str]:
    """A new private (0600) file beside `path`, as tempfile.mkstemp makes one.

    Not tempfile itself: it imports random and shutil, ~3 ms of every container start.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        tmp = str(path.parent / f".{path.name}.{os.urandom(4).hex()}")
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue


def write_atomic(path: str | Path, text: str | bytes, mode: int | None = None) -> None:
    """Write `text` to `path` through a temp file and rename, so no reader sees half a file.

    State files, leases, image records, progress and notebooks are all read by other
    processes (another `labkit`, JupyterLab) while they may be rewritten.

    Args:
        mode: the file's mode. None keeps the mode and owner of the file replaced (a
            learner's notebook stays theirs), or for a new file gives what open()
            would (0666 less the umask); never the temp file's private 0600.
    """
    path = Path(path)
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
            _set_mode(f.fileno(), path, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def private_dir(path: str | Path, gid: int = 0) -> Path:
    """Make `path` (if missing) a dir only root and group `gid` may enter: root:gid 0710.

    The kit's data dirs hold files a container made as root, setuid ones
    included; if any local user could reach them, running one would make that
    user root (Docker's CVE-2021-41091). A dir made earlier with a looser mode
    (an upgraded machine) is tightened here too.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    st = os.stat(path)
    if (st.st_uid, st.st_gid) != (0, gid):
        os.chown(path, 0, gid)
    if st.st_mode & 0o7777 != 0o710:
        os.chmod(path, 0o710)
    return path


def private_data_dir(name: str) -> Path:
    """DATA_ROOT/`name` (one of PRIVATE_DIRS), private to root and the --userns root.

    0710 with the group of the user-namespace root, as Docker does for userns-remap:
    a `--userns` container mounts its overlay as that uid, so it must pass; anyone
    else stops here, before any setuid file a container made.
    """
    return private_dir(naming.DATA_ROOT / name, USERNS_ROOT_GID)


def _set_mode(fd: int, path: Path, mode: int | None) -> None:
    if mode is None:
        try:
            old = os.stat(path)
        except FileNotFoundError:
            mode = 0o666 & ~current_umask()
        else:
            mode = old.st_mode & 0o7777
            if os.geteuid() == 0:
                os.fchown(fd, old.st_uid, old.st_gid)
    os.fchmod(fd, mode)


def current_umask() -> int:
    """The process's umask, read without changing it (os.umask would, racing other threads)."""
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    return 0o022


@contextmanager
def flocked(path: str | Path, shared: bool = False) -> Iterator[None]:
    """Hold a flock on `path` (made if missing); the kernel drops it even on SIGKILL.

    Shared holders run side by side and exclude an exclusive one. Each call opens
    its own descriptor, so a process that holds the shared lock and asks for the
    exclusive one waits for itself: release first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
