# %% [markdown]
# # Lab 06: union filesystems, from AUFS to overlayfs
#
# **The idea.** An image must start the same way on every machine, and a
# hundred containers from one image should not need a hundred copies of it.
# A **union filesystem** solves both. It stacks read-only directories
# (**layers**, which AUFS called *branches*) under one writable directory, and
# shows their union as one tree. The image is only its read-only layers, so it
# can be copied anywhere and shared by every container. Each container gets
# its own thin writable layer on top.
#
# Docker's first storage driver was **AUFS** ("another union filesystem"), the
# same trick a Live CD uses. AUFS never entered mainline Linux. Since 3.18 the
# kernel has **overlayfs**, which does the same job with other names:
#
# | AUFS | overlayfs |
# |---|---|
# | read-only branches | `lowerdir=top:...:bottom` |
# | the read-write branch | `upperdir=` (plus a `workdir=` for atomic copy-up) |
# | copy-up on write | copy-up on write |
# | whiteout file `.wh.NAME` | a character device 0/0 named `NAME` |
# | opaque dir `.wh..wh..opq` | the xattr `trusted.overlay.opaque = "y"` |
#
# Four rules make it work. A **read** finds the topmost layer holding the path.
# A **write** first copies the file up into the writable layer
# (**copy-on-write**), so the image never changes. A **delete** cannot touch a
# read-only layer, so it leaves a **whiteout** on top that hides the file. A
# directory deleted and made again is marked **opaque**, so nothing from below
# shows through it. To **commit** a container, tar up its writable layer: that
# tar is a new image layer. OCI image tars still write whiteouts the AUFS way.

# %% labkit={"kind": "setup"}
import hashlib
import os
import stat
import tempfile
from pathlib import Path
from kernel_helpers._sys import LINUX as kernel
from kernel_helpers._sys.linux import MS_PRIVATE, MS_REC
from kernel_helpers.course import verify
from kernel_helpers.images.aufs_demo import aufs_demo
from kernel_helpers.namespaces import Namespace, unshare
from kernel_helpers.process import run_in_child
from kernel_helpers.rootfs.overlay import overlay_step, union_view

# %% [markdown] labkit={"step": "union.mount"}
# ## Step 1: mount a union
#
# This is the whole story run on your kernel: an "image" branch, a
# "container" branch, their union, then a write, a delete and a directory made
# again. It runs in a child process's private mount namespace, so the host
# never sees the mount.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
print("\n".join(aufs_demo()))

# %% [markdown] labkit={"step": "union.mount"}
# Layers are listed bottom first (as images list them), but the mount option
# `lowerdir=` wants the **top** layer first. `overlay_step` plans the mount
# call without making it, and `union_view` shows what the kernel's union of
# two read-only layers holds:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
with tempfile.TemporaryDirectory(prefix="lk-demo-") as tmp:
    bottom, top = Path(tmp, "bottom"), Path(tmp, "top")
    for layer, text in ((bottom, "bottom"), (top, "top")):
        layer.mkdir()
        (layer / "shared.txt").write_text(text)
    (bottom / "only-bottom.txt").write_text("b")
    print(overlay_step([bottom, top], Path(tmp, "union"), Path(tmp, "upper"), Path(tmp, "work")))
    origin = {hashlib.sha256(text.encode()).hexdigest(): layer for layer, text in
              (("bottom", "bottom"), ("top", "top"), ("bottom", "b"))}
    for path, entry in sorted(union_view(bottom, top).items()):
        print(f"union shows {path} from the {origin[entry[4]]} layer")

# %% [markdown] labkit={"step": "union.mount"}
# **Exercise.** Write `mount_union(lowers, upper, work, target)`: mount an
# overlay at `target` whose lower layers are `lowers` (**bottom first**), with
# `upper` as the writable layer and `work` as its work dir. Use
# `kernel.mount(source, target, fstype, flags, data)`. The check runs your
# function in a child with its own mount namespace, then reads a file that is
# in both layers (the top must win), writes a file through the union, and looks
# where the write landed.

# %% labkit={"kind": "exercise"}
def mount_union(lowers, upper, work, target):
    """Mount overlayfs at `target`: `lowers` read-only (bottom first) under `upper`."""
    ### BEGIN SOLUTION
    data = f"lowerdir={':'.join(reversed(lowers))},upperdir={upper},workdir={work}"
    kernel.mount("overlay", target, "overlay", 0, data)
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("union.mount", mount_union)

# %% [markdown] labkit={"step": "union.aufs-layer"}
# ## Step 2: whiteouts, opaque dirs, and a commit
#
# After a container ran, its upper dir holds only what changed. A deleted file
# is a 0/0 character device; a directory made again carries an xattr. Here is
# an upper dir after `rm` and `rm -r; mkdir` through the union, read raw:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
def life_of_a_container(base):
    image, upper, work, union = (base / n for n in ("image", "upper", "work", "union"))
    for d in (image / "notes", upper, work, union):
        d.mkdir(parents=True)
    (image / "notes" / "a.txt").write_text("a")
    (image / "notes" / "b.txt").write_text("b")
    unshare({Namespace.MNT})  # this child's own mounts
    kernel.mount(None, "/", None, MS_REC | MS_PRIVATE)
    kernel.mount("overlay", str(union), "overlay", 0,
                 f"lowerdir={image},upperdir={upper},workdir={work}")
    (union / "notes" / "a.txt").unlink()
    out = []
    for path in sorted(upper.rglob("*")):
        st = os.lstat(path)
        kind = "char %d,%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)) if stat.S_ISCHR(st.st_mode) else "dir"
        out.append(f"after rm:        {path.relative_to(upper)}  {kind}")
    for name in ("a.txt", "b.txt"):
        (union / "notes" / name).unlink(missing_ok=True)
    (union / "notes").rmdir()
    (union / "notes").mkdir()
    out.append(f"after rm -r; mkdir: notes xattr {os.getxattr(upper / 'notes', 'trusted.overlay.opaque')}")
    return out

with tempfile.TemporaryDirectory(prefix="lk-demo-") as tmp:
    print("\n".join(run_in_child(life_of_a_container, Path(tmp), timeout=20)))

# %% [markdown] labkit={"step": "union.aufs-layer"}
# **Exercise.** `labkit commit` turns an upper dir into an image layer, a tar
# whose names follow AUFS. Write `aufs_names(upper)`, returning the list of
# names that layer holds, relative to `upper`:
#
# - every file and directory under its own path (`hello.txt`, `notes`);
# - a whiteout (a character device with `st_rdev == 0`) named `NAME` in
#   directory `D` becomes `D/.wh.NAME`, in place of the device;
# - an opaque directory `D` (xattr `trusted.overlay.opaque` equal to `b"y"`)
#   also gets a `D/.wh..wh..opq` entry.
#
# The check lets a container copy up, delete files and directories, and
# remake one on a real overlay, then compares your names with the layer the
# kit's commit writes.

# %% labkit={"kind": "exercise"}
def aufs_names(upper):
    """The names of the layer tar of the upper dir `upper`, AUFS/OCI style."""
    ### BEGIN SOLUTION
    names = []
    for top, dirs, files in os.walk(upper):
        rel = os.path.relpath(top, upper)
        prefix = "" if rel == "." else rel + "/"
        try:
            if prefix and os.getxattr(top, "trusted.overlay.opaque") == b"y":
                names.append(prefix + ".wh..wh..opq")
        except OSError:
            pass
        for name in dirs + files:
            st = os.lstat(os.path.join(top, name))
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                names.append(prefix + ".wh." + name)
            else:
                names.append(prefix + name)
    return sorted(names)
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("union.aufs-layer", aufs_names)

# %% [markdown]
# ## What you saw
#
# - An image is read-only layers; a container adds one writable layer, and the
#   kernel shows their union. Many containers share one copy of the image.
# - Writes copy up (copy-on-write); deletes leave whiteouts; a remade
#   directory is opaque. The layers below never change.
# - A commit is the tar of the writable layer (`labkit run --keep ...`, then
#   `labkit commit ID NEW-IMAGE`). OCI image tars still spell whiteouts the
#   AUFS way (`.wh.NAME`, `.wh..wh..opq`).
