"""Where a learner's runtime is graded: the judge's mount namespace, a scratch tmpfs, one cgroup
per case, and the janitor that removes and reports whatever the runtime left.

- The judge (this process) takes its own mount namespace, a *slave* of the host's (nothing
  flows back to the machine, nor into the judge's view); only the scratch tmpfs is *shared*
  with the runtimes (a learner mount that forgets MS_PRIVATE propagates into the judge's
  table there, where it is counted, and never onto the machine).
- It also takes its own uts and ipc namespaces (lab 02): a runtime that sets the hostname
  before unsharing, or makes a queue in the wrong namespace, changes only the judge's copy,
  where the case sees it, and never the machine's.
- Each case runs in a fresh cgroup under the kit's `labkit/` subtree with pids.max and
  memory.max; killing it (cgroup.kill, or freeze-kill-thaw on v1) reaches every process
  the runtime made, detached or not.
- The janitor, after every case: kill what is left in the group and its child groups,
  unmount what is new in the judge's table (deepest first), remove child groups and the
  case's folder. It returns one line per thing it removed, with no pids or times.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from kernel_helpers import cgroups, procfs
from kernel_helpers._sys import LINUX
from kernel_helpers._sys.linux import MNT_DETACH, MS_REC, MS_SHARED, MS_SLAVE, PR_SET_DUMPABLE
from kernel_helpers.cgroups import Cgroup, Limits
from kernel_helpers.cgroups.at_path import enable_controllers
from kernel_helpers.cgroups.layout import SUBTREE
from kernel_helpers.errors import LabkitError
from kernel_helpers.namespaces import Namespace, unshare

PIDS_MAX = 64
"""Tasks a case may have at once: a fork bomb stops here."""
MEMORY_MAX = 256 << 20
"""Bytes a case may use: a memory hog is OOM-killed inside its group."""


def enter_judge_namespace() -> None:
    """Own mount, uts and ipc namespaces; the mount one a slave of the host's: nothing flows
    back to the machine (no runtime's mistake renames it either), and nothing a runtime
    mounts reaches the judge's view except inside the scratch tmpfs.

    Only the scratch is shared with the runtimes (`scratch`): a learner mount that forgets
    MS_PRIVATE shows up there, in the judge's table. Everything else is a slave, so a
    runtime that mounts a fake /proc, /sys/fs/cgroup or a module folder in its own
    namespace changes its own view only, never what the judge reads or imports.

    The judge is also made not dumpable: a runtime without CAP_SYS_PTRACE (judge.RUNTIME_DENIED)
    then cannot ptrace it, read its memory, or open its stdout through /proc/PID/fd.
    """
    LINUX.prctl(PR_SET_DUMPABLE, 0)
    unshare({Namespace.MNT, Namespace.UTS, Namespace.IPC})
    LINUX.mount(None, "/", None, MS_REC | MS_SLAVE)


@contextmanager
def scratch() -> Iterator[Path]:
    """A tmpfs for the cases' folders, in the judge's namespace only (never seen on the machine)."""
    path = Path(tempfile.mkdtemp(prefix="labkit-grade-"))
    os.chmod(path, 0o755)
    try:
        LINUX.mount("tmpfs", str(path), "tmpfs", 0, "size=128m,mode=755")
        LINUX.mount(None, str(path), None, MS_SHARED)
        try:
            yield path
        finally:
            LINUX.umount2(str(path), MNT_DETACH)
    finally:
        os.rmdir(path)


def mount_table() -> list[tuple[int, str]]:
    """(mount id, mount point) of every mount in the judge's table: what "the host" sees."""
    return [(m.mount_id, m.target) for m in procfs.mounts("self")]


RUNTIME_LEAF = "runtime"
"""v2 only: the child of the case's group the runtime starts in (see `runtime_home`)."""


def new_group() -> Cgroup:
    return cgroups.create(limits=Limits(pids=PIDS_MAX, memory=MEMORY_MAX))


def runtime_home(group: Cgroup) -> list[str]:
    """The folders the runtime process starts in: the case's group itself on v1. On v2 only a
    leaf may hold processes once its group's children have controllers (lab 05: the learner's
    group needs memory.max and pids.max), so the runtime starts in a leaf of the case's group,
    and the controllers are turned on for the group's children."""
    if group.version == 1:
        paths: list[str] = group.paths
        return paths
    enable_controllers(group.paths[0])
    leaf = os.path.join(group.paths[0], RUNTIME_LEAF)
    os.mkdir(leaf)
    return [leaf]


def pids_within(group: Cgroup) -> list[int]:
    """Every process in the case's group or any group below it (lab 05: the container's own)."""
    return sorted({*group.pids(), *(p for folder in _child_groups(group) for p in _procs(folder))})


def descendants(pid: int) -> list[int]:
    """Every live descendant of `pid`, from the PPid field of each /proc/N/stat (a container
    the runtime moved out of the case's group is still its child)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        fields = procfs.stat_fields(entry) if entry.isdigit() else []
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return sorted(found)


def strays(group: Cgroup, pid: int, prefix: str) -> list[str]:
    """The folders of `pid`'s groups outside the case's group that a runtime made: below the
    kit's folder and named with its run prefix (lab 05: a group made in the wrong parent).
    The janitor empties and removes them, and says so."""
    layout = cgroups.detect_layout()
    roots = {"": layout.v2_root} if layout.version == 2 else layout.v1
    try:
        lines = procfs.cgroups(pid)
    except OSError:
        return []
    found = set()
    for controllers, path in lines:
        for name in controllers.split(",") if controllers else [""]:
            root = roots.get(name)
            folder = os.path.normpath(f"{root}{path}") if root else ""
            kit = os.path.join(str(root), SUBTREE)
            if (folder.startswith(kit + os.sep) and os.path.basename(folder).startswith(prefix)
                    and not any(folder == p or folder.startswith(p + os.sep)
                                for p in group.paths)):
                found.add(folder)
    return sorted(found)


def _child_groups(group: Cgroup) -> list[str]:
    """Folders the runtime made inside the case's group, deepest first."""
    found = []
    for path in group.paths:
        for folder, dirs, _ in os.walk(path):
            found += [os.path.join(folder, d) for d in dirs]
    return sorted(found, key=lambda p: p.count("/"), reverse=True)


def _procs(folder: str) -> list[int]:
    try:
        with open(os.path.join(folder, "cgroup.procs"), encoding="ascii") as f:
            return [int(p) for p in f.read().split()]
    except FileNotFoundError:
        return []


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8") as f:
            return f.read().strip()
    except OSError:
        return "?"


def janitor(group: Cgroup, baseline: set[int], case_dir: Path, runtime_done: bool,
            outside: list[str] | None = None) -> list[str]:
    """Remove everything a case left; return a sentence per kind of leftover (deterministic).

    `outside`: groups of the container's outside the case's group (`strays`), emptied and
    removed like the case's own child groups."""
    report: list[str] = []
    for folder in [f for f in outside or [] if os.path.isdir(f)]:
        group_wait_empty(folder)
        report.append("a cgroup it made outside spec.cgroup_parent")
        try:
            os.rmdir(folder)
        except OSError:
            pass
    children = _child_groups(group)
    left = sorted({_comm(p) for folder in [*group.paths, *children] for p in _procs(folder)})
    if left and runtime_done:
        report.append(f"processes still running after your runtime returned ({', '.join(left)})")
    if _procs_anywhere(group, children):
        group.kill()
        for folder in children:
            for pid in _procs(folder):
                _kill(pid)
    for folder in children:
        rel = os.path.relpath(folder, next(p for p in group.paths if folder.startswith(p)))
        if not (group.version == 2 and rel == RUNTIME_LEAF):  # the judge's own
            report.append(f"a cgroup it made ({rel})")
        group_wait_empty(folder)
        try:
            os.rmdir(folder)
        except OSError:
            pass
    extra = [(mid, point) for mid, point in mount_table() if mid not in baseline]
    for _, point in sorted(extra, key=lambda item: item[1].count("/"), reverse=True):
        shown = point.replace(str(case_dir), "<case>")
        report.append(f"a mount at {shown} on the host")
        try:
            LINUX.umount2(point, MNT_DETACH)
        except LabkitError:
            pass
    try:
        group.delete()
    except LabkitError as err:
        report.append(f"its cgroup could not be removed ({err})")
    shutil.rmtree(case_dir, ignore_errors=True)
    return _dedupe(report)


def _procs_anywhere(group: Cgroup, children: list[str]) -> bool:
    return bool(group.pids()) or any(_procs(folder) for folder in children)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def group_wait_empty(folder: str) -> None:
    """Wait (bounded) until the kernel has emptied a killed group's cgroup.procs."""
    deadline = time.monotonic() + 5
    while _procs(folder) and time.monotonic() < deadline:
        for pid in _procs(folder):
            _kill(pid)
        time.sleep(0.01)


def _dedupe(lines: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    for line in lines:
        seen[line] = seen.get(line, 0) + 1
    return [line if n == 1 else f"{line} (x{n})" for line, n in seen.items()]
