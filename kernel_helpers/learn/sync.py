"""`Sync`: a two-call handshake across fork, so no runtime ever sleeps to wait for the other side.

    sync = lk.Sync()
    pid = os.fork()
    if pid == 0:
        sync.wait()        # blocks until the parent has finished its part
        ...
    else:
        ...                # e.g. write uid maps, join the cgroup
        sync.release()

Taught in: lab 04, lab 05.
"""

from __future__ import annotations

import os


class Sync:
    """A pipe: `release()` in one process unblocks `wait()` in the other (each called once)."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()  # close-on-exec: the container's command never holds them

    def wait(self) -> None:
        """Block until the other process calls `release` (or exits: then raise)."""
        os.close(self._write)
        try:
            got = os.read(self._read, 1)
        finally:
            os.close(self._read)
        if got != b"x":
            raise ChildProcessError("the other side of the Sync exited without releasing it")

    def release(self) -> None:
        """Let the waiting process go on."""
        os.close(self._read)
        try:
            os.write(self._write, b"x")
        finally:
            os.close(self._write)
