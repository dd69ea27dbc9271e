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

# %% labkit={"kind": "setup"}
import os
import time
from kernel_helpers import cgroups
from kernel_helpers.cgroups import Limits, cpu_percent, record, series
from kernel_helpers.cgroups.run import run_in, start_in
from kernel_helpers.course import verify
from kernel_helpers.units import parse_size

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

# %% [markdown] labkit={"step": "cgroup.pids-limit"}
# ## Step 2: limits are files
#
# `cgroups.plan(limits, version)` shows the exact writes the kit would make for
# some limits, on v1 and on v2. Nothing is written yet:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
limits = Limits(memory=parse_size("64M"), cpus=0.5, pids=20)
for version in (1, 2):
    print(f"cgroup v{version}:")
    for write in cgroups.plan(limits, version):
        print("   ", write)

# %% [markdown] labkit={"step": "cgroup.pids-limit"}
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

# %% [markdown] labkit={"step": "cgroup.pids-limit"}
# **Exercise.** A fork bomb makes processes until the machine has none left.
# Write `confine(folder, pid, max_tasks)`: in the group's `folder` (its pids
# hierarchy on v1), write `max_tasks` to `pids.max`, then move process `pid`
# into the group by writing its pid to `cgroup.procs`. The check then has that
# process try to fork ten times.

# %% labkit={"kind": "exercise"}
def confine(folder, pid, max_tasks):
    """Limit the group in `folder` to `max_tasks` tasks and put process `pid` in it."""
    ### BEGIN SOLUTION
    with open(os.path.join(folder, "pids.max"), "w") as f:
        f.write(str(max_tasks))
    with open(os.path.join(folder, "cgroup.procs"), "w") as f:
        f.write(str(pid))
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("cgroup.pids-limit", confine)

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
