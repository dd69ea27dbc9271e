"""Loop devices backed by kit files: a real block device to throttle in the io/blkio labs.

A loop device turns a file into a block device (/dev/loopN, major 7). The kit
asks /dev/loop-control for a free one (LOOP_CTL_GET_FREE), binds its file
(LOOP_SET_FD), and later unbinds it (LOOP_CLR_FD) and deletes the file. Files
live in DATA_ROOT/loop/<lk id>.img, so `leftovers` finds any a crash left.

Taught in: lab 05.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from kernel_helpers import naming
from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers.cgroups import _owner
from kernel_helpers.cleanup import Leftover, Registry
from kernel_helpers.errors import Busy, LabkitError

LOOP_SET_FD = 0x4C00
LOOP_CLR_FD = 0x4C01
LOOP_CTL_GET_FREE = 0x4C82
OWNER_KIND = "loop"


@dataclass(frozen=True)
class LoopDevice:
    """A bound loop device: its node, its numbers (for io.max / blkio) and its backing file."""

    path: str
    major: int
    minor: int
    backing: str

    @property
    def name(self) -> str:
        return Path(self.backing).stem


def loop_dir() -> Path:
    return naming.DATA_ROOT / "loop"


def create(size: int = 64 << 20, registry: Registry | None = None,
           kernel: Kernel = LINUX) -> LoopDevice:
    """A fresh loop device over a sparse file of `size` bytes (detach it with `remove_device`).

    Taught in: lab 05.
    """
    name = naming.new_name()
    _owner.remember(OWNER_KIND, name)
    loop_dir().mkdir(parents=True, exist_ok=True)
    backing = str(loop_dir() / f"{name}.img")
    with open(backing, "wb") as f:
        f.truncate(size)
    try:
        device = _bind(backing, kernel)
    except BaseException:
        os.unlink(backing)
        _owner.forget(OWNER_KIND, name)
        raise
    if registry is not None:
        registry.push(f"loop device {device.path}", lambda: remove_device(device, kernel))
    return device


def _bind(backing: str, kernel: Kernel) -> LoopDevice:
    file_fd = os.open(backing, os.O_RDWR | os.O_CLOEXEC)
    control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        for _attempt in range(10):  # another process may take the free number first
            number = int(kernel.ioctl(control, LOOP_CTL_GET_FREE))
            path = f"/dev/loop{number}"
            loop_fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            try:
                kernel.ioctl(loop_fd, LOOP_SET_FD, file_fd)
            except Busy:
                continue
            finally:
                os.close(loop_fd)
            rdev = os.stat(path).st_rdev
            return LoopDevice(path, os.major(rdev), os.minor(rdev), backing)
        raise Busy("loop device", "no free loop device could be bound", "try again")
    finally:
        os.close(control)
        os.close(file_fd)


def remove_device(device: LoopDevice, kernel: Kernel = LINUX) -> None:
    """Unbind the device (if still bound to our file) and delete the file (idempotent)."""
    if _backing_of(device.path) == device.backing:
        fd = os.open(device.path, os.O_RDWR | os.O_CLOEXEC)
        try:
            kernel.ioctl(fd, LOOP_CLR_FD)
        except LabkitError:
            pass  # already unbound
        finally:
            os.close(fd)
    try:
        os.unlink(device.backing)
    except FileNotFoundError:
        pass
    _owner.forget(OWNER_KIND, device.name)


def _backing_of(path: str) -> str | None:
    try:
        text = Path(f"/sys/block/{Path(path).name}/loop/backing_file").read_text().strip()
    except OSError:
        return None
    return text.removesuffix(" (deleted)")


def _bound() -> list[LoopDevice]:
    """Loop devices whose backing file is one of the kit's."""
    found = []
    for entry in sorted(Path("/sys/block").glob("loop*")):
        backing = _backing_of(f"/dev/{entry.name}")
        if backing and Path(backing).parent == loop_dir() and naming.is_ours(Path(backing).stem):
            major, minor = (int(n) for n in (entry / "dev").read_text().split(":"))
            found.append(LoopDevice(f"/dev/{entry.name}", major, minor, backing))
    return found


def leftovers() -> list[Leftover]:
    """Kit loop devices and files whose owner is gone."""
    bound = {d.name: d for d in _bound()}
    files = {p.stem for p in loop_dir().glob("*.img")} if loop_dir().is_dir() else set()
    names = {n for n in bound.keys() | files if naming.is_ours(n)}
    def where(n: str) -> str:
        return bound[n].path if n in bound else str(loop_dir() / f"{n}.img")
    return [Leftover("loop device", n, where(n)) for n in sorted(names)
            if not _owner.owner_alive(OWNER_KIND, n)]


def remove(item: Leftover) -> None:
    backing = str(loop_dir() / f"{item.name}.img")
    path = item.where if item.where.startswith("/dev/") else ""
    remove_device(LoopDevice(path, 0, 0, backing))
