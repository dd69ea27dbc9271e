# %% [markdown]
# # Lab 01: processes and the pid namespace
#
# **The idea.** To the kernel, a container is a process. It was made with
# `fork()` like any other, it shows up in the host's `ps`, and the host can
# signal it. What makes it *feel* like its own machine is that the kernel
# answers some of its questions differently. The first such question is
# "which processes exist, and what are their numbers?"
#
# A **pid namespace** is a separate numbering of processes. The first process
# in a new pid namespace is **PID 1** there, and it sees only itself and its
# descendants. The same process still has an ordinary pid in the parent
# namespace: one process, one pid *per level*. Pid namespaces nest, up to 32
# levels deep, and the parent can always see (and kill) everything below it.
#
# Two details that trip everyone up:
#
# - `unshare(CLONE_NEWPID)` does not move the caller; the caller's pid cannot
#   change. It puts the caller's **future children** in the new namespace, and
#   the first child becomes PID 1. (That is why `/proc/self/ns` has a
#   `pid_for_children` entry.)
# - PID 1 is special: signals it has no handler for are ignored, orphans are
#   re-parented to it, and when it exits the kernel kills every other process in
#   its namespace. A container's PID 1 must reap zombies (`labkit run --init`).

# %% labkit={"kind": "setup"}
import os
from kernel_helpers.course import verify
from kernel_helpers.namespaces import Namespace, unshare
from kernel_helpers.rootfs import busybox_rootfs
from kernel_helpers.runtime.foreground import run_captured
from kernel_helpers.spec import ContainerSpec

# %% [markdown] labkit={"step": "pid.parent"}
# ## Step 1: processes as the kernel shows them
#
# `/proc` is a window into the kernel's process table: one directory per
# process, named by its pid. `/proc/PID/status` holds its name, state, ids and
# parent; `/proc/PID/ns/` its namespaces; `/proc/PID/cmdline` its arguments.
# `ps` is nothing more than a reader of these files. Here is the notebook's own
# kernel process:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
with open("/proc/self/status") as f:
    for line in f:
        if line.split(":")[0] in ("Name", "State", "Pid", "PPid", "Uid", "NSpid"):
            print(line, end="")

# %% [markdown] labkit={"step": "pid.parent"}
# **Exercise.** Write `parent_of(pid)`, returning the parent's pid (an `int`)
# of process `pid`, read from `/proc/PID/status`.

# %% labkit={"kind": "exercise"}
def parent_of(pid):
    """The parent pid of `pid`, from the PPid: line of /proc/PID/status."""
    ### BEGIN SOLUTION
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("PPid:"):
                return int(line.split()[1])
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("pid.parent", parent_of)

# %% [markdown] labkit={"step": "pid.new-namespace"}
# ## Step 2: PID 1 of a new pid namespace
#
# A live demonstration first. `labkit run` starts `ps` in a container with its
# own pid namespace (and a busybox root filesystem, lab 03). Inside, `ps`
# reads `/proc` and finds exactly one process: itself, as PID 1.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
code, output = run_captured(ContainerSpec(("ps",), rootfs=str(busybox_rootfs())))
print(output)

# %% [markdown] labkit={"step": "pid.new-namespace"}
# **Exercise.** Write `spawn_in_new_pid_namespace(argv)`: the heart of every
# container runtime. It must
#
# 1. ask for a new pid namespace with `unshare({Namespace.PID})`,
# 2. `os.fork()`; the child is PID 1 of the new namespace,
# 3. in the child, replace the process with the command: `os.execvp(argv[0], argv)`,
# 4. in the parent, return the child's pid (as the parent sees it).
#
# Do not call it directly in the notebook: after `unshare` this kernel process
# would put all its future children in the new namespace. The check calls it in
# a throwaway child process, then reads `/proc/PID/status` and `/proc/PID/ns/pid`.

# %% labkit={"kind": "exercise"}
def spawn_in_new_pid_namespace(argv):
    """Start argv as PID 1 of a new pid namespace; return its pid as seen by the caller."""
    ### BEGIN SOLUTION
    unshare({Namespace.PID})
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)  # only reached if exec failed
    return pid
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("pid.new-namespace", spawn_in_new_pid_namespace)

# %% [markdown] labkit={"step": "pid.nested"}
# ## Step 3: nesting
#
# A container can run containers. Each new pid namespace is a child of the
# namespace it was made in, and a process has a pid in its own namespace *and
# every ancestor*. The kernel lists them, outermost first, on the `NSpid:` line
# of `/proc/PID/status`. Here a shell in a container starts a second
# container-like process with busybox's `unshare`:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
script = "unshare -p -f sh -c 'grep NSpid /proc/self/status; echo inner PID is $$'"
code, output = run_captured(ContainerSpec(("sh", "-c", script), rootfs=str(busybox_rootfs())))
print(output)

# %% [markdown] labkit={"step": "pid.nested"}
# The inner `grep` reads the container's `/proc`, which belongs to the
# container's pid namespace: it shows two levels (the container's and the inner
# one), not the host's. The host's view has one more level on the left.
#
# **Exercise.** Write `nspids(pid)`: the list of `pid`'s pids, outermost first,
# as ints. The check builds a chain of processes two namespaces deep and
# compares your answer for each of them with the kernel's.

# %% labkit={"kind": "exercise"}
def nspids(pid):
    """[pid in the host's namespace, ..., pid in its own namespace] for process `pid`."""
    ### BEGIN SOLUTION
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("pid.nested", nspids)

# %% [markdown]
# ## What you saw
#
# - A pid namespace renumbers processes; its first process is PID 1 and sees
#   only its descendants.
# - `unshare` affects the caller's *children*; you must fork after it.
# - The host still sees every container process, with a host pid: isolation is
#   a view, not a wall. Lab 08 comes back to what a shared kernel does *not* hide.
