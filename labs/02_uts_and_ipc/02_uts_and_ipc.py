# %% [markdown]
# # Lab 02: the uts and ipc namespaces
#
# **The idea.** Some kernel state is a single global value that every process
# shares. The hostname is one: if one process calls `sethostname()`, every
# process on the machine sees the new name. A container wants its own.
#
# The **uts namespace** (named after `struct utsname`, what `uname` returns)
# gives a process its own hostname and NIS domain name. A new uts namespace
# starts as a copy of the parent's values; changes inside stay inside.
#
# The **ipc namespace** does the same for System V inter-process communication:
# message queues, semaphore sets and shared memory segments (and POSIX message
# queues). These objects are found by a numeric **key**, and two unrelated
# programs that pick the same key would meet in the same queue. In separate ipc
# namespaces, the same key names different objects, and `ipcs` (which reads
# `/proc/sysvipc/*`) lists only the namespace's own. When the last process of
# an ipc namespace exits, its objects are destroyed with it, so a container
# leaves no stale shared memory behind.

# %% labkit={"kind": "setup"}
import socket
from kernel_helpers import ipc
from kernel_helpers._sys import LINUX as kernel
from kernel_helpers.course import verify
from kernel_helpers.namespaces import Namespace, namespaces_of, unshare
from kernel_helpers.process import run_in_child
from kernel_helpers.rootfs import busybox_rootfs
from kernel_helpers.runtime.foreground import run_captured
from kernel_helpers.spec import ContainerSpec

# %% [markdown] labkit={"step": "uts.hostname"}
# ## Step 1: a hostname of your own
#
# A demonstration: a container started with `--hostname web1` has its own uts
# namespace. The notebook's hostname does not change.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
code, output = run_captured(ContainerSpec(("hostname",), rootfs=str(busybox_rootfs()),
                                          hostname="web1"))
print("inside: ", output.strip())
print("outside:", socket.gethostname())

# %% [markdown] labkit={"step": "uts.hostname"}
# `kernel` is the kit's system-call layer (`kernel.sethostname(name)`,
# `kernel.mount(...)`, ...): thin wrappers over the C library that turn errors
# into one clear sentence.
#
# **Exercise.** Write `set_hostname_in_new_uts(name)`: move the calling process
# into a new uts namespace, then set its hostname to `name`. The check runs it
# in a child process and then looks at the hostname *and* the namespace inode,
# inside and outside. (Forget the `unshare`, and only the check's sandbox gets
# renamed, not your machine.)

# %% labkit={"kind": "exercise"}
def set_hostname_in_new_uts(name):
    """Give the calling process its own uts namespace with hostname `name`."""
    ### BEGIN SOLUTION
    unshare({Namespace.UTS})
    kernel.sethostname(name)
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("uts.hostname", set_hostname_in_new_uts)

# %% [markdown] labkit={"step": "ipc.queue"}
# ## Step 2: IPC objects that stay inside
#
# `ipc.make(kind, key)` creates a message queue (`"msg"`), semaphore set
# (`"sem"`) or shared memory segment (`"shm"`) under `key`; `ipc.keys(kind)`
# lists the keys visible in the caller's ipc namespace, from `/proc/sysvipc`.
# Watch one queue appear in a child with its own ipc namespace, and not here:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
def make_and_list(key):
    unshare({Namespace.IPC})
    ipc.make("msg", key)
    return sorted(ipc.keys("msg")), namespaces_of("self")["ipc"].inode

inside_keys, inside_ns = run_in_child(make_and_list, 0x1234)
print("child's ipc namespace", inside_ns, "has queues", [hex(k) for k in inside_keys])
print("our ipc namespace", namespaces_of("self")["ipc"].inode,
      "has 0x1234:", 0x1234 in ipc.keys("msg"))

# %% [markdown] labkit={"step": "ipc.queue"}
# The child's queue vanished when the child exited: its ipc namespace died with
# its last process.
#
# **Exercise.** Write `queue_in_new_ipc(key)`: enter a new ipc namespace,
# create a message queue under `key`, and return the set of message-queue keys
# the process can now see.

# %% labkit={"kind": "exercise"}
def queue_in_new_ipc(key):
    """Make a message queue under `key` in a new ipc namespace; return the visible keys."""
    ### BEGIN SOLUTION
    unshare({Namespace.IPC})
    ipc.make("msg", key)
    return ipc.keys("msg")
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("ipc.queue", queue_in_new_ipc)

# %% [markdown]
# ## What you saw
#
# - uts: the hostname is per namespace; `docker run --hostname` is one `unshare`
#   and one `sethostname`.
# - ipc: same key, different objects; objects die with the namespace.
# - Both are cheap: a new namespace is a few kernel structures, made in microseconds.
