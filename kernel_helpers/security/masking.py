"""Masked and read-only paths: the host-wide files /proc and /sys still show a container.

/proc and /sys are not fully namespaced: /proc/sys writes change the whole
machine, /proc/keys lists the host's keys, /proc/timer_list leaks what the
host runs. runc hides them the way this module plans it: a file is covered
with /dev/null, a directory with an empty read-only tmpfs, and the rest is
bind-mounted onto itself read-only. Paths this kernel lacks are skipped.

Device nodes are the other leak: root with CAP_MKNOD can `mknod` the host's
disk. Docker stops that with the devices cgroup; `nodev_steps` also marks
every writable mount nodev, which works the same on cgroup v1 and v2.

Taught in: lab 08.
"""

from __future__ import annotations

import os
from pathlib import Path

from kernel_helpers._sys.linux import (MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY,
                                       MS_REC, MS_REMOUNT)
from kernel_helpers.rootfs.mounts import MountStep

MASKED_PATHS: tuple[str, ...] = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi")
"""runc's default maskedPaths (`runc spec`), in its order."""

READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")
"""runc's default readonlyPaths."""

_RO_BIND = MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC


def plan_masking(root: str, masked: tuple[str, ...] = MASKED_PATHS,
                 readonly: tuple[str, ...] = READONLY_PATHS,
                 host: str = "/") -> list[MountStep]:
    """The mounts that mask and write-protect paths under `root` (before pivot_root).

    Whether a /proc or /sys path exists is checked on the host (`host`): a
    container's fresh /proc and /sys, not mounted yet, have the same entries,
    because they show the same kernel. Any other path is looked up in `root`.
    """
    steps: list[MountStep] = []
    hidden: list[str] = []  # a masked directory hides what is under it: nothing more to mask
    for path in masked:
        if any(path.startswith(f"{top.rstrip('/')}/") for top in hidden):
            continue
        kind = _kind(_where(root, host, path))
        if kind == "dir":
            hidden.append(path)
        target = f"{root}{path}"
        if kind == "dir":
            steps.append(MountStep("tmpfs", target, "tmpfs", MS_RDONLY,
                                   "nr_blocks=1,nr_inodes=1"))
        elif kind == "file":
            steps.append(MountStep("/dev/null", target, None, MS_BIND, make_file=True))
    for path in readonly:
        kind = _kind(_where(root, host, path))
        if kind:
            target = f"{root}{path}"
            steps.append(MountStep(target, target, None, _RO_BIND, make_file=kind == "file"))
    return steps


def nodev_steps(root: str, read_only_root: bool = False) -> list[MountStep]:
    """Remount the root and /dev nodev, so a device node made inside cannot be opened.

    The kit's /dev holds bind mounts of the few allowed devices, which keep
    their own mount flags, so they still work.
    """
    steps = [MountStep(None, f"{root}/dev", None, MS_REMOUNT | MS_NOSUID | MS_NOEXEC | MS_NODEV,
                       "mode=755,size=65536k")]
    if not read_only_root:  # a read-only root refuses mknod anyway (EROFS)
        steps.insert(0, MountStep(None, root, None, MS_REMOUNT | MS_BIND | MS_NODEV))
    return steps


def _where(root: str, host: str, path: str) -> Path:
    rel = path.lstrip("/")
    return Path(host if rel.split("/")[0] in ("proc", "sys") else root, rel)


def _kind(path: Path) -> str | None:
    if path.is_dir() and not path.is_symlink():
        return "dir"
    return "file" if os.path.lexists(path) else None
