# %% [markdown]
# # Lab 10: managing many containers
#
# **The idea.** `docker run -d` returns at once, yet the container keeps
# running, its output is kept, and `docker ps`, `logs`, `exec`, `stats`,
# `stop` work from any terminal. Two things make that possible:
#
# - a **supervisor** per container (Docker's `containerd-shim`): a small
#   process that started the container, waits for it, relays its output
#   through a pipe into a log file (rotated at `--log-max-size`, 10M by
#   default, one older file kept), applies the **restart policy** (`no`, `always`,
#   `on-failure:N`), and cleans up when it ends. It outlives your terminal.
# - a **state file** per container (`/run/labkit/containers/ID/state.json`):
#   its id, name, PID 1, that process's start time, status and exit code.
#   Every command reads the state files and asks the kernel, never a cache.
#
# The kernel supplies the rest. `exec` is `setns` into the container's
# namespaces plus joining its cgroup. `stats` reads the group's accounting
# files. `pause` is the cgroup **freezer**. `stop` is SIGTERM, then SIGKILL
# after a grace period.

# %% labkit={"kind": "setup"}
import os
import signal
import subprocess
import sys
import time
from kernel_helpers.course import verify
from kernel_helpers.process import start_time
from kernel_helpers.state import all_states

def labkit(*args):
    """Run the labkit CLI, as you would in a terminal; return its output."""
    done = subprocess.run([sys.executable, "-m", "kernel_helpers", *args], capture_output=True,
                          text=True, timeout=60)
    return (done.stdout + done.stderr).strip()

# %% [markdown] labkit={"step": "manage.running"}
# ## Step 1: a small fleet
#
# Three detached containers: a counter that logs, a web server with a memory
# limit, and one that fails and is restarted twice.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
tag = os.urandom(2).hex()
print(labkit("run", "-d", "--name", f"count{tag}", "--memory", "64M", "--", "/bin/sh", "-c",
             "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"))
print(labkit("run", "-d", "--name", f"web{tag}", "--memory", "32M", "--", "httpd", "-f", "-p", "8080"))
print(labkit("run", "-d", "--name", f"flaky{tag}", "--restart", "on-failure:2", "--",
             "/bin/sh", "-c", "echo trying; exit 3"))
time.sleep(1.5)
print(labkit("ps", "-a"))

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
print(labkit("logs", f"count{tag}").splitlines()[-3:])
print(labkit("logs", f"flaky{tag}"))
print(labkit("exec", f"web{tag}", "--", "/bin/sh", "-c", "echo inside: $(hostname); ps"))
print(labkit("stats", "--no-stream", f"count{tag}", f"web{tag}"))
print(labkit("pause", f"count{tag}"), labkit("ps"), sep="\n")
print(labkit("unpause", f"count{tag}"))
print(labkit("inspect", f"flaky{tag}"))

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
print(labkit("stop", "-t", "1", f"count{tag}", f"web{tag}"))
print(labkit("rm", f"count{tag}", f"web{tag}", f"flaky{tag}"))
print(labkit("ps", "-a"))

# %% [markdown] labkit={"step": "manage.running"}
# **Exercise.** `ps` must never trust a state file alone. A container's PID 1
# may have exited, and the kernel may already have given its pid to another
# process. Write `running_ids()`, returning the set of ids of the containers
# that are running right now: for each state in `all_states()`, the pid
# `state.pid` exists **and** is the same process, i.e. its start time
# (`start_time(pid)`, field 22 of `/proc/PID/stat`) equals `state.pid_start`.
# The check starts a sleeper and a container that exits at once, plants a
# state whose pid belongs to another process, and compares your set with
# the truth.

# %% labkit={"kind": "exercise"}
def running_ids():
    """Ids of the containers whose PID 1 is alive and is the same process."""
    ### BEGIN SOLUTION
    alive = set()
    for state in all_states():
        if state.pid and os.path.exists(f"/proc/{state.pid}") and \
                start_time(state.pid) == state.pid_start:
            alive.add(state.id)
    return alive
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("manage.running", running_ids)

# %% [markdown]
# ## What you saw
#
# - A supervisor per container keeps it, its log and its restart policy alive
#   without your terminal.
# - State files plus the kernel (pid and start time) are the truth; `ps`,
#   `stop` and `rm` from any terminal agree.
# - `exec`, `stats` and `pause` are setns, cgroup accounting and the freezer.
