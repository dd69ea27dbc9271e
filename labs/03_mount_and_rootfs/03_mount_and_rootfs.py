# %% [markdown]
# # Lab 03: the mount namespace, pivot_root versus chroot, a root filesystem
#
# **The idea.** Every process looks up paths in a **mount table**: which
# filesystem is mounted where. A **mount namespace** gives a process its own
# copy of that table. Mounts made inside (a tmpfs, a `/proc` for the
# container's pid namespace, the container's root filesystem) do not appear on
# the host, and disappear when the namespace's last process exits.
#
# One subtlety: **mount propagation**. On most systems `/` is a *shared* mount
# (systemd sets this up), and a new mount namespace starts with copies that are
# still *peers* of the originals. A mount under a shared mount is copied to all
# its peers, so without care a container's mounts would pop up on the host.
# Runtimes therefore first make everything **private** (`MS_REC | MS_PRIVATE`,
# or `MS_SLAVE` to still receive the host's new mounts).
#
# The container then needs its own `/`. The old way is **chroot**: it only
# changes where path lookups start for one process. The mount table still
# holds the host's root, and a root process can walk back out (you will see it
# happen below). **pivot_root** instead swaps the *mount* at `/` for the whole
# mount namespace: the new root becomes `/`, the old one is stacked under it,
# and after unmounting the old root there is simply no path back to the host's
# files. Docker, runc and crun all use pivot_root.

# %% labkit={"kind": "setup"}
import os
import shutil
from kernel_helpers._sys import LINUX as kernel
from kernel_helpers._sys.linux import MS_PRIVATE, MS_REC
from kernel_helpers.course.checks import check_runtime
from kernel_helpers.course.notebook_slots import use_slots
from kernel_helpers.course.runtime_check import try_runtime
from kernel_helpers.namespaces import Namespace, unshare
from kernel_helpers.process import run_in_child
from kernel_helpers.rootfs import busybox_rootfs
from kernel_helpers.rootfs.mounts import chroot_escape
from kernel_helpers.runtime.foreground import run_captured
from kernel_helpers.spec import ContainerSpec
use_slots()  # %slot NAME shows a function of your myruntime.py; %%slot NAME saves it

# %% [markdown] labkit={"step": "mnt.enter-rootfs"}
# ## Step 1: your runtime enters its own root
#
# A container's mount table is short: its root, `/proc`, `/sys`, a small
# `/dev` and a few more. Compare it with the host's (`wc -l`):

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
code, inside = run_captured(ContainerSpec(("cat", "/proc/self/mounts"),
                                          rootfs=str(busybox_rootfs())))
print(inside)
with open("/proc/self/mounts") as f:
    print("the host has", len(f.readlines()), "mounts; the container has",
          len(inside.splitlines()))

# %% [markdown] labkit={"step": "mnt.enter-rootfs"}
# ### chroot is not a container
#
# Watch root leave a chroot. In a throwaway child with its own mount namespace,
# we copy the busybox root filesystem to a tmpfs, `chroot` into it, and then do
# the classic trick: `chroot` into a subdirectory *without* changing into it,
# so the working directory is now outside the root, and climb `..` until the
# real `/`. `chroot_escape()` returns the `/etc/hostname` it finds there: the
# busybox image says `labkit`, so anything else is the host's.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
def chroot_then_escape():
    unshare({Namespace.MNT})
    kernel.mount(None, "/", None, MS_REC | MS_PRIVATE)
    work = "/tmp"  # a tmpfs over /tmp, in this private namespace only: nothing to clean up
    kernel.mount("tmpfs", work, "tmpfs")
    shutil.copytree(busybox_rootfs(), f"{work}/root", symlinks=True)
    kernel.chroot(f"{work}/root")
    os.chdir("/")
    inside = open("/etc/hostname").read().strip()
    return inside, chroot_escape()

print("inside the chroot, /etc/hostname says %r; after the escape it says %r"
      % run_in_child(chroot_then_escape))

# %% [markdown] labkit={"step": "mnt.enter-rootfs"}
# **Exercise.** Write `enter_rootfs(rootfs)` in your runtime, the sequence runc uses:
#
# 1. `lk.unshare(lk.CLONE_NEWNS)`, then make every mount private and recursive:
#    `lk.mount(None, "/", None, lk.MS_REC | lk.MS_PRIVATE)`, so nothing you mount
#    propagates back to the host;
# 2. bind-mount `rootfs` onto itself (`lk.MS_BIND | lk.MS_REC`): pivot_root needs the
#    new root to be a mount point;
# 3. `os.chdir(rootfs)`, then `lk.pivot_root(".", ".")`: the new root goes on `/` and
#    the old root is stacked on top of it, at the same place;
# 4. `lk.umount2(".", lk.MNT_DETACH)` detaches that old root: the host is gone
#    (with a separate `put_old` folder instead, unmount it and `os.rmdir` it);
# 5. `os.chdir("/")`.

# %% labkit={"kind": "slot", "slot": "enter_rootfs"}
# enter_rootfs(rootfs): the code lives in myruntime.py; this cell shows it and saves it back.

# %% [markdown] labkit={"step": "mnt.enter-rootfs"}
# Then call it from **your** `run`, in the child, before `execvp`, when the spec
# asks for a root filesystem (`mount_pseudo_fs` is the next step):
#
#     if spec.rootfs:
#         enter_rootfs(spec.rootfs)
#         mount_pseudo_fs()
#
# If your `run` from lab 01 does not work yet, the check uses the course's `run` as
# a stand-in and says so: your `enter_rootfs` is still judged. The check starts your
# runtime on a copy of busybox and judges the container from the host: the host's
# mount table before, during and after (a missing `MS_PRIVATE` shows there), the
# container's mount namespace read from its own root (chroot and a stacked old root
# show there), and its root directory.

# %% labkit={"kind": "slot", "slot": "run"}
# run(spec): add the two calls in the child, before exec.

# %% [markdown] labkit={"step": "mnt.pseudo-fs"}
# ## Step 2: /proc, /sys and /dev
#
# Inside its new root the container has empty `/proc`, `/sys` and `/dev` folders.
# Tools need them: `ps` reads `/proc`, programs write to `/dev/null`.
#
# **Exercise.** Write `mount_pseudo_fs()`, called after `enter_rootfs`, in the new
# root:
#
# - `/proc`: a new proc, `lk.mount("proc", "/proc", "proc")`. Mounted from inside the
#   container's pid namespace, it lists only the container's processes;
# - `/sys`: sysfs, read-only (`lk.MS_RDONLY`), so root inside cannot change the host's
#   kernel settings;
# - `/dev`: a small tmpfs, not the host's devices, with six nodes made by
#   `lk.mknod(path, stat.S_IFCHR | 0o666, os.makedev(major, minor))`: null (1,3),
#   zero (1,5), full (1,7), random (1,8), urandom (1,9), tty (5,0).

# %% labkit={"kind": "slot", "slot": "mount_pseudo_fs"}
# mount_pseudo_fs(): the code lives in myruntime.py; this cell shows it and saves it back.

# %% labkit={"kind": "check"}
check_runtime("03")

# %% [markdown] labkit={"step": "mnt.pseudo-fs"}
# Your runtime now runs a shell as PID 1 in its own root, as `labkit run` does:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
print(*try_runtime(["/bin/sh", "-c", "echo $$; ls /; mount"], rootfs="busybox"), sep="\n")

# %% [markdown]
# ## What you saw
#
# - A mount namespace is a private mount table; propagation decides what still
#   flows between tables, so runtimes make `/` private first.
# - chroot changes a lookup starting point; root can leave it.
# - pivot_root plus detaching the old root leaves no path to the host's files.
#   With `/proc`, `/sys` and `/dev`, your `myruntime.py` now gives a container its
#   own filesystem (`kernel_helpers/rootfs/mounts.py` is how `labkit run` does it).
