"""A group where an OCI config's linux.cgroupsPath puts it, rather than under the kit's folder.

An absolute path is taken from each hierarchy's root (``/cgrouptest`` is
``/sys/fs/cgroup/memory/cgrouptest`` on v1); a relative one from the runtime's
own group, per hierarchy on v1 (as runc resolves it). The folders the kit made
on the way are removed with the group, so nothing is left behind.

Taught in: lab 09.
"""

from __future__ import annotations

import os
import posixpath

from kernel_helpers import procfs
from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers.cgroups._read import read_text
from kernel_helpers.cgroups._write import apply_writes, make_folder, remove_folder
from kernel_helpers.cgroups.controllers import names
from kernel_helpers.cgroups.group import Cgroup
from kernel_helpers.cgroups.layout import Layout, Mode, detect_layout
from kernel_helpers.cgroups.limits import Limits, Write
from kernel_helpers.cleanup import Registry
from kernel_helpers.errors import InvalidValue, KernelFeatureMissing


def resolve(path: str, layout: Layout, pid: int | str = "self") -> dict[str, str]:
    """controller -> the group's folder for `path` ('' on v2: one folder for all)."""
    parts = [p for p in path.split("/") if p]
    if not parts or ".." in parts:
        raise InvalidValue(f"linux.cgroupsPath '{path}'", "is not a cgroup path",
                           "use a path such as /mygroup or mygroup/sub, without '..'")
    clean = "/".join(parts)
    own = dict(procfs.cgroups(pid)) if not path.startswith("/") else {}
    if layout.version == 2:
        base = "" if path.startswith("/") else own.get("", "/")
        return {"": posixpath.join(str(layout.v2_root), base.lstrip("/"), clean)}
    folders = {}
    for controller, mount in layout.v1.items():
        base = ""
        if not path.startswith("/"):
            base = next((where for names, where in own.items()
                         if controller in names.split(",")), "/")
        folders[controller] = posixpath.join(mount, base.lstrip("/"), clean)
    return folders


def create_at(path: str, limits: Limits | None = None, layout: Layout | None = None,
              registry: Registry | None = None, kernel: Kernel = LINUX) -> Cgroup:
    """Make the group at `path` (and any missing parent) with `limits`; all or nothing."""
    layout = layout or detect_layout()
    if layout.mode is Mode.NONE:
        raise KernelFeatureMissing("cgroups", "no cgroup filesystem is mounted",
                                   "mount cgroup2 on /sys/fs/cgroup (the lab VM does)")
    folders = resolve(path, layout)
    made: list[str] = []
    group = Cgroup(posixpath.basename(path.rstrip("/")), layout.version, {}, sorted(
        {posixpath.dirname(folder) for folder in folders.values()}), kernel)
    try:
        for folder in sorted(set(folders.values())):
            _make_parents(folder, made, kernel)
            if os.path.isdir(folder):
                continue
            make_folder(folder, kernel=kernel)
            made.append(folder)
        if layout.version == 2:
            (folder,) = set(folders.values())
            offered = (read_text(folder, "cgroup.controllers") or "").split()
            group.folders = {c: folder for c in offered}
        else:
            group.folders = folders
            _fill_cpuset(group, kernel)
        if limits is not None:
            group.apply(limits)
    except BaseException:
        _remove(group, made, kernel)
        raise
    if registry is not None:
        registry.push(f"cgroup {path}", lambda: _remove(group, made, kernel))
    return group


def _make_parents(folder: str, made: list[str], kernel: Kernel) -> None:
    """mkdir each missing parent; on v2 turn the kit's controllers on down the path."""
    missing = []
    parent = posixpath.dirname(folder)
    while not os.path.isdir(parent):
        missing.append(parent)
        parent = posixpath.dirname(parent)
    enable_controllers(parent, kernel)
    for step in reversed(missing):
        make_folder(step, kernel=kernel)
        made.append(step)
        enable_controllers(step, kernel)


def enable_controllers(folder: str, kernel: Kernel = LINUX) -> None:
    """v2: turn on, for `folder`'s children, the kit's controllers it is offered (no-op on v1)."""
    if not os.path.exists(os.path.join(folder, "cgroup.subtree_control")):
        return  # v1
    offered = (read_text(folder, "cgroup.controllers") or "").split()
    on = (read_text(folder, "cgroup.subtree_control") or "").split()
    missing = [c for c in names(2) if c in offered and c not in on]
    if missing:
        apply_writes({"": folder}, [Write("", "cgroup.subtree_control",
                                          " ".join(f"+{c}" for c in missing))],
                     [posixpath.dirname(folder)], kernel)


def _fill_cpuset(group: Cgroup, kernel: Kernel) -> None:
    """A new v1 cpuset group is empty: copy cpus and mems down from its parent."""
    from_parent = []
    folder = group.folders.get("cpuset")
    while folder and not (read_text(folder, "cpuset.cpus") or "").strip():
        from_parent.append(folder)
        folder = posixpath.dirname(folder)
    for child in reversed(from_parent):
        parent = posixpath.dirname(child)
        for name in ("cpuset.cpus", "cpuset.mems"):
            apply_writes({"": child}, [Write("", name, read_text(parent, name) or "")],
                         [parent], kernel)


def _remove(group: Cgroup, made: list[str], kernel: Kernel) -> None:
    """Empty and remove the group, then the parents this run made (deepest first)."""
    group.delete()
    for folder in sorted(made, key=len, reverse=True):
        remove_folder(folder, 5, kernel)
