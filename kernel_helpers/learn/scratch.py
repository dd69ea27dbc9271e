"""The scratch folder of one ``myruntime.py run``: the busybox copy of ``--rootfs busybox``, the
container dir of ``--image`` (lab 06).

Named after the runtime process that made it (pid and start time), so the kit's sweeper
can tell a folder whose runtime was SIGKILLed (nobody will remove it) from one still in
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

PREFIX = "labkit-run-"
"""Start of every scratch folder's name in the temp dir: ``labkit-run-PID-START-xxxx``."""


def run_folder() -> str:
    """A fresh private folder for one run's scratch (a busybox copy, a container dir)."""
    me = os.getpid()
    return tempfile.mkdtemp(prefix=f"{PREFIX}{me}-{start_time(me)}-")


def busybox_copy(folder: str) -> str:
    """Copy the busybox image to ``folder/rootfs``; return that path."""
    rootfs = f"{folder}/rootfs"
    shutil.copytree(busybox_rootfs(), rootfs, symlinks=True)
    return rootfs


def _owner(name: str) -> tuple[int, int] | None:
    parts = name[len(PREFIX):].split("-")
    if len(parts) < 3 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1])


def leftovers() -> list[Leftover]:
    """Scratch folders whose runtime is gone."""
    top = Path(tempfile.gettempdir())
    found = []
    for entry in sorted(top.glob(f"{PREFIX}*")):
        owner = _owner(entry.name)
        if entry.is_dir() and not (owner and same_process(*owner)):
            found.append(Leftover("run-scratch", entry.name, str(entry)))
    return found


def remove(item: Leftover) -> None:
    remove_tree(item.where)
