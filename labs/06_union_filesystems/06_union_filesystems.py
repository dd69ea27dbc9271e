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
from kernel_helpers import learn as lk
from kernel_helpers._sys import LINUX as kernel
from kernel_helpers._sys.linux import MS_PRIVATE, MS_REC
from kernel_helpers.course import verify
from kernel_helpers.course.checks import check_runtime
from kernel_helpers.course.notebook_slots import use_slots
from kernel_helpers.course.runtime_check import try_runtime
from kernel_helpers.images.aufs_demo import aufs_demo
from kernel_helpers.namespaces import Namespace, unshare
from kernel_helpers.process import run_in_child
from kernel_helpers.rootfs.overlay import overlay_step, union_view
use_slots()  # %slot NAME shows a function of your myruntime.py; %%slot NAME saves it

# %% [markdown] labkit={"step": "union.overlay-root"}
# ## Step 1: your runtime starts containers from an image
#
# This is the whole story run on your kernel: an "image" branch, a
# "container" branch, their union, then a write, a delete and a directory made
# again. It runs in a child process's private mount namespace, so the host
# never sees the mount.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
print("\n".join(aufs_demo()))

# %% [markdown] labkit={"step": "union.overlay-root"}
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

# %% [markdown] labkit={"step": "union.overlay-root"}
# An image is only its layers: read-only folders, bottom first. The kit's
# offline busybox image has one; `lk.image_layers` names an image's folders
# (`busybox`, an image of `labkit image ls`, or your own `DIR:DIR:...`):

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
print(lk.image_layers("busybox"))

# %% [markdown] labkit={"step": "union.overlay-root"}
# With `--image`, your runtime's spec carries those folders as `spec.image`
# (bottom first) and an empty folder of its own, `spec.container_dir`. The
# container's root is no longer a copy of busybox: it is an overlay of the
# image's layers under the container's own writable layer.
#
# **Exercise.** Write `mount_overlay(layers, container_dir)`. It runs in the
# child, before `enter_rootfs`, and returns the folder to use as the root:
#
# 1. `lk.unshare(lk.CLONE_NEWNS)` and `lk.mount(None, "/", None, lk.MS_REC | lk.MS_PRIVATE)`:
#    the overlay lives in the container's own mount namespace, so it never shows on
#    the host and goes away with the container;
# 2. make three folders in `container_dir` (`os.makedirs`): `upper` (the container's
#    writes), `work` (overlayfs' scratch, on the same filesystem) and `merged` (the
#    mount point);
# 3. `lowerdir` lists the **top** layer first: `":".join(reversed(layers))`;
# 4. `lk.mount("overlay", merged, "overlay", lk.MS_NODEV,
#    f"lowerdir={lower},upperdir={upper},workdir={work}")`, and return `merged`.

# %% labkit={"kind": "slot", "slot": "mount_overlay"}
# mount_overlay(layers, container_dir): the code lives in myruntime.py; this cell shows it and saves it back.

# %% [markdown] labkit={"step": "union.overlay-root"}
# Then call it from **your** `run`, in the child, before `enter_rootfs`: the
# root is the overlay when the spec names an image, else `spec.rootfs` as before.
#
#     rootfs = spec.rootfs
#     if spec.image and spec.container_dir:
#         rootfs = mount_overlay(spec.image, spec.container_dir)
#     if rootfs:
#         enter_rootfs(rootfs)
#         mount_pseudo_fs()
#
# The check builds a new image each run (three to five layers with random
# names, busybox at the bottom) and judges the container from the host: its
# `/` in its mountinfo (an overlay whose lower dirs are the image's layers), the
# host's mount table (nothing new), which layer each file the container reads
# comes from (the topmost must win), and where a write inside lands (the upper
# dir in `container_dir`, the layer untouched).

# %% labkit={"kind": "slot", "slot": "run"}
# run(spec): add the overlay in the child, and the cleanup after waitpid.

# %% [markdown] labkit={"step": "union.whiteout"}
# ## Step 2: what a layer deleted stays deleted
#
# A layer is read-only once built, so a later layer cannot remove a file of an
# earlier one. It records the deletion instead, as a **whiteout**; a directory
# it removed and made again is **opaque**: nothing of the layers below shows
# through it. Image tars (OCI, and Docker's AUFS driver before them) spell both
# as marker files; unpacked for overlayfs, they become what the kernel reads:
#
# | in an OCI / AUFS layer tar | unpacked for overlayfs |
# |---|---|
# | `DIR/.wh.NAME` (an empty file) | `DIR/NAME`, a character device 0/0 |
# | `DIR/.wh..wh..opq` | `DIR` with the xattr `trusted.overlay.opaque = "y"` |
#
# Here are three such layers, bottom first: the middle one deletes `a.txt` and
# remakes `notes`. Their union, as the kernel shows it:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
with tempfile.TemporaryDirectory(prefix="lk-demo-") as tmp:
    bottom, middle, top = (Path(tmp, name) for name in ("bottom", "middle", "top"))
    for folder in (bottom / "notes", middle / "notes", top):
        folder.mkdir(parents=True)
    for path in (bottom / "a.txt", bottom / "b.txt", bottom / "notes" / "old.txt",
                 middle / "notes" / "new.txt", top / "c.txt"):
        path.write_text(path.name)
    os.mknod(middle / "a.txt", stat.S_IFCHR, os.makedev(0, 0))    # .wh.a.txt in a layer tar
    os.setxattr(middle / "notes", "trusted.overlay.opaque", b"y")  # notes/.wh..wh..opq
    print("the union shows:", *sorted(union_view(bottom, middle, top)))

# %% [markdown] labkit={"step": "union.whiteout"}
# Your `mount_overlay` has nothing to add: overlayfs applies the whiteouts and
# opaque dirs of its lower dirs, **provided** every layer is a lower dir and the
# top one comes first. A runtime that copies the layers into one folder does
# not: `cp -a` copies a whiteout as a 0/0 device, `shutil.copytree` cannot read
# one (skip it and the deleted file is back), and an opaque directory merges
# with the one below instead of replacing it.
#
# The check builds images that delete: a bottom layer's file deleted by a
# whiteout in a middle layer, a middle layer's folder deleted in the top one,
# and a folder a middle layer made opaque. From the host, through the
# container's `/proc/PID/root`, it checks each is gone while the files beside
# them still show, each from the right layer.

# %% [markdown] labkit={"step": "union.cleanup"}
# ## Step 3: the container's folder goes when the container goes
#
# The overlay itself disappears with the container's mount namespace. Its
# upper and work dirs are ordinary folders on disk: without a cleanup, every
# container run would leave its writes behind.
#
# **Exercise.** Write `remove_container_dir(container_dir)`: remove the folder
# and everything in it, `lk.remove_tree(container_dir)` (`rm -r`; whiteouts and
# the work dir included). Call it in `run`'s parent **after** `os.waitpid`, when
# the container has exited (before, its writes would go to a deleted folder):
#
#     _, status = os.waitpid(pid, 0)
#     if spec.image and spec.container_dir:
#         remove_container_dir(spec.container_dir)

# %% labkit={"kind": "slot", "slot": "remove_container_dir"}
# remove_container_dir(container_dir): the code lives in myruntime.py; this cell shows it and saves it back.

# %% labkit={"kind": "check"}
check_runtime("06")

# %% [markdown] labkit={"step": "union.cleanup"}
# Your runtime now starts a container from the busybox image. It writes a file,
# which lands in its own upper dir; the image never changes, so a second
# container does not see the first one's file:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
for _ in range(2):
    print(*try_runtime(["/bin/sh", "-c", "ls /hello.txt; echo hi > /hello.txt; grep overlay /proc/self/mounts"],
                       options=("--image", "busybox")), sep="\n")

# %% [markdown] labkit={"step": "union.aufs-layer"}
# ## Step 4: whiteouts, opaque dirs, and a commit
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
#   kernel shows their union. Many containers share one copy of the image. Your
#   runtime mounts that union in the container's own mount namespace (`lowerdir=`
#   top layer first) and removes the container's folder once it exited
#   (`kernel_helpers/images/containerfs.py` is how `labkit run` does it).
# - Writes copy up (copy-on-write); deletes leave whiteouts; a remade
#   directory is opaque. The layers below never change.
# - A commit is the tar of the writable layer (`labkit run --keep ...`, then
#   `labkit commit ID NEW-IMAGE`). OCI image tars still spell whiteouts the
#   AUFS way (`.wh.NAME`, `.wh..wh..opq`).
