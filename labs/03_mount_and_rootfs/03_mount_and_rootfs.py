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
from kernel_helpers._sys.linux import MNT_DETACH, MS_BIND, MS_PRIVATE, MS_REC
from kernel_helpers.course import verify
from kernel_helpers.namespaces import Namespace, unshare
from kernel_helpers.process import run_in_child
from kernel_helpers.rootfs import busybox_rootfs
from kernel_helpers.rootfs.mounts import chroot_escape
from kernel_helpers.runtime.foreground import run_captured
from kernel_helpers.spec import ContainerSpec

# %% [markdown] labkit={"step": "mnt.private-tmpfs"}
# ## Step 1: private mounts
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

# %% [markdown] labkit={"step": "mnt.private-tmpfs"}
# **Exercise.** Write `mount_private_tmpfs(path)`: enter a new mount namespace,
# make every mount in it private (`kernel.mount(None, "/", None, MS_REC |
# MS_PRIVATE)`), then mount a tmpfs on `path` (`kernel.mount("tmpfs", path,
# "tmpfs")`). The check runs it in a child whose parent namespace is *shared*
# with it, so forgetting the private step shows up as a leaked mount.

# %% labkit={"kind": "exercise"}
def mount_private_tmpfs(path):
    """A tmpfs on `path`, visible only in the caller's new mount namespace."""
    ### BEGIN SOLUTION
    unshare({Namespace.MNT})
    kernel.mount(None, "/", None, MS_REC | MS_PRIVATE)
    kernel.mount("tmpfs", path, "tmpfs")
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("mnt.private-tmpfs", mount_private_tmpfs)

# %% [markdown] labkit={"step": "mnt.pivot-root"}
# ## Step 2: chroot is not a container
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

# %% [markdown] labkit={"step": "mnt.pivot-root"}
# **Exercise.** Write `enter_rootfs(rootfs)`, the sequence runc uses:
#
# 1. `unshare({Namespace.MNT})`, and make `/` private and recursive;
# 2. bind-mount `rootfs` onto itself (`MS_BIND | MS_REC`): pivot_root needs the
#    new root to be a mount point;
# 3. `os.chdir(rootfs)`, then `kernel.pivot_root(".", ".")`: the new root goes on
#    `/` and the old root is stacked on top of it, at the same place;
# 4. `kernel.umount2(".", MNT_DETACH)` detaches that old root: the host is gone;
# 5. `os.chdir("/")`.
#
# The check copies busybox to a scratch tmpfs, runs your function in a child,
# then looks for a file left outside the new root: by its path, and with the
# chroot escape from above.

# %% labkit={"kind": "exercise"}
def enter_rootfs(rootfs):
    """Make `rootfs` the root of a new mount namespace, with no way back."""
    ### BEGIN SOLUTION
    unshare({Namespace.MNT})
    kernel.mount(None, "/", None, MS_REC | MS_PRIVATE)
    kernel.mount(rootfs, rootfs, None, MS_BIND | MS_REC)
    os.chdir(rootfs)
    kernel.pivot_root(".", ".")
    kernel.umount2(".", MNT_DETACH)
    os.chdir("/")
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("mnt.pivot-root", enter_rootfs)

# %% [markdown]
# ## What you saw
#
# - A mount namespace is a private mount table; propagation decides what still
#   flows between tables, so runtimes make `/` private first.
# - chroot changes a lookup starting point; root can leave it.
# - pivot_root plus detaching the old root leaves no path to the host's files.
#   Add `/proc`, `/sys` and `/dev` and you have the container's filesystem
#   (see `kernel_helpers/rootfs/mounts.py`, which `labkit run` uses).
