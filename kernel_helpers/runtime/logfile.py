"""A detached container's log: its output relayed through a pipe into a capped, rotated file.

    container stdout/stderr ──pipe──▶ supervisor ──▶ container.log   (rotated at max_size
                                                     container.log.1  into one older file)

The container never holds the log file itself, only the write end of a pipe:
a host file in its hands could be truncated, rewritten or grown without
bound. The supervisor copies the pipe into the file and rotates it at
`max_size`, keeping one older file, like Docker's json-file driver with
max-size and max-file=2. The supervisor's own messages go to the file directly.

Taught in: lab 10.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, TextIO

from kernel_helpers.errors import InvalidValue
from kernel_helpers.units import parse_size

DEFAULT_MAX_SIZE = 10 << 20
"""10 MiB, then the log rotates (Docker sets no default; its docs suggest 10m)."""
MIN_MAX_SIZE = 1 << 10
ROTATED = ".1"
"""Suffix of the one older file kept (container.log.1)."""
_CHUNK = 65536


def parse_max_size(text: str | None) -> int | None:
    """--log-max-size: a size of at least 1K, or "max" for no rotation; one sentence if wrong."""
    if text is None:
        return DEFAULT_MAX_SIZE
    size = parse_size(text, "--log-max-size")
    if size is not None and size < MIN_MAX_SIZE:
        raise InvalidValue(f"--log-max-size '{text}'", "is below 1K",
                           "give a size such as 10M, or max to never rotate")
    return size


def log_files(path: Path) -> list[Path]:
    """The log's files, oldest first: the rotated one (if any), then the current one."""
    return [p for p in (path.with_name(path.name + ROTATED), path) if p.exists()]


class ContainerLog:
    """The supervisor's side of a detached container's log (stdin becomes /dev/null)."""

    def __init__(self, path: Path, max_size: int | None = DEFAULT_MAX_SIZE) -> None:
        self.path, self.max_size = path, max_size
        self.fd = self._open()
        self._pipe = -1
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)

    def _open(self) -> int:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o640)
        for target in (1, 2):  # the supervisor's own messages
            os.dup2(fd, target)
        return fd

    @contextmanager
    def attached(self) -> Iterator[None]:
        """While the container starts, stdout and stderr are a fresh pipe it inherits."""
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        for target in (1, 2):
            os.dup2(write_end, target)  # dup2 clears CLOEXEC on 1 and 2 only
        os.close(write_end)
        try:
            yield
        except BaseException:
            for target in (1, 2):
                os.dup2(self.fd, target)
            self._drain(read_end)  # what it printed before failing
            raise
        for target in (1, 2):
            os.dup2(self.fd, target)
        self._pipe = read_end

    def relay(self, pid: int) -> None:
        """Copy the pipe into the file until `pid` (the container's PID 1) exits, then drain it.

        The exit is watched through a pidfd, not the pipe's EOF: a process the
        container left behind could hold the pipe open for ever.
        """
        pidfd = os.pidfd_open(pid)
        try:
            poller = select.poll()
            poller.register(self._pipe, select.POLLIN)
            poller.register(pidfd, select.POLLIN)
            done = False
            while not done:
                for fd, _ in poller.poll():
                    done = done or fd == pidfd or not self._copy(self._pipe)
        finally:
            os.close(pidfd)
            self._drain(self._pipe)
            self._pipe = -1

    def _copy(self, fd: int) -> bool:
        """One read from the pipe into the file; False at EOF."""
        data = os.read(fd, _CHUNK)
        if data:
            self.write(data)
        return bool(data)

    def _drain(self, fd: int) -> None:
        os.set_blocking(fd, False)
        try:
            while self._copy(fd):
                pass
        except BlockingIOError:
            pass
        finally:
            os.close(fd)

    def write(self, data: bytes) -> None:
        """Append `data`, rotating first if it would take the file past max_size."""
        size = os.fstat(self.fd).st_size
        if self.max_size is not None and size and size + len(data) > self.max_size:
            self.rotate()
        while data:
            data = data[os.write(self.fd, data):]

    def rotate(self) -> None:
        """container.log becomes container.log.1 (replacing it); a new, empty one is opened."""
        os.replace(self.path, self.path.with_name(self.path.name + ROTATED))
        old, self.fd = self.fd, self._open()
        os.close(old)


def print_log(path: Path, out: TextIO, alive: Callable[[], bool] | None = None) -> None:
    """Print the log, the rotated file first; with `alive`, follow it while that is true.

    Following survives rotation: when `path` names a new file, the old one is
    read to its end and the new one from its start (`tail -F`).
    """
    for older in log_files(path)[:-1]:
        out.write(older.read_bytes().decode(errors="replace"))
    log = _open_current(path)
    try:
        while True:
            if _copy_out(log, out):
                continue
            if _rotated(path, log):
                _copy_out(log, out)  # what came between the last read and the rotation
                log.close()
                log = _open_current(path)
                continue
            if alive is None or not alive():
                _copy_out(log, out)
                return
            time.sleep(0.1)
    finally:
        log.close()


def _copy_out(log: BinaryIO, out: TextIO) -> bool:
    chunk = log.read(_CHUNK)
    if chunk:
        out.write(chunk.decode(errors="replace"))
        out.flush()
    return bool(chunk)


def _rotated(path: Path, log: BinaryIO) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(log.fileno()).st_ino
    except FileNotFoundError:
        return False  # mid-rotation: the new file is not there yet


def _open_current(path: Path, wait: float = 1) -> BinaryIO:
    """Open the log, waiting out the instant between a rotation's rename and the new file."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return open(path, "rb")
        except FileNotFoundError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
