"""Run Python code inside a group: the labs' and tests' way to put a workload under limits.

The child joins the group *before* it does any work, so every byte and
microsecond it uses is charged to the group.

Taught in: lab 05.
"""

from __future__ import annotations

import mmap
import os
import struct
import traceback
from typing import Any, Callable, TypeVar

from kernel_helpers.cgroups.group import Cgroup
from kernel_helpers.process import run_in_child, signal_process

T = TypeVar("T")


def _joined(group: Cgroup, fn: Callable[..., T], *args: Any) -> T:
    group.add(os.getpid())
    return fn(*args)


def run_in(group: Cgroup, fn: Callable[..., T], *args: Any, timeout: float | None = 60) -> T:
    """Call ``fn(*args)`` in a forked child inside `group`; return its value or raise its error."""
    result: T = run_in_child(_joined, group, fn, *args, timeout=timeout)
    return result


def start_in(group: Cgroup, fn: Callable[..., object], *args: Any) -> int:
    """Fork a child that joins `group`, then runs ``fn(*args)`` and exits 0 (1 on error).

    Returns once the child is in the group; the caller reaps it (os.waitpid).
    """
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(ready_r)
            group.add(os.getpid())
            os.write(ready_w, b"1")
            os.close(ready_w)
            fn(*args)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(ready_w)
    ok = os.read(ready_r, 1)
    os.close(ready_r)
    if not ok:
        os.waitpid(pid, 0)
        raise ChildProcessError("the child could not join the group")
    return pid


def _count_forever(shared: mmap.mmap) -> None:
    n = 0
    while True:
        n += 1
        shared[:8] = struct.pack("Q", n)


class Counter:
    """A process in `group` counting as fast as it can, into memory shared with the caller.

    The freezer lab watches it: frozen, `value` stops changing; thawed, it moves on.
    """

    def __init__(self, group: Cgroup) -> None:
        self._shared = mmap.mmap(-1, 8)
        self.pid = start_in(group, _count_forever, self._shared)

    @property
    def value(self) -> int:
        return int(struct.unpack("Q", self._shared[:8])[0])

    def stop(self) -> None:
        """Kill and reap the counting process (a frozen one dies too, once it is thawed)."""
        signal_process(self.pid)
        os.waitpid(self.pid, 0)
