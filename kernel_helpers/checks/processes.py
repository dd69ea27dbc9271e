"""Checks of lab 01's notebook answers: processes in /proc, and nested pid namespaces.

The runtime step of lab 01 (run, in myruntime.py) is judged by the harness
(kernel_helpers.course.harness), not here.

Taught in: lab 01.
"""

from __future__ import annotations

import os
import subprocess
import time

from kernel_helpers.checks._probe import reap
from kernel_helpers.procfs import status_field
from kernel_helpers.course.checks import call, check, fail
from kernel_helpers.namespaces import Namespace, unshare

SLEEP = ("sleep", "30")


@check("pid.parent")
def parent(answer: object) -> str:
    """Compare the learner's /proc reader with parents the check knows for sure."""
    child = subprocess.Popen(SLEEP)
    try:
        for pid, truth, who in ((child.pid, os.getpid(), "a child the check started"),
                                (os.getpid(), os.getppid(), "the check process")):
            got = call(answer, pid)
            if got != truth:
                raise fail(f"`parent_of` gave the wrong parent for {who}",
                           "read the PPid: line of /proc/PID/status and return it as an int")
    finally:
        reap(child.pid)
    return "your reader finds a process's parent in /proc/PID/status"


@check("pid.nested")
def nested(answer: object) -> str:
    """Nest pid namespaces two deep and ask for the pid of each process at every level."""
    ready_r, ready_w = os.pipe()
    outer = os.fork()
    if outer == 0:  # stays in the check's namespace; its child is PID 1 of namespace 1
        os.close(ready_r)
        unshare({Namespace.PID})
        if os.fork() == 0:
            unshare({Namespace.PID})
            if os.fork() == 0:  # PID 1 of namespace 2, PID 2 of namespace 1
                os.execvp(SLEEP[0], list(SLEEP))
            os.wait()
            os._exit(0)
        os.write(ready_w, b"x")
        os.wait()
        os._exit(0)
    os.close(ready_w)
    os.read(ready_r, 1)
    os.close(ready_r)
    chain = [outer]
    try:
        chain = _chain(outer)
        for depth, pid in enumerate(chain):
            truth = [int(x) for x in status_field(pid, "NSpid")]
            if len(truth) != depth + 1 or (depth and truth[-1] != 1):
                raise fail("the check could not build nested pid namespaces on this machine")
            if _as_list(call(answer, pid)) != truth:
                raise fail(f"`nspids` is wrong for a process {depth} pid namespace(s) deep",
                           "split the NSpid: line of /proc/PID/status into ints, outermost first")
    finally:
        for pid in reversed(chain):  # killing a namespace's PID 1 ends everything in it
            reap(pid)
    return "your reader gives a process's pid at every level of nested pid namespaces"


def _as_list(value: object) -> list[object]:
    if not isinstance(value, (list, tuple)):
        raise fail(f"`nspids` returned a {type(value).__name__}, not a list",
                   "return a list of ints such as [4242, 7, 1]")
    return list(value)


def _chain(outer: int, seconds: float = 3.0) -> list[int]:
    """[outer, its child, its grandchild] (host pids), waiting for them to appear."""
    chain = [outer]
    deadline = time.monotonic() + seconds
    while len(chain) < 3 and time.monotonic() < deadline:
        try:
            with open(f"/proc/{chain[-1]}/task/{chain[-1]}/children", encoding="ascii") as f:
                kids = f.read().split()
        except FileNotFoundError:
            kids = []
        if kids:
            chain.append(int(kids[0]))
        else:
            time.sleep(0.01)
    if len(chain) < 3:
        raise fail("the check could not build nested pid namespaces on this machine")
    return chain
