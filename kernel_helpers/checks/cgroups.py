"""Checks of lab 05: a process's cgroups (the limits are graded on the learner's runtime).

The check makes its own group under the kit's subtree (`labkit`), on cgroup
v1 or v2, whichever the machine has, and deletes it on every path.

Taught in: lab 05.
"""

from __future__ import annotations

import time

from kernel_helpers import procfs
from kernel_helpers import cgroups
from kernel_helpers.cgroups.run import start_in
from kernel_helpers.checks._probe import reap
from kernel_helpers.course.checks import call, check, fail


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
