"""Checks of lab 06: an overlay mount by hand, and a container's changes as an AUFS/OCI layer.

Every mount happens in a forked child's private mount namespace, over a
scratch folder the check makes (with the kit's prefix) and removes: the host
never sees the overlay, and a wrong answer cannot leave one behind.

Taught in: lab 06.
"""

from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from kernel_helpers._sys import LINUX
from kernel_helpers._sys.linux import MS_PRIVATE, MS_REC
from kernel_helpers.checks._probe import mount_fstypes
from kernel_helpers.course.checks import CheckFailed, call, check, fail
from kernel_helpers.images.diff import write_layer
from kernel_helpers.namespaces import Namespace, unshare
from kernel_helpers.naming import PREFIX
from kernel_helpers.process import run_in_child
from kernel_helpers.rootfs.overlay import mount_private_view, overlay_step, unmount


@contextmanager
def _scratch(**layers: dict[str, str]) -> Iterator[Path]:
    """A folder holding `layers` (name -> {relative path: text}) plus empty upper, work, union."""
    base = Path(tempfile.mkdtemp(prefix=f"{PREFIX}-check-"))
    try:
        for layer, files in layers.items():
            (base / layer).mkdir()
            for rel, text in files.items():
                (base / layer / rel).parent.mkdir(parents=True, exist_ok=True)
                (base / layer / rel).write_text(text)
        for name in ("upper", "work", "union"):
            (base / name).mkdir()
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _call(answer: object, base: Path, *args: object) -> object:
    """`call`, with the scratch folder's random name taken out of any error (determinism)."""
    try:
        return call(answer, *args)
    except CheckFailed as err:
        raise fail(err.problem.replace(str(base), "<scratch>"), err.fix) from None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _mount_and_use(answer: object, base: Path) -> dict[str, object]:
    """In the child: a private mount namespace, the learner's mount, then reads and a write."""
    unshare({Namespace.MNT})
    LINUX.mount(None, "/", None, MS_REC | MS_PRIVATE)
    union = base / "union"
    _call(answer, base, [str(base / "bottom"), str(base / "top")], str(base / "upper"),
          str(base / "work"), str(union))
    seen: dict[str, object] = {"fstype": mount_fstypes().get(str(union)), "shared": _read(union / "shared.txt"),
            "base": _read(union / "base.txt"), "wrote": True}
    try:
        (union / "base.txt").write_text("changed")
    except OSError:
        seen["wrote"] = False
    return seen


@check("union.mount")
def union_mount(answer: object) -> str:
    with _scratch(bottom={"shared.txt": "bottom", "base.txt": "base"},
                  top={"shared.txt": "top"}) as base:
        seen = run_in_child(_mount_and_use, answer, base, timeout=20)
        if seen["fstype"] != "overlay":
            raise fail(f"the mount at the target is {seen['fstype'] or 'missing'}, not overlay",
                       "kernel.mount('overlay', target, 'overlay', 0, 'lowerdir=...,upperdir=...,"
                       "workdir=...')")
        if seen["base"] != "base" or seen["shared"] not in ("top", "bottom"):
            raise fail("the union does not show the files of both layers",
                       "list every lower layer in lowerdir=, separated by ':'")
        if seen["shared"] != "top":
            raise fail("a file in both layers shows the bottom layer's copy",
                       "lowerdir= lists the TOP layer first: reverse the list (bottom first)")
        if not seen["wrote"]:
            raise fail("writing through the union failed: it is read-only",
                       "give upperdir= and workdir= so writes have a place to go")
        if _read(base / "bottom" / "base.txt") != "base":
            raise fail("a write through the union changed the lower layer itself",
                       "the upper dir must be its own folder, not one of the lowers")
        if _read(base / "upper" / "base.txt") != "changed":
            raise fail("the written file is not in the upper dir (no copy-up happened there)",
                       "pass the upper folder you were given as upperdir=")
    return "top layer wins, the lower layer is untouched, the write was copied up"


IMAGE = {"hello.txt": "from the image", "notes/a.txt": "a", "notes/b.txt": "b",
         "keep/old.txt": "old", "gone/x.txt": "x"}


def _container_changes(base: Path) -> None:
    """In the child: a container's life on the union; the kernel leaves whiteouts and xattrs."""
    union = base / "union"
    mount_private_view(overlay_step([base / "image"], union, base / "upper", base / "work"))
    (union / "hello.txt").write_text("changed")                 # copy-up
    (union / "notes" / "a.txt").unlink()                        # a whiteout file
    shutil.rmtree(union / "gone")                               # a whiteout directory
    shutil.rmtree(union / "keep")
    (union / "keep").mkdir()                                    # an opaque directory
    (union / "keep" / "new.txt").write_text("new")
    (union / "added").mkdir()
    (union / "added" / "file.txt").write_text("added")
    unmount(union)


def _layer_names(upper: Path) -> list[str]:
    """The member names the kit's own commit writes (kernel_helpers.images.diff)."""
    buffer = io.BytesIO()
    write_layer(upper, buffer)
    buffer.seek(0)
    return sorted(tarfile.open(fileobj=buffer).getnames())


@check("union.aufs-layer")
def aufs_layer(answer: object) -> str:
    with _scratch(image=IMAGE) as base:
        run_in_child(_container_changes, base, timeout=20)
        truth = _layer_names(base / "upper")
        got = _call(answer, base, str(base / "upper"))
        if not isinstance(got, (list, tuple)):
            raise fail(f"`aufs_names` returned a {type(got).__name__}, not a list",
                       "return a list of relative paths such as ['hello.txt', 'notes/.wh.a.txt']")
        got = sorted(str(name) for name in got)
        if got == truth:
            return "your names match the layer a commit writes: copy-ups, whiteouts, opaque dirs"
        missing, extra = set(truth) - set(got), set(got) - set(truth)
        if any(".wh..wh..opq" in name for name in missing):
            raise fail("an opaque directory is not marked",
                       "a dir with the xattr trusted.overlay.opaque = b'y' gets a "
                       "'DIR/.wh..wh..opq' entry")
        if any(".wh." in name for name in missing):
            raise fail("a deleted file or directory is not written as a whiteout",
                       "a character device with st_rdev == 0 named NAME becomes '.wh.NAME'")
        if extra:
            raise fail(f"{len(extra)} name(s) should not be in the layer",
                       "list only what is in the upper dir, with paths relative to it")
        raise fail(f"{len(missing)} name(s) of the upper dir are missing",
                   "walk every directory of the upper dir (os.walk), dirs and files both")
