"""Checks of lab 05: a process's cgroups, and a pids limit written by hand.

Each check makes its own group under the kit's subtree (`labkit`), on cgroup
v1 or v2, whichever the machine has, and deletes it on every path.

Taught in: lab 05.
"""

from __future__ import annotations

import os
import time

from kernel_helpers import procfs
from kernel_helpers import cgroups
from kernel_helpers.cgroups.run import start_in
from kernel_helpers.checks._probe import reap, two_phase
from kernel_helpers.course.checks import call, check, fail

MAX_TASKS = 4
TRIES = 10


def _cgroup_lines(pid: int) -> dict[str, str]:
    """controller ("" for the v2 tree) -> path, read from /proc/PID/cgroup by the check."""
    return {controller: path for controllers, path in procfs.cgroups(pid)
            for controller in (controllers.split(",") if controllers else [""])}


@check("cgroup.paths")
def paths(answer: object) -> str:
    group = cgroups.create()
    try:
        pid = start_in(group, time.sleep, 30)
        try:
            truth = _cgroup_lines(pid)
            got = call(answer, pid)
            if not isinstance(got, dict):
                raise fail(f"`cgroup_paths` returned a {type(got).__name__}, not a dict",
                           "return {controller: path}, with '' for the v2 line '0::/path'")
            wanted = "" if group.version == 2 else "pids"
            if not str(got.get(wanted, "")).endswith("/" + group.name):
                raise fail(f"`cgroup_paths` does not place the process in its group "
                           f"(looked at {wanted or 'the v2 entry'!r})",
                           "split each line on ':' into id, controllers, path; "
                           "controllers are comma-separated")
            if got != truth:
                raise fail("`cgroup_paths` differs from /proc/PID/cgroup for some controllers",
                           "give every controller of a line (e.g. 'cpu,cpuacct') the line's path")
        finally:
            reap(pid)
    finally:
        group.delete()
    return "your reader finds the process's group in every hierarchy"


def _fork_many() -> int:
    """Try to start TRIES sleepers; return how many forks the kernel allowed."""
    made = []
    for _ in range(TRIES):
        try:
            pid = os.fork()
        except BlockingIOError:  # EAGAIN: pids.max reached
            continue
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        made.append(pid)
    for pid in made:
        reap(pid)
    return len(made)


@check("cgroup.pids-limit")
def pids_limit(answer: object) -> str:
    group = cgroups.create()
    try:
        folder = group.folders["pids"]
        _, forks = two_phase(lambda: None, lambda pid: call(answer, folder, pid, MAX_TASKS),
                             _fork_many)
        with open(os.path.join(folder, "pids.max"), encoding="ascii") as f:
            limit = f.read().strip()
        if limit != str(MAX_TASKS):
            raise fail(f"pids.max of the group is '{limit}', not {MAX_TASKS}",
                       "write the number to the file pids.max in the group's folder")
        if forks >= TRIES:
            raise fail("the process could still fork without limit",
                       "write its pid to the file cgroup.procs in the group's folder")
        if forks != MAX_TASKS - 1:
            raise fail(f"the process could fork {forks} times; with {MAX_TASKS} tasks "
                       f"allowed it should be {MAX_TASKS - 1}",
                       "set pids.max before the process starts forking")
    finally:
        group.delete()
    return f"the kernel refused every fork past {MAX_TASKS} tasks in the group"
