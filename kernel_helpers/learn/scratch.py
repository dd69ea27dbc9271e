"""The throwaway copy of busybox that ``myruntime.py run --rootfs busybox`` runs on.

Named after the runtime process that made it (pid and start time), so the kit's sweeper
can tell a copy whose runtime was SIGKILLed (nobody will remove it) from one still in
use by a running learner's runtime (never touched).

Taught in: lab 03 (the CLI's --rootfs busybox).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from kernel_helpers.cleanup import Leftover, remove_tree
from kernel_helpers.process import same_process, start_time
from kernel_helpers.rootfs.busybox import busybox_rootfs

PREFIX = "labkit-rootfs-"
"""Start of every copy's folder name in the temp dir: ``labkit-rootfs-PID-START-xxxx``."""


def busybox_copy() -> str:
    """A fresh folder holding a copy of the busybox image at ``rootfs``; returns the folder."""
    me = os.getpid()
    folder = tempfile.mkdtemp(prefix=f"{PREFIX}{me}-{start_time(me)}-")
    shutil.copytree(busybox_rootfs(), f"{folder}/rootfs", symlinks=True)
    return folder


def _owner(name: str) -> tuple[int, int] | None:
    parts = name[len(PREFIX):].split("-")
    if len(parts) < 3 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1])


def leftovers() -> list[Leftover]:
    """Copies whose runtime is gone (a copy of the old unnamed kind counts as gone too)."""
    top = Path(tempfile.gettempdir())
    found = []
    for entry in sorted(top.glob(f"{PREFIX}*")):
        owner = _owner(entry.name)
        if entry.is_dir() and not (owner and same_process(*owner)):
            found.append(Leftover("rootfs-copy", entry.name, str(entry)))
    return found


def remove(item: Leftover) -> None:
    remove_tree(item.where)
