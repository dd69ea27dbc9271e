"""A throwaway sandbox per learner: own pid, mount, net, ipc, uts and cgroup namespaces, own cgroup.

The grader makes one group under the kit's cgroup subtree (``labkit/lk…``, in
every hierarchy; on a hybrid machine also in the v2 tree, for ``cgroup.kill``)
with ``pids.max`` and a memory limit, starts the judge in it with new
namespaces (`judge`), and streams its JSON events. At the end, whatever
happened, every process in the group and below dies (``cgroup.kill``, or
SIGKILL to every member on v1), and the groups are removed bottom-up. A
learner's background process, setsid'd sleeper or detached container is in the
group (the cgroup namespace shows them no way out), so none outlives grading.

Taught in: lab 00 (the instructor's side).
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from kernel_helpers import naming
from kernel_helpers.cgroups import Cgroup, Limits, create, detect_layout
from kernel_helpers.cgroups.layout import Mode
from kernel_helpers.images.store import containers_fs_root
from kernel_helpers.namespaces import Namespace, unshare

NAMESPACES = frozenset({Namespace.PID, Namespace.MNT, Namespace.NET, Namespace.IPC, Namespace.UTS,
                        Namespace.CGROUP})
MEMORY = 1024 * 2**20
PIDS = 512
SUFFIX = "g"
"""Sandbox groups are named ``lk<8 hex>g``: a grading sandbox is told apart from containers."""
KIT_ROOT = Path(__file__).resolve().parents[2]


def enter(folders: list[str]) -> None:
    """In the judge's launcher, before any learner code exists: join every group, then new
    namespaces (the pid namespace is for the PID 1 it forks next). Done there rather than
    in a preexec_fn, so sandboxes can be started from several threads."""
    for path in folders:
        with open(os.path.join(path, "cgroup.procs"), "w", encoding="ascii") as f:
            f.write(str(os.getpid()))
    unshare(set(NAMESPACES))


def files_digest(paths: Iterable[Path]) -> str:
    """sha256 over each path and its bytes, in the order given: what must not change while
    learners are graded. A non-regular file counts by its name only (a FIFO planted there
    must not hang us)."""
    digest = hashlib.sha256()
    for path in paths:
        regular = stat.S_ISREG(os.lstat(path).st_mode)
        digest.update(str(path).encode() + b"\0" + (path.read_bytes() if regular else b"\1"))
    return digest.hexdigest()


def kit_digest(root: Path = KIT_ROOT) -> str:
    """A hash of the kit's code and course files: must not change while learners are graded.

    Every file under kernel_helpers/, bytecode too: a forged .pyc stamped with its source's
    mtime and size would be imported by the next process in place of the unchanged .py.
    """
    return files_digest(sorted([*(p for p in root.glob("kernel_helpers/**/*") if not p.is_dir()),
                                *root.glob("labs/**/*.py"), root / "labs" / "course.toml"]))


def _tree_pids(path: str) -> set[int]:
    found: set[int] = set()
    for folder, _, _ in os.walk(path):
        try:
            with open(os.path.join(folder, "cgroup.procs"), encoding="ascii") as f:
                found.update(int(p) for p in f.read().split())
        except OSError:
            continue
    return found


def _remove_tree(path: str, timeout: float = 10) -> None:
    """rmdir a cgroup folder and every group made under it, deepest first."""
    deadline = time.monotonic() + timeout
    while os.path.isdir(path):
        for folder, _subdirs, _ in os.walk(path, topdown=False):
            try:
                os.rmdir(folder)
            except OSError:
                pass
        if time.monotonic() > deadline:
            return
        time.sleep(0.02)


class Sandbox:
    """One learner's sandbox; use as a context manager, then `run(job)`."""

    def __init__(self, memory: int = MEMORY, pids: int = PIDS) -> None:
        self.name = naming.new_name() + SUFFIX
        layout = detect_layout()
        self.groups: list[Cgroup] = [create(self.name, Limits(memory=memory, pids=pids), layout)]
        if layout.mode is Mode.HYBRID:  # the v2 tree has cgroup.kill: one write kills them all
            try:
                self.groups.append(create(self.name, None, layout.v2_only()))
            except BaseException:
                self.groups[0].delete()
                raise
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def folders(self) -> list[str]:
        return sorted({path for group in self.groups for path in group.paths})

    def start(self, job: dict[str, Any]) -> None:
        for path in (str(naming.STATE_ROOT), str(containers_fs_root())):
            os.makedirs(path, exist_ok=True)
        job = dict(job, cgroup_mounts=sorted({str(Path(p).parents[1]) for p in self.folders}),
                   cgroup_folders=self.folders)
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "PYTHONPATH": str(KIT_ROOT), "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "kernel_helpers.course.judge", "init"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, env=env, cwd="/",
                                     close_fds=True)
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(job) + "\n").encode())
        self.proc.stdin.close()

    def events(self, deadline: float) -> Iterator[dict[str, Any]]:
        """The judge's events as they come; stops at its end, or at `deadline` (monotonic)."""
        assert self.proc is not None and self.proc.stdout is not None
        buffered = b""
        fd = self.proc.stdout.fileno()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                yield {"event": "timeout"}
                return
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return
            buffered += chunk
            while b"\n" in buffered:
                line, buffered = buffered.split(b"\n", 1)
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    yield event

    def kill(self) -> None:
        """Every process of the sandbox dies; then the groups go, deepest first."""
        v2 = [g for g in self.groups if g.version == 2]
        for group in v2:
            try:
                with open(os.path.join(group.paths[0], "cgroup.kill"), "w") as f:
                    f.write("1")
            except OSError:
                pass
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pids = set().union(*(_tree_pids(path) for path in self.folders))
            if not pids:
                break
            for pid in pids:  # v1 (no cgroup.kill): every member of every group below
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        if self.proc is not None:
            self.proc.wait()
            for pipe in (self.proc.stdout,):
                if pipe:
                    pipe.close()

    def remove(self) -> None:
        for path in sorted(self.folders, key=len, reverse=True):
            _remove_tree(path)
        for group in self.groups:
            group.delete()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.kill()
        finally:
            self.remove()
