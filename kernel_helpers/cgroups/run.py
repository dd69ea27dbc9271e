"""Run Python code inside a group: the labs' and tests' way to put a workload under limits.

The child joins the group *before* it does any work, so every byte and
microsecond it uses is charged to the group.

Taught in: lab 06.
"""

from __future__ import annotations

import os
import traceback
from typing import Any, Callable, TypeVar

from kernel_helpers.cgroups.group import Cgroup
from kernel_helpers.process import run_in_child

T = TypeVar("T")


def _joined(group: Cgroup, fn: Callable[..., T], *args: Any) -> T:
    group.add(os.getpid())
    return fn(*args)


def run_in(group: Cgroup, fn: Callable[..., T], *args: Any, timeout: float | None = 60) -> T:
    """Call ``fn(*args)`` in a forked child inside `group`; return its value or raise its error."""
    return run_in_child(_joined, group, fn, *args, timeout=timeout)


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
        except BaseException:  # noqa: BLE001 - a child must never return into the caller
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
