# %% [markdown]
# # Lab 11: capstone, ship a web app in your runtime
#
# **The idea.** Put it all together, the way `docker run -d --memory 32m
# -p 127.0.0.1:8080:80 nginx` does, with the parts you built:
#
# | What | Mechanism | Lab |
# |---|---|---|
# | its own pids, mounts, hostname, network | namespaces | 01-04, 07 |
# | a root from an image, changes kept apart | overlay of image layers | 06 |
# | at most 32 MiB of memory, accounted | a cgroup | 05 |
# | reachable on the host's 127.0.0.1:PORT | veth, bridge, DNAT | 07 |
# | root with few powers | capabilities, seccomp, masks | 08 |
# | runs in the background, logs, stats, stop | a supervisor and state files | 09, 10 |
#
# The app is busybox `httpd` serving one page. You ship it, watch it, and
# remove it, and nothing is left behind.

# %% labkit={"kind": "setup"}
import socket
import subprocess
import sys
import time
import urllib.request
from kernel_helpers import images
from kernel_helpers.cgroups import Limits
from kernel_helpers.cgroups.stage import CgroupStage
from kernel_helpers.course import verify
from kernel_helpers.images.containerfs import PENDING_ROOTFS, OverlayStage
from kernel_helpers.net import NetworkStage
from kernel_helpers.runtime import manage
from kernel_helpers.runtime.detach import run_detached
from kernel_helpers.spec import DEFAULT_NAMESPACES, ContainerSpec
from kernel_helpers.security.hardening import HardeningStage

SERVE = 'mkdir -p /www && printf "%s" "$1" > /www/index.html && exec httpd -f -p 80 -h /www'
"""The container's command: write the page given as $1, then run httpd in the foreground."""

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def labkit(*args):
    """Run the labkit CLI, as you would in a terminal; return its output."""
    done = subprocess.run([sys.executable, "-m", "kernel_helpers", *args], capture_output=True,
                          text=True, timeout=60)
    return (done.stdout + done.stderr).strip()

# %% [markdown] labkit={"step": "capstone.ship"}
# ## The whole thing from the command line
#
# First with `labkit`, the runtime's command-line face:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
port = free_port()
app = labkit("run", "-d", "--memory", "32M", "-p", f"127.0.0.1:{port}:80", "--", "/bin/sh", "-c",
             SERVE, "sh", "hello from the command line")
print("id:", app)
time.sleep(1)
print(urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3).read().decode())
print(labkit("stats", "--no-stream", app))
print(labkit("ps"))
print(labkit("stop", "-t", "2", app), labkit("rm", app))

# %% [markdown] labkit={"step": "capstone.ship"}
# **Exercise.** Now in Python, from the engine's parts. Write
# `ship(page, port)` that starts, **detached** (`run_detached(spec, stages)`,
# which returns the id), a busybox container that:
#
# - runs `("/bin/sh", "-c", SERVE, "sh", page)`, in `DEFAULT_NAMESPACES`, on
#   an overlay of the `busybox` image;
# - has a memory limit of 32 MiB;
# - publishes its port 80 on `127.0.0.1:port` (`NetworkStage(ports=(...,))`,
#   the `-p` syntax);
# - is hardened.
#
# The check fetches the page, reads the container's group, then stops and
# removes it, and looks for anything left behind (the port, the veth).

# %% labkit={"kind": "exercise"}
def ship(page, port):
    """Start the web app detached; return its container id."""
    ### BEGIN SOLUTION
    spec = ContainerSpec(command=("/bin/sh", "-c", SERVE, "sh", page), rootfs=PENDING_ROOTFS,
                         namespaces=DEFAULT_NAMESPACES)
    stages = (OverlayStage(images.get("busybox")), CgroupStage(Limits(memory=32 * 2**20)),
              NetworkStage(ports=(f"127.0.0.1:{port}:80",)), HardeningStage())
    return run_detached(spec, stages)
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("capstone.ship", ship)

# %% [markdown] labkit={"step": "capstone.ship"}
# ## Watch it run
#
# Your app, from the other side: its state, its accounting, its log (httpd
# writes little; a request or two shows in `stats`), then a clean stop.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
try:
    port = free_port()
    mine = ship("<h1>mine</h1>", port)
    time.sleep(1)
    print(urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=3).read().decode())
    print(manage.stats(mine))
    print(labkit("inspect", mine))
    print(labkit("logs", mine) or "(no log lines)")
    manage.stop(mine, grace=2)
    print(manage.remove(mine), "removed")
except NotImplementedError:
    print("write `ship` first")

# %% [markdown]
# ## What you saw
#
# - `docker run -d --memory -p` is namespaces + an overlay root + a cgroup +
#   a veth on a bridge with a DNAT rule + hardening, started by a supervisor.
# - Every piece is a file or a system call you can inspect: /proc/PID/ns,
#   mountinfo, memory.max, `nft list ruleset`, /proc/PID/status.
# - Removing a container undoes every piece; `labkit cleanup` finds what a
#   crash left.
