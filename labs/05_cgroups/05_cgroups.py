# %% [markdown]
# # Lab 05: cgroups, limits and accounting
#
# **The idea.** Namespaces decide what a process can *see*. **Control groups**
# decide how much it can *use*. A cgroup is a folder in a special filesystem;
# the processes listed in its `cgroup.procs` file are its members, and files
# next to it are its **limits** (`memory.max`, `pids.max`, `cpu.max`) and its
# **accounting** (`memory.current`, `cpu.stat`, `pids.current`). Children of a
# process start in its cgroup, so a whole container is held to one budget.
#
# There are two versions of the interface:
#
# - **v1** (older, still common): one hierarchy *per controller*, mounted at
#   `/sys/fs/cgroup/memory`, `/sys/fs/cgroup/cpu`, ... A process is in one group
#   of each hierarchy. File names differ: `memory.limit_in_bytes`, `cpu.cfs_quota_us`.
# - **v2** (the lab VM): a single tree at `/sys/fs/cgroup`; every group has the
#   files of the controllers enabled for it (`cgroup.subtree_control`).
#
# Controllers you will meet: **memory** (limit, then reclaim, then the OOM killer),
# **cpu** (a quota per period, or a weight when CPUs are contended), **pids**
# (most tasks at once), **cpuset** (which CPUs and memory nodes), **io**/blkio
# (bandwidth and weight per disk), **freezer** (stop every process at once) and
# **devices** (which device nodes may be opened). The kit works under its own
# subtree, `labkit`, and never touches the machine's other groups.
#
# A container sees its own group, read-only, at `/sys/fs/cgroup` (as with runc
# and Docker): `labkit run --memory 64M -- cat /sys/fs/cgroup/memory.max` prints
# its limit on v2 (`/sys/fs/cgroup/memory/memory.limit_in_bytes` on v1), and
# writing there fails, so it cannot raise its own limit.
#
# In this lab your runtime gets three more pieces: `create_cgroup(spec)` makes
# the container's group with the limits asked for (`--memory 64m`, `--pids 10`,
# and in step 5 `--cpus 1.5`, `--cpu-weight 500`), `join_cgroup(path, pid)` puts
# the child in it **before** the child runs anything, and `remove_cgroup(path)`
# removes it once the container has exited.

# %% labkit={"kind": "setup"}
import os
import time
from kernel_helpers import cgroups
from kernel_helpers import learn as lk
from kernel_helpers.cgroups import Limits, cpu_percent, record, series
from kernel_helpers.cgroups.run import run_in, start_in
from kernel_helpers.course import verify
from kernel_helpers.course.checks import check_runtime
from kernel_helpers.course.notebook_slots import use_slots
from kernel_helpers.course.runtime_check import try_runtime
from kernel_helpers.units import parse_size
use_slots()  # %slot NAME shows a function of your myruntime.py; %%slot NAME saves it

# %% [markdown] labkit={"step": "cgroup.paths"}
# ## Step 1: which groups is a process in?
#
# This machine's layout, and the notebook's own groups from `/proc/self/cgroup`:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
print(cgroups.describe(cgroups.detect_layout()))
print(open("/proc/self/cgroup").read())

# %% [markdown] labkit={"step": "cgroup.paths"}
# Each line is `hierarchy-id:controllers:path`. On v1 there is one line per
# hierarchy (`4:cpu,cpuacct:/user.slice`); on v2 a single line `0::/path`.
#
# **Exercise.** Write `cgroup_paths(pid)`, returning a dict from controller
# name to the group's path for every controller in `/proc/PID/cgroup`. For a
# line with several controllers (`cpu,cpuacct`) give each the same path; use the
# key `""` for the v2 line. The check puts a process in a fresh group and asks.

# %% labkit={"kind": "exercise"}
def cgroup_paths(pid):
    """{controller: path in its hierarchy} from /proc/PID/cgroup ('' for the v2 tree)."""
    ### BEGIN SOLUTION
    result = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                result[controller] = path
    return result
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("cgroup.paths", cgroup_paths)

# %% [markdown] labkit={"step": "cgroup.create"}
# ## Step 2: the container's own group, with its limits
#
# Limits are files. `cgroups.plan(limits, version)` shows the exact writes the
# kit would make for some limits, on v1 and on v2. Nothing is written yet:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
limits = Limits(memory=parse_size("64M"), cpus=0.5, pids=20)
for version in (1, 2):
    print(f"cgroup v{version}:")
    for write in cgroups.plan(limits, version):
        print("   ", write)

# %% [markdown] labkit={"step": "cgroup.create"}
# Now a real memory limit. A child joins a group limited to 32 MiB and tries to
# hold 64 MiB. The kernel reclaims what it can, then the OOM killer ends it;
# the group's accounting counts the kill.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
group = cgroups.create(limits=Limits(memory=parse_size("32M"), swap=0))
try:
    def hog():
        block = bytearray(64 * 1024 * 1024)
        for i in range(0, len(block), 4096):
            block[i] = 1  # touch every page so it is really used
        return "survived"
    try:
        print(run_in(group, hog, timeout=30))
    except Exception as err:
        print("the child was stopped:", err)
    print(group.stats())
finally:
    group.delete()

# %% [markdown] labkit={"step": "cgroup.create"}
# Your runtime names a group by its **path** from the cgroup root, as an OCI
# `config.json` does (`linux.cgroupsPath`): `labkit/lk42`. On v2 that is one
# folder; on v1 it is one folder in *every* hierarchy. `lk` hides the difference:
#
# - `lk.cgroup_folders(path)`: the folders of that group on this machine;
# - `lk.make_cgroup(path)`: make them (and any missing parent; on v2 it turns the
#   controllers on for the parent's children, on v1 it copies a new cpuset's CPUs
#   from its parent);
# - `lk.write_limit(path, "memory.max", 64 << 20)` and `lk.write_limit(path,
#   "pids.max", 10)`: a limit by its v2 name; on v1 the memory limit goes to
#   `memory.limit_in_bytes`;
# - `lk.add_to_cgroup(path, pid)` and `lk.rmdir_cgroup(path)`, for the next steps.
#
# Where would a group `labkit/lk42` live here? (Nothing is made.)

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
print(*lk.cgroup_folders(f"{lk.CGROUP_PARENT}/lk42"), sep="\n")

# %% [markdown] labkit={"step": "cgroup.create"}
# **Exercise.** Write `create_cgroup(spec)`, called by `run` before `fork`:
#
# 1. the path: under `spec.cgroup_parent` (or `lk.CGROUP_PARENT` when the spec
#    names none), a name starting with `spec.run_prefix` and unique to this
#    runtime, e.g. `f"{parent}/{spec.run_prefix}{os.getpid()}"`: whatever a
#    runtime leaves behind is then found by its prefix;
# 2. `lk.make_cgroup(path)`;
# 3. `spec.memory_max` (bytes) to `memory.max` and `spec.pids_max` to `pids.max`,
#    each only when it is set;
# 4. return the path.
#
# The check runs your runtime with other limits every time (never this
# notebook's 64 MiB or 10 tasks), reads the container's `/proc/PID/cgroup` from
# the host, and the limit files of the group it names; then it starts a fork
# bomb inside the container and looks at `pids.events`: the kernel must have
# refused forks there.

# %% labkit={"kind": "slot", "slot": "create_cgroup"}
# create_cgroup(spec): the code lives in myruntime.py; this cell shows it and saves it back.

# %% [markdown] labkit={"step": "cgroup.join"}
# ## Step 3: in the group before it runs
#
# A child starts in its parent's cgroup. Your runtime must move it into the
# container's group, and the order matters: if the child goes on while the
# parent moves it, it runs (and may fork, or allocate) outside its limits for
# a moment. A race like this is easy to miss: it works on a quiet machine. So
# the child waits, with a `Sync` as in lab 04, until the parent has moved it:
#
#     joined = lk.Sync()
#     cgroup = create_cgroup(spec) if spec.memory_max or spec.pids_max else None
#     pid = os.fork()
#     if pid == 0:
#         joined.wait()                 # first: nothing runs before the join
#         ...                           # labs 02 to 04, then exec
#     if cgroup:
#         join_cgroup(cgroup, pid)
#     joined.release()
#
# **Exercise.** Write `join_cgroup(path, pid)`: `lk.add_to_cgroup(path, pid)`
# writes the pid to `cgroup.procs` in every folder of the group. Then add the
# lines above to your `run`. The check's container saves its own
# `/proc/self/cgroup` as its very first act: it must already name the group
# your runtime made for it.

# %% labkit={"kind": "slot", "slot": "join_cgroup"}
# join_cgroup(path, pid): the code lives in myruntime.py; this cell shows it and saves it back.

# %% [markdown] labkit={"step": "cgroup.remove"}
# ## Step 4: nothing left behind
#
# An empty group stays until its folder is removed (`rmdir`), and the kernel
# refuses to remove a group that still holds a process (`EBUSY`). So the parent
# removes it *after* `os.waitpid` has returned: by then the container's PID 1
# has exited, and with it every process of its pid namespace.
#
# **Exercise.** Write `remove_cgroup(path)`: `lk.rmdir_cgroup(path)`. In `run`:
#
#     _, status = os.waitpid(pid, 0)
#     if cgroup:
#         remove_cgroup(cgroup)
#
# The check looks for the container's group once your runtime has exited.

# %% labkit={"kind": "slot", "slot": "remove_cgroup"}
# remove_cgroup(path): the code lives in myruntime.py; this cell shows it and saves it back.

# %% [markdown] labkit={"step": "cgroup.cpu"}
# ## Step 5: CPU time, a quota and a weight
#
# Two CPU limits, answering two different questions:
#
# - A **quota** caps the time. `docker run --cpus 1.5` lets the container run
#   150 ms of CPU time in every period of 100 ms, on all CPUs together; past
#   it, its threads wait for the next period (they are *throttled*, counted in
#   `cpu.stat`), even on an idle machine. v2 keeps both numbers in one file,
#   `cpu.max`: `150000 100000` (and `max 100000` for no quota). v1 splits them:
#   `cpu.cfs_quota_us` (`-1` for none) and `cpu.cfs_period_us`. Both count
#   **microseconds**: 1.5 CPUs is a quota of 150000, not 1.5. Use `round`, not
#   `int`: `0.29 * 100000` is `28999.999999999996`.
# - A **weight** only matters when CPUs are contended: two busy groups with
#   weights 200 and 100 share a CPU 2:1, and either may use it all alone. v2's
#   `cpu.weight` goes from 1 to 10000, 100 by default; v1's `cpu.shares` from 2
#   to 262144, 1024 by default. The two scales do not line up: the kit maps one
#   range onto the other end to end, as runc does, so a weight of 500 is 13085
#   shares, not 5120, and the default 1024 shares are a weight of 39.
#   `lk.write_limit(path, "cpu.weight", 500)` converts on v1; you write the v2
#   number.
#
# The writes for `--cpus 1.5 --cpu-weight 500` on each version (nothing is written):

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
from kernel_helpers.cgroups.limits import weight_to_shares
for version in (1, 2):
    print(f"cgroup v{version}:")
    for write in cgroups.plan(Limits(cpus=1.5, cpu_shares=weight_to_shares(500)), version):
        print("   ", write)

# %% [markdown] labkit={"step": "cgroup.cpu"}
# **Exercise.** Add the CPU limits to `create_cgroup(spec)`, each only when it
# is set: `spec.cpu_quota` (CPUs, a float such as 1.5) as `cpu.max` with a
# period of 100000, and `spec.cpu_weight` (1 to 10000) as `cpu.weight`, both
# with `lk.write_limit`. Then look at `run`: it makes a group only when a
# memory or pids limit is asked. Make one when a CPU limit is asked too:
#
#     limited = spec.memory_max or spec.pids_max or spec.cpu_quota or spec.cpu_weight
#     cgroup = create_cgroup(spec) if limited else None
#
# The check asks for one CPU limit alone, another every run (never a round
# quota, never this notebook's numbers), and reads `cpu.max` and `cpu.weight`
# (v1: `cpu.cfs_quota_us`, `cpu.cfs_period_us` and `cpu.shares`) of the
# container's group from the host.

# %% labkit={"kind": "slot", "slot": "create_cgroup"}
# create_cgroup(spec): the same function as in step 2, now with the CPU limits.

# %% labkit={"kind": "slot", "slot": "run"}
# run(spec): create_cgroup before fork, the child waits on `joined`, join then release, remove after waitpid.

# %% labkit={"kind": "check"}
check_runtime("05")

# %% [markdown] labkit={"step": "cgroup.remove"}
# Your runtime now takes `--memory 64m`, `--pids 10`, `--cpus 1.5` and
# `--cpu-weight 500`. A fork bomb in a
# container limited to 10 tasks: the shell's forks start failing at the limit,
# and the machine does not notice.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
BOMB = ("(for i in $(seq 20); do sleep 5 & done) 2>/dev/null; "
        "set -- /proc/[0-9]*; echo tasks now: $#")  # a glob and builtins: no fork needed
print(*try_runtime(["/bin/sh", "-c", BOMB], rootfs="busybox", options=("--pids", "10")),
      sep="\n")

# %% [markdown]
# ## Live: a CPU quota you can move
#
# A busy loop runs in a group with a CPU quota. The plot is the group's own
# accounting (`cpu.stat` on v2, `cpuacct.usage` on v1), sampled every 0.1 s.
# Move the slider: the quota changes (`cpu.max` / `cpu.cfs_quota_us`) and the
# next plot follows it.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
import ipywidgets as widgets
import matplotlib.pyplot as plt

def spin():
    while True:
        pass

busy = cgroups.create(limits=Limits(cpus=0.5))
spinner = start_in(busy, spin)

def measure(percent):
    busy.apply(Limits(cpus=percent / 100))
    times, used = cpu_percent(record(busy, seconds=1.5, interval=0.1))
    plt.figure(figsize=(6, 2.5))
    plt.plot(times, used, label="measured")
    plt.axhline(percent, linestyle="--", color="grey", label="quota")
    plt.ylim(0, 110)
    plt.xlabel("seconds")
    plt.ylabel("% of one CPU")
    plt.legend()
    plt.show()

widgets.interact_manual(measure, percent=widgets.IntSlider(value=50, min=10, max=100, step=10))
measure(50)

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
busy.kill()
os.waitpid(spinner, 0)
busy.delete()

# %% [markdown]
# ## What you saw
#
# - A cgroup is a folder; limits and accounting are files; membership is `cgroup.procs`.
# - v1 has one tree per controller, v2 one tree: the same ideas, different file names.
# - Limits are enforced by the kernel at the moment of use: the fork fails
#   (`EAGAIN`), the page cannot be had (reclaim, then OOM), the CPU time is throttled.
# - CPU: a quota caps the time per period (`cpu.max`, v1's cfs files, in
#   microseconds); a weight only splits contended CPUs (`cpu.weight`, v1's
#   `cpu.shares` on another scale).
# - A runtime makes one group per container before `fork`, moves the child in
#   before letting it run (a handshake, not a sleep), and removes the group after
#   `waitpid`: the container is never outside its limits, and nothing is left.
