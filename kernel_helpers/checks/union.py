"""Check of lab 06: a container's changes as an AUFS/OCI layer (the overlay mount itself is
a slot of the learner's runtime now, judged by kernel_helpers.course.harness.cases.lab06).

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

from kernel_helpers.course.checks import CheckFailed, call, check, fail
from kernel_helpers.images.diff import write_layer
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
