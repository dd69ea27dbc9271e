"""The AUFS idea, run live on overlayfs: the example of docs/aufs-on-overlayfs.md.

`aufs_demo()` builds a read-only "image" branch and a read-write "container"
branch, mounts their union in a private mount namespace (in a child process,
so the host never sees the mount), and returns what happened at each step.

Taught in: lab 06.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from kernel_helpers.cleanup import remove_tree
from kernel_helpers.images.store import containers_fs_root
from kernel_helpers.images.diff import write_layer
from kernel_helpers.naming import new_name
from kernel_helpers.process import run_in_child
from kernel_helpers.rootfs.overlay import (is_opaque, is_whiteout, mount_private_view,
                                           overlay_step, unmount)


def _ls(root: Path) -> str:
    """Every entry under `root` as `path` or `path=text`, sorted, on one line."""
    found = []
    for top, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files):
            path = Path(top, name)
            rel = path.relative_to(root).as_posix()
            st = os.lstat(path)
            if is_whiteout(st):
                found.append(f"{rel}(whiteout c 0,0)")
            elif path.is_dir():
                found.append(f"{rel}/" + ("(opaque)" if is_opaque(path) else ""))
            else:
                found.append(f"{rel}={path.read_text().strip()}")
    return "  ".join(found) or "(empty)"


def _as_layer(upper: Path) -> str:
    """The member names `labkit commit` would write for this rw branch."""
    buffer = io.BytesIO()
    write_layer(upper, buffer)
    buffer.seek(0)
    return "  ".join(tarfile.open(fileobj=buffer).getnames())


def _steps(base: Path) -> list[str]:
    image, container, work, union = (base / n for n in ("image", "container", "work", "union"))
    step = overlay_step([image], union, container, work)
    out = [f"$ {step}".replace(f"{base}/", "")]
    mount_private_view(step)
    out.append(f"union view:        {_ls(union)}")
    (union / "hello.txt").write_text("changed in the container\n")
    out.append("# echo changed > hello.txt      (copy-up into the rw branch)")
    out.append(f"image branch (ro): {_ls(image)}")
    out.append(f"container (rw):    {_ls(container)}")
    os.unlink(union / "notes" / "a.txt")
    out.append("# rm notes/a.txt                (a whiteout hides the lower file)")
    out.append(f"container (rw):    {_ls(container)}")
    out.append(f"union view:        {_ls(union)}")
    out.append(f"as an OCI/AUFS layer:  {_as_layer(container)}")
    remove_tree(str(union / "notes"))
    (union / "notes").mkdir()
    (union / "notes" / "new.txt").write_text("only this\n")
    out.append("# rm -r notes; mkdir notes; echo only this > notes/new.txt  (opaque dir)")
    out.append(f"container (rw):    {_ls(container)}")
    out.append(f"union view:        {_ls(union)}")
    out.append(f"as an OCI/AUFS layer:  {_as_layer(container)}")
    unmount(union)
    remove_tree(str(container / "notes"))
    os.unlink(container / "hello.txt")
    out.append("# (unmounted) delete the rw branch's notes/ (opaque dir, whiteout) and hello.txt;"
               " mount again")
    mount_private_view(step)
    out.append(f"union view:        {_ls(union)}")
    return out


def aufs_demo() -> list[str]:
    """Run the explainer's example on this kernel and return its transcript, line by line.

    Taught in: lab 06.
    """
    base = containers_fs_root() / new_name()  # swept by `labkit cleanup` if we are killed
    try:
        for name in ("image/notes", "container", "work", "union"):
            (base / name).mkdir(parents=True)
        (base / "image" / "hello.txt").write_text("from the image\n")
        (base / "image" / "notes" / "a.txt").write_text("a\n")
        (base / "image" / "notes" / "b.txt").write_text("b\n")
        return run_in_child(_steps, base, timeout=30)
    finally:
        remove_tree(str(base))
