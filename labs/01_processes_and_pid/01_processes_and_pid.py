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
from kernel_helpers.course.checks import check_runtime
from kernel_helpers.course.notebook_slots import use_slots
from kernel_helpers.course.runtime_check import try_runtime
from kernel_helpers.rootfs import busybox_rootfs
from kernel_helpers.runtime.foreground import run_captured
from kernel_helpers.spec import ContainerSpec
use_slots()  # %slot NAME shows a function of your myruntime.py; %%slot NAME saves it

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

# %% [markdown] labkit={"step": "pid.run"}
# ## Step 2: your runtime starts a command as PID 1
#
# From here on you build **your own container runtime**, one file that grows lab by
# lab: `myruntime.py` in your work folder (`~/labkit-work`, or `$LABKIT_WORK`;
# `labkit init` makes it). It is an ordinary Python program, and a command:
#
#     sudo /opt/labkit/venv/bin/python ~/labkit-work/myruntime.py run -- /bin/sh -c 'echo I am PID $$'
#
# A live demonstration first: the kit's own runtime starts `ps` in a container.
# Inside, `ps` reads `/proc` and finds exactly one process: itself, as PID 1.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
code, output = run_captured(ContainerSpec(("ps",), rootfs=str(busybox_rootfs())))
print(output)

# %% [markdown] labkit={"step": "pid.run"}
# **Exercise.** Write `run(spec)`, the heart of every container runtime. `spec.argv`
# is the command. It must
#
# 1. ask for a new pid namespace: `lk.unshare(lk.CLONE_NEWPID)`. This does not move
#    your process; it puts the children you make *afterwards* in the new namespace;
# 2. `pid = os.fork()`: the child is PID 1 of the new namespace;
# 3. in the child, replace the process with the command: `os.execvp(spec.argv[0], spec.argv)`;
# 4. in the parent, write the child's pid where the spec says (`lk.write_pidfile(spec, pid)`,
#    like runc's `--pid-file`) and wait for it (`os.waitpid(pid, 0)`).
#
# `lk` is `kernel_helpers.learn`: the syscalls by their kernel names, with an error
# that says what went wrong for *that* call (`lk.SyscallError`, an `OSError`).
#
# The cell below shows `run` as it is now in your file. Write your code there and run
# the cell: it saves into `myruntime.py` (you can also edit the file in any editor, or
# press `e` in `labkit`; it is all one file). Never call `run` here: after `unshare`
# this notebook's own process would put its children in the new namespace. The check
# runs your file in a separate process and judges the container it makes *from the
# host*: `/proc/PID/status` (`NSpid:`), `/proc/PID/ns/pid`, the pidfile.

# %% labkit={"kind": "slot", "slot": "run"}
# run(spec): the code lives in myruntime.py; this cell shows it and saves it back.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
# Try your runtime as you would in a terminal (its output is yours to read).
print(*try_runtime(["/bin/sh", "-c", "echo I am PID $$; exit 3"]), sep="\n")

# %% [markdown] labkit={"step": "pid.exit-status"}
# ## Step 3: the exit status, as a shell reports it
#
# `os.waitpid` returns a *wait status*: the exit code and how the process ended,
# packed in one int. A shell (and `docker run`) reports the command's exit code, or
# `128 + N` if signal `N` killed it: `137` is SIGKILL (9).
#
# **Exercise.** Make `run` return that number: `os.WIFSIGNALED(status)` tells whether
# a signal ended the process, `os.WTERMSIG(status)` which one, `os.WEXITSTATUS(status)`
# the exit code. The check makes the command exit with 7, then kills another with
# SIGKILL, and reads your runtime's own exit status. Then run the check: it judges
# both steps, with a sentence naming the mistake if one fails.

# %% labkit={"kind": "check"}
check_runtime("01")

# %% [markdown] labkit={"step": "pid.nested"}
# ## Step 4: nesting
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
# - `unshare` affects the caller's *children*; you must fork after it. Your
#   `myruntime.py` now does it, and reports exit codes like a shell.
# - The host still sees every container process, with a host pid: isolation is
#   a view, not a wall. Lab 08 comes back to what a shared kernel does *not* hide.
