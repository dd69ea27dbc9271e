"""Nothing leaks: undo what was made (Registry) and sweep what a crash left (sweep).

Every resource the kit creates is named with `naming.PREFIX` and recorded under
`naming.STATE_ROOT`, so `labkit cleanup` can find it even after a SIGKILL.
Each mechanism module that creates resources offers two functions,
``leftovers() -> list[Leftover]`` and ``remove(item: Leftover) -> None``, and
is listed in `SWEEPERS` (in removal order: processes before cgroups, and so on).
"""

from __future__ import annotations

import importlib
import shutil
import signal
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType, ModuleType
from typing import Callable, Iterator

from kernel_helpers.errors import LabkitError

SWEEPERS: tuple[str, ...] = (
    "kernel_helpers.state",     # container processes and their state dirs
    "kernel_helpers.net.sweep",         # dead leases, stray kit links and nft tables
    "kernel_helpers.cgroups.group",     # kit cgroups whose owner is gone (kills what is left in them)
    "kernel_helpers.cgroups.loopdev",   # loop devices over kit files (after cgroups that throttle them)
    "kernel_helpers.images.containerfs",  # container upper/work dirs, killed imports' temp dirs
    "kernel_helpers.rootfs.mounts",     # mounts under the kit's directories
    "kernel_helpers.audit.escapes",  # device nodes a killed mknod attempt left in an image
    "kernel_helpers.learn.scratch",  # scratch folders of learner runtimes that were SIGKILLed
)
"""Modules with leftovers()/remove(), swept in this order."""


@dataclass(frozen=True)
class Leftover:
    """Something the kit made that is still there: its kind, name and where it lives."""

    kind: str
    name: str
    where: str

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.where})"


class Registry:
    """Undo actions registered at creation time, run last-in first-out.

    Use as a context manager: on any exception (including KeyboardInterrupt and
    the SystemExit raised for SIGTERM/SIGHUP) everything registered is undone.
    """

    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], object]]] = []

    def push(self, what: str, undo: Callable[[], object]) -> None:
        """Remember how to undo `what`, right after it was made (what `undo` returns is ignored)."""
        self._undo.append((what, undo))

    def unwind(self) -> list[str]:
        """Undo everything, newest first; return the sentences of undo steps that failed."""
        problems = []
        while self._undo:
            what, undo = self._undo.pop()
            try:
                undo()
            except (LabkitError, OSError) as err:
                problems.append(f"undo {what}: {err}")
        return problems

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.unwind()


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


@contextmanager
def signals_unwind() -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into SystemExit so `Registry` blocks unwind on them too."""
    old = {sig: signal.signal(sig, _exit_on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _sweeper_modules() -> list[ModuleType]:
    return [importlib.import_module(name) for name in SWEEPERS]


def leftovers() -> list[Leftover]:
    """Everything the kit made that is still present on this machine."""
    found: list[Leftover] = []
    for module in _sweeper_modules():
        found.extend(module.leftovers())
    return found


def sweep() -> tuple[list[Leftover], list[str]]:
    """Remove every leftover; return what was removed and sentences for what could not be."""
    removed: list[Leftover] = []
    problems: list[str] = []
    for module in _sweeper_modules():
        for item in module.leftovers():
            try:
                module.remove(item)
                removed.append(item)
            except (LabkitError, OSError) as err:
                problems.append(f"{item}: {err}")
    return removed, problems


def remove_tree(path: str) -> None:
    """rmtree that ignores a path already gone (cleanup must be idempotent)."""
    shutil.rmtree(path, ignore_errors=False, onerror=_ignore_missing)


def _ignore_missing(func: Callable, path: str, exc_info: tuple) -> None:  # type: ignore[type-arg]
    if not isinstance(exc_info[1], FileNotFoundError):
        raise exc_info[1]

