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
#
# In this lab your runtime, `myruntime.py`, gains one function,
# `enter_uts_ipc(hostname)`, which `run`'s child calls before `exec`:
# `docker run --hostname web1` is exactly this.

# %% labkit={"kind": "setup"}
import socket
import sys
from kernel_helpers import ipc
from kernel_helpers._sys import LINUX as kernel
from kernel_helpers.course.checks import check_runtime
from kernel_helpers.course.notebook_slots import use_slots
from kernel_helpers.course.runtime_check import try_runtime
from kernel_helpers.namespaces import Namespace, namespaces_of, unshare
from kernel_helpers.process import run_in_child
use_slots()  # %slot NAME shows a function of your myruntime.py; %%slot NAME saves it

# %% [markdown] labkit={"step": "uts.hostname"}
# ## Step 1: a hostname of your own
#
# Watch a child process take a uts namespace of its own and rename it. The
# notebook (and the machine) keep their name: the child changed its copy.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
def rename(name):
    unshare({Namespace.UTS})
    kernel.sethostname(name)
    return socket.gethostname(), namespaces_of("self")["uts"].inode

inside_name, inside_ns = run_in_child(rename, "web1")
print(f"the child's uts namespace {inside_ns} is named {inside_name!r}")
print(f"ours, {namespaces_of('self')['uts'].inode}, is still named {socket.gethostname()!r}")

# %% [markdown] labkit={"step": "uts.hostname"}
# The order matters. `sethostname` renames the namespace the caller is in
# *now*: called before `unshare`, it renames the host (and the new namespace
# then copies the new name, so from inside all looks right). The check
# catches this: it runs your runtime from a private uts namespace of its own
# and looks whether *that* name changed, so the check never renames your
# machine. (The demos below, which run your runtime as a terminal would, also
# start it in a throwaway uts namespace, for the same reason.)
#
# **Exercise.** Write `enter_uts_ipc(hostname)` in your runtime:
#
# 1. `lk.unshare(lk.CLONE_NEWUTS | lk.CLONE_NEWIPC)`: a uts and an ipc namespace
#    in one call (step 2 explains the ipc part);
# 2. if `hostname` is set, `lk.sethostname(hostname)`.

# %% labkit={"kind": "slot", "slot": "enter_uts_ipc"}
# enter_uts_ipc(hostname): the code lives in myruntime.py; this cell shows it and saves it back.

# %% [markdown] labkit={"step": "uts.hostname"}
# Then call it from **your** `run`, in the child, first thing after `fork`
# (before `enter_rootfs` once you have lab 03):
#
#     if pid == 0:
#         enter_uts_ipc(spec.hostname)
#         ...
#         os.execvp(spec.argv[0], list(spec.argv))
#
# It must be the child: a namespace made by `unshare` is the caller's, and the
# runtime (the parent) is not the container. The check starts your runtime with
# a hostname it picks at random for each run, holds the container, and asks the
# kernel from the host side: it joins the container's uts namespace (`setns`)
# and calls `uname`, compares namespace ids, and checks its own name is
# unchanged. If your `run` does not call `enter_uts_ipc` yet, the check uses the
# course's `run` as a stand-in and says so.

# %% labkit={"kind": "slot", "slot": "run"}
# run(spec): add the call in the child, before exec.

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
# Your `enter_uts_ipc` already asks for `CLONE_NEWIPC`. The check proves it from
# the host: it makes a queue under a random key in its own namespace and joins
# the container's ipc namespace to see that the queue is not there; then it
# makes a queue *inside* and sees that it is not outside. A runtime that unshares
# the ipc namespace in the parent after `fork` fails: the parent moves, the
# container stays in the host's namespace.

# %% labkit={"kind": "check"}
check_runtime("02")

# %% [markdown] labkit={"step": "ipc.queue"}
# Your runtime now takes `--hostname`, as `docker run` does. The command here is
# the host's Python (your runtime has no root filesystem until lab 03); it
# prints the name it sees and the message queues its ipc namespace holds:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
SHOW = ("import socket; print('hostname:', socket.gethostname()); "
        "print(open('/proc/sysvipc/msg').read().strip())")
print(*try_runtime([sys.executable, "-c", SHOW], options=("--hostname", "web1")), sep="\n")
print("the notebook's hostname:", socket.gethostname())

# %% [markdown]
# ## What you saw
#
# - uts: the hostname is per namespace; `docker run --hostname` is one `unshare`
#   and one `sethostname`, in that order, in the container's process.
# - ipc: same key, different objects; objects die with the namespace.
# - Both are cheap: a new namespace is a few kernel structures, made in
#   microseconds. `kernel_helpers/runtime/launch.py` is how `labkit run` does it.
