"""Image provenance: are the layers the ones the image names, and what is in them?

A layer's name is the sha256 of its tar, so re-hashing the stored tar proves
it is unchanged since import. The content listing shows what the container
would run, with what deserves a second look flagged: setuid/setgid programs
(root power on exec), device nodes, and world-writable files.

Taught in: lab 08.
"""

from __future__ import annotations

import os
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from kernel_helpers.errors import InvalidValue, LabkitError

_TAR_KINDS = {tarfile.REGTYPE: ("file", stat.S_IFREG), tarfile.AREGTYPE: ("file", stat.S_IFREG),
              tarfile.DIRTYPE: ("dir", stat.S_IFDIR), tarfile.SYMTYPE: ("link", stat.S_IFLNK),
              tarfile.LNKTYPE: ("hardlink", stat.S_IFREG), tarfile.CHRTYPE: ("char", stat.S_IFCHR),
              tarfile.BLKTYPE: ("block", stat.S_IFBLK), tarfile.FIFOTYPE: ("fifo", stat.S_IFIFO)}


@dataclass(frozen=True)
class LayerCheck:
    """One layer of an image: its digest and whether the stored tar still has it."""

    digest: str
    ok: bool
    problem: str = ""

    def line(self) -> str:
        return f"{'verified' if self.ok else 'MISMATCH'} {self.digest}" + (
            f"  {self.problem}" if self.problem else "")


@dataclass(frozen=True)
class Entry:
    """One path in an image or rootfs, with what makes it interesting."""

    path: str
    kind: str
    mode: int
    size: int
    origin: str
    """The layer digest it comes from, or the rootfs directory."""

    @property
    def flags(self) -> list[str]:
        found = []
        if self.kind == "file" and self.mode & stat.S_ISUID:
            found.append("setuid")
        if self.kind == "file" and self.mode & stat.S_ISGID:
            found.append("setgid")
        if self.kind in ("char", "block"):
            found.append("device")
        if self.kind == "file" and self.mode & stat.S_IWOTH:
            found.append("world-writable")
        return found

    def line(self) -> str:
        return f"{stat.filemode(self.mode) if self.mode else '?':<10} {self.size:>9} {self.path}" + (
            f"  [{','.join(self.flags)}]" if self.flags else "")


def verify_image(ref: str) -> list[LayerCheck]:
    """Re-hash every layer of image `ref` against its digest (bottom layer first)."""
    from kernel_helpers.images import layers, store
    checks = []
    for digest in store.get(ref).layers:
        try:
            layers.verify_layer(digest)
            checks.append(LayerCheck(digest, True))
        except LabkitError as err:  # a digest mismatch, or the tar is gone
            checks.append(LayerCheck(digest, False, err.problem))
    return checks


def image_content(ref: str) -> list[Entry]:
    """Every path each layer adds, read from the layer tars (checked first)."""
    from kernel_helpers.images import layers
    entries = []
    for check in verify_image(ref):
        if not check.ok:
            raise InvalidValue(f"layer {check.digest[:19]}…", check.problem,
                               "re-import the image; its content cannot be trusted")
        with tarfile.open(layers.layer_dir(check.digest) / layers.LAYER_TAR) as tar:
            for member in tar:
                kind, type_bits = _TAR_KINDS.get(member.type, ("other", 0))
                entries.append(Entry("/" + member.name.removeprefix("./").lstrip("/"), kind,
                                     member.mode | type_bits, member.size, check.digest))
    return entries


def rootfs_content(root: str | Path) -> list[Entry]:
    """Every path under a rootfs directory, sorted (for a rootfs that is not an image)."""
    root = Path(root)
    entries = []
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            path = Path(directory, name)
            info = path.lstat()
            entries.append(Entry("/" + str(path.relative_to(root)), _kind(info.st_mode),
                                 info.st_mode, info.st_size, str(root)))
    return entries


def _kind(mode: int) -> str:
    for test, kind in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "link"),
                       (stat.S_ISCHR, "char"), (stat.S_ISBLK, "block"), (stat.S_ISFIFO, "fifo")):
        if test(mode):
            return kind
    return "other"
