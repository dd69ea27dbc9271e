# %% [markdown]
# # Lab 00: set-up, the doctor, and how these labs work
#
# A container is not an object the kernel knows about. It is an ordinary
# process that the kernel shows a **narrowed view** of the machine, holds to a
# **budget**, and starts from a **packaged filesystem**:
#
# | What the container gets | Kernel feature | Lab |
# |---|---|---|
# | its own process ids, hostname, mounts, users, network | namespaces | 01-04, 07 |
# | limits and accounting of memory, CPU, pids, I/O | cgroups | 05 |
# | a portable, layered root filesystem | union mounts (overlayfs) | 06 |
# | less power than the host's root | capabilities, seccomp, masked paths | 08 |
#
# Everything here is real: the notebook kernel runs as **root** in the lab VM,
# and every cell makes real system calls. Whatever can change the machine runs
# in a forked child process, so your notebook keeps working even when an
# exercise goes wrong.
#
# **How a lab works.** Each lab has the idea in a few paragraphs, a live
# demonstration, and exercises. In an exercise cell you replace
# `raise NotImplementedError()` with your code. The cell after it is a
# **check**: it runs your function on the real kernel, inspects what happened
# (for example `/proc/PID/ns`), and prints `PASS` or `FAIL` with a hint.
# Progress is saved in `~/.labkit/progress.json`, shared with the terminal UI
# (`labkit tui`) and with `labkit check 00` on the command line.

# %% labkit={"kind": "setup"}
import os
from kernel_helpers.course import verify
from kernel_helpers.doctor import diagnose

# %% [markdown] labkit={"step": "setup.missing-features"}
# ## Step 1: what does this machine support?
#
# `labkit doctor` asks the kernel itself: it creates each namespace type in a
# throwaway child, reads the mount table to see which cgroup version is
# mounted, and looks for overlayfs, veth and seccomp. Your VM uses cgroup v2
# only; some machines mount the older v1 hierarchies, or both ("hybrid").
# The labs work on both.
#
# `diagnose()` returns a list of `Finding`s, each with a `name`, an `ok` flag,
# a `detail` and a `fix`. Run the next cell to see this machine's report.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
findings = diagnose()
for finding in findings:
    print(finding.line())

# %% [markdown] labkit={"step": "setup.missing-features"}
# **Exercise.** Write `missing_features(findings)`, which returns the names of
# the findings that are *not* ok, in report order (an empty list on a healthy
# machine).

# %% labkit={"kind": "exercise"}
def missing_features(findings):
    """Names of the findings whose `ok` is False, in report order."""
    ### BEGIN SOLUTION
    return [finding.name for finding in findings if not finding.ok]
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("setup.missing-features", missing_features)

# %% [markdown] labkit={"step": "setup.my-namespaces"}
# ## Step 2: your own namespaces
#
# Every process is in exactly one namespace of each type. The kernel shows
# them as files in `/proc/PID/ns/`; each is a handle whose **inode number** is
# the namespace's identity. Two processes share a namespace exactly when those
# inodes are equal. This is what `lsns` and `labkit ns` read.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
for name in sorted(os.listdir("/proc/self/ns")):
    print(f"{name:<18} -> {os.readlink('/proc/self/ns/' + name)}")

# %% [markdown] labkit={"step": "setup.my-namespaces"}
# The numbers in brackets are the inodes. Notice `pid_for_children` and
# `time_for_children`: two namespace types apply to a process's *future
# children*, which matters in lab 01.
#
# **Exercise.** Write `my_namespaces()`, returning a dict from namespace type
# (`"pid"`, `"uts"`, ...) to inode number for the calling process. Skip the
# `*_for_children` entries. The check runs your function inside a process that
# has new uts and ipc namespaces, so reading another process's files will not do.

# %% labkit={"kind": "exercise"}
def my_namespaces():
    """{namespace type: inode} of the calling process, from /proc/self/ns."""
    ### BEGIN SOLUTION
    return {name: os.stat(f"/proc/self/ns/{name}").st_ino
            for name in os.listdir("/proc/self/ns") if not name.endswith("_for_children")}
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("setup.my-namespaces", my_namespaces)

# %% [markdown]
# ## What next
#
# Lab 01 starts the real work: a process that believes it is PID 1. Open
# `labs/01_processes_and_pid/01_processes_and_pid.ipynb`, or run `labkit tui`.
