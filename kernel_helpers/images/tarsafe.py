"""Unpack a layer tar without ever writing outside the destination.

A layer tar comes from strangers. Classic attacks: a member named
``../../etc/cron.d/x`` or ``/etc/passwd`` (path traversal), a symlink
``evil -> /etc`` followed by a member ``evil/passwd`` (writing through a
link), a hard link to a host file, or a device node such as ``/dev/sda``.
Every member is checked before anything is written for it; the first bad
one stops the whole unpack (the caller removes the half-made directory).

Absolute symlinks *are* allowed: inside a container they resolve against the
container's root (``/etc/mtab -> /proc/self/mounts`` is in most images), and
this extractor never follows a symlink, so they cannot redirect a write.
That includes the owners, modes and times applied after the data: a
directory's are applied last (its children would bump its mtime), through a
descriptor opened component by component with O_NOFOLLOW, never by path. A
member that replaces a directory with something else is refused, since
that is how a directory entry followed by a same-named symlink to a host file
made tar extractors chmod the host file (CPython's CVE-2024-12718).

The OCI/AUFS whiteout files are turned into overlayfs' form on the way:
``.wh.NAME`` becomes a 0/0 character device NAME, ``.wh..wh..opq`` sets
``trusted.overlay.opaque="y"`` on its directory.

Taught in: lab 06.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
import tarfile
from pathlib import Path
from typing import IO

from kernel_helpers.errors import InvalidValue
from kernel_helpers.rootfs.overlay import make_whiteout, set_opaque

WHITEOUT_PREFIX = ".wh."
"""OCI/AUFS form of a deletion: an empty file named .wh.<deleted name>."""
OPAQUE_MARKER = ".wh..wh..opq"
"""OCI/AUFS form of an opaque directory: this empty file inside it."""
CHUNK = 1 << 20


class UnsafeArchive(InvalidValue):
    """A tar member that would write outside the destination (or a node not allowed)."""


UnsafeArchive.__module__ = "kernel_helpers"


def _refuse(name: str, problem: str) -> UnsafeArchive:
    return UnsafeArchive(f"layer member '{name}'", problem,
                         "the archive is refused and nothing of it was kept; use a trusted image")


def member_parts(name: str) -> list[str]:
    """Split a member name into components; refuse absolute names and any `..`."""
    if name.startswith("/"):
        raise _refuse(name, "has an absolute path")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(name, "climbs out with '..'")
    return parts


def _parent_dir(dest: Path, parts: list[str], name: str) -> Path:
    """The member's parent dir under dest, made if missing, never through a symlink."""
    path = dest
    for part in parts[:-1]:
        path = path / part
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path, 0o755)
            continue
        if stat.S_ISLNK(st.st_mode):
            raise _refuse(name, f"would be written through the symlink '{part}'")
        if not stat.S_ISDIR(st.st_mode):
            raise _refuse(name, f"has the non-directory '{part}' as a parent")
    return path


def _check_symlink(member: tarfile.TarInfo, parts: list[str]) -> None:
    target = member.linkname
    if not target or "\0" in target:
        raise _refuse(member.name, "is a symlink with an empty target")
    if target.startswith("/"):
        return  # resolved inside the container's root, and never followed here
    depth = len(parts) - 1
    for part in target.split("/"):
        depth += -1 if part == ".." else (0 if part in ("", ".") else 1)
        if depth < 0:
            raise _refuse(member.name, f"is a symlink pointing outside the layer ({target})")


def _clear(path: Path, keep_dir: bool, name: str = "") -> None:
    """Tar semantics: a later member replaces an earlier one of the same name.

    With a `name` (a member, not a whiteout), a directory is never replaced by a
    non-directory: its deferred mode and times would then land on whatever replaced it.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if not keep_dir and name:
            raise _refuse(name, "replaces a directory of the same layer with a non-directory")
        if not keep_dir:
            shutil.rmtree(path)
    else:
        os.unlink(path)


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path) -> None:
    source = tar.extractfile(member)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "wb") as out:
        if source is not None:
            shutil.copyfileobj(source, out, CHUNK)
        out.flush()
        _finish_fd(fd, member)


def _whiteout(parent: Path, base: str, name: str) -> None:
    if base == OPAQUE_MARKER:
        set_opaque(parent)
        return
    hidden = base[len(WHITEOUT_PREFIX):]
    if hidden in ("", ".", "..") or hidden.startswith(WHITEOUT_PREFIX):
        raise _refuse(name, "is a whiteout of nothing, or an AUFS-internal file")
    _clear(parent / hidden, keep_dir=False)
    make_whiteout(parent / hidden)


def _finish_fd(fd: int, member: tarfile.TarInfo) -> None:
    """Owner, then mode (chown clears setuid), then times, on an open file: no path to follow."""
    os.fchown(fd, member.uid, member.gid)
    os.fchmod(fd, member.mode & 0o7777)
    os.utime(fd, (member.mtime, member.mtime))


def _finish(path: Path, member: tarfile.TarInfo) -> None:
    """The same for a node that cannot be opened safely (symlink, fifo, device), by O_PATH.

    An O_PATH|O_NOFOLLOW descriptor names the node itself; fchmod and futimens
    refuse O_PATH descriptors, so those go through its /proc/self/fd link, which
    the kernel resolves to exactly that node (glibc's fchmodat(AT_SYMLINK_NOFOLLOW)).
    """
    os.chown(path, member.uid, member.gid, follow_symlinks=False)
    if member.issym():
        os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)
        return
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            raise _refuse(member.name, "was replaced by a symlink while it was unpacked")
        os.chmod(f"/proc/self/fd/{fd}", member.mode & 0o7777)
        os.utime(f"/proc/self/fd/{fd}", (member.mtime, member.mtime))
    finally:
        os.close(fd)


def _finish_dir(dest_fd: int, parts: list[str], member: tarfile.TarInfo) -> None:
    """A directory's deferred owner, mode and times, through O_NOFOLLOW opens from `dest`.

    A directory a later whiteout removed is skipped; one whose path now holds a
    symlink anywhere along it is refused.
    """
    fd = os.dup(dest_fd)
    try:
        for part in parts:
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                                dir_fd=fd)
            except OSError as err:
                if err.errno not in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
                    raise
                if err.errno != errno.ENOENT and stat.S_ISLNK(
                        os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode):
                    raise _refuse(member.name, f"would have its mode set through the symlink "
                                  f"'{part}' that replaced it") from None
                return  # whited out later in this layer: nothing left to set
            os.close(fd)
            fd = child
        _finish_fd(fd, member)
    finally:
        os.close(fd)


def extract_layer(fileobj: IO[bytes], dest: Path, allow_devices: bool = False) -> int:
    """Unpack the layer tar read from `fileobj` into the empty dir `dest`, in overlay form.

    Reads the stream once (so the caller can hash it as it goes); returns the
    number of members. Raises UnsafeArchive on the first bad member.
    """
    dirs: dict[tuple[str, ...], tarfile.TarInfo] = {}  # the last entry of a dir wins
    count = 0
    with tarfile.open(fileobj=fileobj, mode="r|*") as tar:
        for member in tar:
            count += 1
            parts = member_parts(member.name)
            if not parts:
                continue  # the "./" entry: dest itself
            parent = _parent_dir(dest, parts, member.name)
            base, path = parts[-1], parent / parts[-1]
            if base.startswith(WHITEOUT_PREFIX):
                _whiteout(parent, base, member.name)
                continue
            _clear(path, keep_dir=member.isdir(), name=member.name)
            if member.isdir():
                if not os.path.lexists(path):
                    os.mkdir(path, 0o700)
                dirs[tuple(parts)] = member
                continue
            if member.isreg():
                _write_file(tar, member, path)
                continue
            elif member.issym():
                _check_symlink(member, parts)
                os.symlink(member.linkname, path)
            elif member.islnk():
                source = dest.joinpath(*member_parts(member.linkname))
                # realpath differs from the plain join when any part of it is a symlink
                if os.path.realpath(source) != os.path.realpath(dest) + "/" + str(
                        source.relative_to(dest)) or not source.is_file():
                    raise _refuse(member.name, "is a hard link to something not in the layer")
                os.link(source, path, follow_symlinks=False)
                continue  # same inode: its owner and mode were set already
            elif member.isfifo():
                os.mkfifo(path, 0o600)
            elif member.ischr() or member.isblk():
                if not allow_devices:
                    raise _refuse(member.name, "is a device node, which layers may not carry")
                kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
                os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
            else:
                raise _refuse(member.name, f"has the unsupported tar type {member.type!r}")
            _finish(path, member)
    dest_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for names, member in reversed(dirs.items()):  # children first: no later mtime bumps
            _finish_dir(dest_fd, list(names), member)
    finally:
        os.close(dest_fd)
    return count

