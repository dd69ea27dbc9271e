"""The host block device the escape battery's mknod attempt aims at.

A device counts only if host root can read its first sector: one that host root
cannot read proves nothing when a container fails to read it either.

Taught in: lab 08.
"""

from __future__ import annotations

import os

SECTOR = 512


def disk_candidates(sys_block: str = "/sys/block") -> list[str]:
    """Block device names, whole disks (vda, sda) before loop and RAM disks."""
    return sorted(os.listdir(sys_block), key=lambda n: (n.startswith(("loop", "ram", "zram")), n))


def reads_a_sector(path: str) -> bool:
    """Whether the first sector of `path` can be read in full.

    Opening proves little: an empty floppy or CD drive (fd0, sr0) opens and then
    fails with EIO, and a loop device with no file (or an empty one) reads 0 bytes.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        return len(os.pread(fd, SECTOR, 0)) == SECTOR
    except OSError:
        return False
    finally:
        os.close(fd)


def pick_disk(names: list[str] | None = None) -> tuple[str, int, int] | None:
    """Host side: the first block device whose first sector host root reads (name, major, minor).

    `names` defaults to `disk_candidates()`; a device host root cannot read proves
    nothing inside a container.
    """
    for name in disk_candidates() if names is None else names:
        path = f"/dev/{name}"
        if reads_a_sector(path):
            rdev = os.stat(path).st_rdev
            return name, os.major(rdev), os.minor(rdev)
    return None
