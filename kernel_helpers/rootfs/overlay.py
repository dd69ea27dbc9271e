"""overlayfs: read-only image layers under one writable layer per container.

This is what AUFS taught as "branches": the lower dirs are the read-only
branches (the image's layers, shared by every container started from it), the
upper dir is the container's read-write branch, and the merged dir is the
union view the container sees. A write copies the file up into the upper dir
(copy-on-write); a delete leaves a *whiteout* there (a 0/0 character device);
a directory removed and made again is marked *opaque* (the xattr
``trusted.overlay.opaque="y"``) so the lower directory's entries stay hidden.

Taught in: lab 06.
"""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence

from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers._sys.linux import MNT_DETACH, MS_PRIVATE, MS_REC
from kernel_helpers.errors import InvalidValue
from kernel_helpers.naming import PREFIX
from kernel_helpers.rootfs.mounts import MountStep, apply_step

OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
"""Set to "y" on a directory whose lower namesakes must stay hidden. An overlay mounted
inside a user namespace cannot read trusted.* xattrs, so it is mounted with ``userxattr``
and reads the user.* one: layers carry both."""

FIXED_OPTIONS = "redirect_dir=nofollow,index=off,metacopy=off"
"""Keep the upper dir plain data a commit can read: no redirects, no metadata-only copy-ups
(a renamed lower directory is copied instead of recorded as a redirect xattr)."""

MOUNT_DATA_MAX = 4095
"""mount(2) passes its options in one page, so the lowerdir list must fit in it."""


def is_whiteout(st: os.stat_result) -> bool:
    """True for overlayfs' whiteout: a character device with device number 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def make_whiteout(path: str | Path) -> None:
    """Hide the lower entry `path` (what `rm` in a container leaves in the upper dir)."""
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def is_opaque(path: str | Path) -> bool:
    """True when the directory hides everything below it with the same name."""
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def set_opaque(path: str | Path) -> None:
    """Mark a directory opaque (what `rm -r d; mkdir d` in a container leaves behind)."""
    for name in OPAQUE_XATTRS:
        os.setxattr(path, name, b"y", follow_symlinks=False)


def overlay_step(lowers: Sequence[str | Path], target: str | Path,
                 upper: str | Path | None = None, work: str | Path | None = None,
                 userxattr: bool = False) -> MountStep:
    """Plan the overlay mount of `lowers` (bottom layer first, as images list them).

    overlayfs wants the *top* lower first in ``lowerdir=``, so the list is
    reversed here. Without an upper dir the view is read-only and needs two
    lowers at least. Use `userxattr` when mounting inside a user namespace.
    """
    if not lowers:
        raise InvalidValue("overlay", "has no lower layer", "give at least one layer")
    if (upper is None) != (work is None):
        raise InvalidValue("overlay", "needs both an upper and a work dir, or neither",
                           "give both (read-write) or none (read-only view)")
    dirs = [str(Path(d)) for d in lowers]
    if upper is None and len(dirs) == 1:
        raise InvalidValue("overlay", "a read-only view needs two lower layers at least",
                           "use the one layer's directory itself, or add an upper dir")
    for d in [*dirs, str(upper or ""), str(work or "")]:
        if ":" in d or "," in d:
            raise InvalidValue(f"overlay dir '{d}'", "contains ':' or ','",
                               "use paths without them (the mount options use both as separators)")
    data = "lowerdir=" + ":".join(reversed(dirs))
    if upper is not None:
        data += f",upperdir={upper},workdir={work}"
    data += "," + FIXED_OPTIONS + (",userxattr" if userxattr else "")
    if len(data) > MOUNT_DATA_MAX:
        raise InvalidValue("overlay", f"{len(dirs)} layers do not fit in one mount call",
                           "squash the image into fewer layers (commit it, then export)")
    return MountStep("overlay", str(target), "overlay", 0, data)


def mount_private_view(step: MountStep, kernel: Kernel = LINUX) -> None:
    """Mount `step` in a fresh, private mount namespace of the calling process.

    Call it in a child (`run_in_child`): the mount never shows in the host's
    mountinfo and goes away when the child exits.
    """
    from kernel_helpers.namespaces import Namespace, unshare
    unshare({Namespace.MNT}, kernel)
    kernel.mount(None, "/", None, MS_REC | MS_PRIVATE)
    apply_step(step, kernel)


def unmount(target: str | Path, kernel: Kernel = LINUX) -> None:
    """Unmount an overlay made by `mount_private_view` (before changing its layers)."""
    kernel.umount2(str(target), MNT_DETACH)


Entry = tuple[str, int, int, int, str]
"""(type, mode, uid, gid, sha256 of the content or the link target) of one path."""


def snapshot(root: str | Path) -> dict[str, Entry]:
    """Every path under `root` with its type, mode, owner and content, never following links.

    Two snapshots compare equal exactly when the trees hold the same things
    (times aside), which is how a lab checks that a layer reproduces a view.

    Taught in: lab 06.
    """
    import hashlib  # labs only: `labkit run` needs just `overlay_step` from this module
    tree: dict[str, Entry] = {}
    for top, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(top, name)
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                kind, what = "link", os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                kind, what = "file", hashlib.sha256(Path(path).read_bytes()).hexdigest()
            elif is_whiteout(st):
                kind, what = "whiteout", ""
            else:
                kind, what = ("dir" if stat.S_ISDIR(st.st_mode) else oct(stat.S_IFMT(st.st_mode))), ""
            tree[os.path.relpath(path, root)] = (kind, stat.S_IMODE(st.st_mode), st.st_uid,
                                                 st.st_gid, what)
    return tree


@contextmanager
def mounted_privately(step_of: Callable[[str], MountStep]) -> Iterator[str]:
    """Mount `step_of(target)` on a fresh temp dir in a private mount namespace; yield it.

    Call it in a child process. The overlay is unmounted before its dir is removed.
    """
    import tempfile  # labs only, like hashlib above
    target = tempfile.mkdtemp(prefix=f"{PREFIX}-view-")
    try:
        mount_private_view(step_of(target))
        yield target
        unmount(target)
    finally:
        os.rmdir(target)


def _view(lowers: list[str]) -> dict[str, Entry]:
    with mounted_privately(lambda target: overlay_step(lowers, target)) as target:
        return snapshot(target)


def union_view(*lowers: str | Path) -> dict[str, Entry]:
    """The `snapshot` of the read-only union of `lowers` (bottom first), as the kernel shows it.

    Taught in: lab 06.
    """
    if len(lowers) == 1:
        return snapshot(lowers[0])  # one layer is its own view (the kernel wants two lowers)
    from kernel_helpers.process import run_in_child
    return run_in_child(_view, [str(d) for d in lowers], timeout=60)
