"""cgroups for a learner's runtime: a group is a path, the same on cgroup v1 and v2.

A path is relative to the cgroup root, as OCI's linux.cgroupsPath is
(``labkit/lk1a2b3c4d/lkg4242``). On v2 it is one folder under /sys/fs/cgroup; on v1
it is one folder in every mounted hierarchy (memory, pids, cpu, ...). These calls
hide that, and are thin: the folders come from `kernel_helpers.cgroups.at_path`
(which also turns the controllers on down the path on v2 and fills a new v1 cpuset),
and a limit's file from the kit's own plan (`cgroups.plan`)::

    path = f"{lk.CGROUP_PARENT}/lk42"
    lk.make_cgroup(path)
    lk.write_limit(path, "memory.max", 64 << 20)   # memory.limit_in_bytes on v1
    lk.add_to_cgroup(path, pid)
    ...                                            # the process exits, is waited for
    lk.rmdir_cgroup(path)

Errors are `OSError`s with a one-sentence hint (`kernel_helpers.learn.sys`).

Taught in: lab 05.
"""

from __future__ import annotations

import errno
import os

from kernel_helpers._sys import LINUX
from kernel_helpers.cgroups._write import remove_folder
from kernel_helpers.cgroups.at_path import create_at, resolve
from kernel_helpers.cgroups.controllers import plan
from kernel_helpers.cgroups.layout import SUBTREE, detect_layout
from kernel_helpers.cgroups.limits import Limits
from kernel_helpers.errors import LabkitError
from kernel_helpers.learn.sys import HINTS, _call, error_for
from kernel_helpers.units import parse_size

CGROUP_PARENT = SUBTREE
"""The kit's own folder under the cgroup root: where a runtime's groups go when the spec
names no cgroup_parent."""

KNOBS = ("memory.max", "pids.max")
"""The limits `write_limit` knows, by their v2 names."""

HINTS.update({
    ("make_cgroup", errno.EEXIST): "a group of that name is already there: put the runtime's "
                                   "pid or a random suffix in the name",
    ("make_cgroup", errno.EACCES): "making cgroups needs root: run the runtime as root",
    ("write_limit", errno.EINVAL): "the kernel refused that value, or the knob is not one of "
                                   "memory.max and pids.max",
    ("write_limit", errno.ENOENT): "no such group: make it first (lk.make_cgroup)",
    ("add_to_cgroup", errno.ENOENT): "no such group: make it first (lk.make_cgroup)",
    ("add_to_cgroup", errno.ESRCH): "no such process: move the child in before it can exit",
    ("add_to_cgroup", errno.ENOSPC): "a v1 cpuset group with no CPUs or memory nodes takes no "
                                     "process: make groups with lk.make_cgroup, which copies "
                                     "them from the parent",
    ("rmdir_cgroup", errno.EBUSY): "a process is still in the group: wait for the container "
                                   "(os.waitpid) before removing its group",
})


def cgroup_folders(path: str) -> list[str]:
    """The folders of group `path`: one on v2, one per mounted hierarchy on v1.

    Taught in: lab 05.
    """
    return sorted(set(resolve("/" + path.strip("/"), detect_layout()).values()))


def make_cgroup(path: str) -> list[str]:
    """Make group `path` (and any missing parent) in every hierarchy; returns its folders.

    Taught in: lab 05.
    """
    if any(os.path.isdir(folder) for folder in cgroup_folders(path)):
        raise error_for("make_cgroup", errno.EEXIST, (path,))
    _call("make_cgroup", lambda p: create_at("/" + p.strip("/")), path)
    return cgroup_folders(path)


def write_limit(path: str, knob: str, value: int | str) -> None:
    """Write one limit of group `path`, named as on v2 (``memory.max`` takes bytes or "64M",
    ``pids.max`` a count); on v1 the same limit goes to v1's file (memory.limit_in_bytes).

    Taught in: lab 05.
    """
    if knob not in KNOBS:
        raise error_for("write_limit", errno.EINVAL, (path, knob, value))
    try:
        limits = (Limits(memory=parse_size(value, "memory limit")) if knob == "memory.max"
                  else Limits(pids=int(value)))
    except (ValueError, TypeError, LabkitError) as err:  # LabkitError: not a size
        raise error_for("write_limit", errno.EINVAL, (path, knob, value)) from err
    layout = detect_layout()
    folders = resolve("/" + path.strip("/"), layout)
    for write in plan(limits, layout.version):
        folder = folders.get("" if layout.version == 2 else write.controller)
        if folder is None:
            raise error_for("write_limit", errno.ENOENT, (path, knob, value))
        _call("write_limit", LINUX.write_knob, os.path.join(folder, write.file), write.value)


def add_to_cgroup(path: str, pid: int) -> None:
    """Move process `pid` into group `path` in every hierarchy (its later children start there).

    Taught in: lab 05.
    """
    for folder in cgroup_folders(path):
        _call("add_to_cgroup", LINUX.write_knob, os.path.join(folder, "cgroup.procs"), str(pid))


def rmdir_cgroup(path: str) -> None:
    """Remove group `path` from every hierarchy; it must hold no process any more.

    Taught in: lab 05.
    """
    for folder in cgroup_folders(path):
        _call("rmdir_cgroup", remove_folder, folder, 0)  # no retry: EBUSY is the lesson
