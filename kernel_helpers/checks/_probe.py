"""Small readers and process helpers the checks share (internal).

Checks read kernel state themselves, straight from /proc, instead of asking
the learner's code what happened.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from kernel_helpers.course.checks import CheckFailed, fail
from kernel_helpers import procfs
from kernel_helpers.namespaces import namespaces_of
from kernel_helpers.process import signal_process
from kernel_helpers.outcome import pack_call, read_all, unpack, write_all


def ns_inode(pid: int | str, kind: str) -> int:
    """The inode of `pid`'s namespace of `kind` (equal inodes: same namespace)."""
    return namespaces_of(pid)[kind].inode


def mount_fstypes(pid: int | str = "self") -> dict[str, str]:
    """Mount point -> filesystem type, from /proc/PID/mountinfo (last mount wins)."""
    return {mount.target: mount.fstype for mount in procfs.mounts(pid)}


def reap(pid: int) -> None:
    """Kill and wait for a child the check (or the learner's code) started."""
    if not signal_process(pid):
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def two_phase(before: Callable[[], None], between: Callable[[int], Any],
              after: Callable[[], Any]) -> tuple[Any, Any]:
    """Fork a child that runs `before`, waits while the parent runs `between(pid)`, then `after`.

    Used where the parent must act on a child half-way through, e.g. write the
    uid map of a child that has just made its user namespace. Returns
    ``(between's result, after's result)``; a CheckFailed in the child comes back as one.
    """
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(ready_r)
        os.close(go_w)

        def phases() -> Any:
            try:
                before()
                os.write(ready_w, b"r")
                if os.read(go_r, 1) != b"g":
                    os._exit(1)
                return after()
            except CheckFailed:
                raise
            except Exception as err:  # the learner's code failed: a failed check, not a kit bug
                raise fail(f"{type(err).__name__}: {err}") from None
        write_all(ready_w, pack_call(phases))
        os._exit(0)
    os.close(ready_w)
    os.close(go_r)
    try:
        if os.read(ready_r, 1) != b"r":
            raise fail("the test process stopped before it was ready")
        middle = between(pid)
        os.write(go_w, b"g")
        data = read_all(ready_r)
    finally:
        os.close(ready_r)
        os.close(go_w)
        reap(pid)
    value = unpack(data, "check", fail("no answer"), crash=lambda _who, text: fail(text.splitlines()[0]))
    return middle, value
