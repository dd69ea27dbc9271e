# %% [markdown]
# # Lab 07: networking, from a veth cable to an overlay
#
# **The idea.** A new **network namespace** holds only a loopback device that
# is down: no addresses, no routes, no firewall rules of the host. It is a
# whole network stack of its own, and a container needs a way out of it.
#
# - A **veth pair** is a virtual cable: two interfaces, and what goes into one
#   comes out of the other. Put one end in the container (as `eth0`) and keep
#   the other on the host.
# - A **bridge** is a virtual switch on the host (Docker's `docker0`). The host
#   ends of many veths plug into it, so containers on one bridge reach each
#   other, and the bridge's own address is their gateway.
# - **NAT** lets them out: packets leaving the host from the bridge's subnet are
#   *masqueraded* behind the host's address. A **published port**
#   (`-p 127.0.0.1:8080:80`) is the other direction, a *DNAT* rule that rewrites
#   "host port 8080" into "container address, port 80".
# - **Names**: each network keeps a hosts file, so containers find each other
#   by name (`wget http://web/`), as Docker's embedded DNS does.
# - An **overlay** (Docker's overlay driver, flannel) joins bridges on two
#   hosts into one network: **VXLAN** wraps each Ethernet frame in a UDP packet
#   to the other host.
#
# The kit talks to the kernel over **netlink** (pyroute2), and writes nftables
# rules for NAT; no `ip` or `iptables` command is run.
#
# In this lab your runtime gives each container a network of its own: with
# `--ip 10.22.0.5/24` the child takes a new network namespace, the runtime
# (the parent) cables it to its own namespace with a veth pair, and the child
# sets up its end as `eth0`, with a default route via the runtime's end.

# %% labkit={"kind": "setup"}
import os
import socket
import subprocess
import sys
import time
import urllib.request
from kernel_helpers import learn as lk
from kernel_helpers.course.checks import check_runtime
from kernel_helpers.course.notebook_slots import use_slots
from kernel_helpers.course.runtime_check import try_runtime
from kernel_helpers.namespaces import Namespace, unshare
from kernel_helpers.net import diagram, ipam, nat, netdev, networks, overlay
from kernel_helpers.process import run_in_child
use_slots()  # %slot NAME shows a function of your myruntime.py; %%slot NAME saves it

def labkit(*args):
    """Run the labkit CLI, as you would in a terminal; return its output."""
    done = subprocess.run([sys.executable, "-m", "kernel_helpers", *args], capture_output=True,
                          text=True, timeout=60)
    return (done.stdout + done.stderr).strip()

# %% [markdown] labkit={"step": "net.connect"}
# ## Step 1: a network namespace of its own, and a cable into it
#
# A process that unshares `CLONE_NEWNET` finds a network stack with one
# interface, `lo`, and it is down. A veth pair made there shows both ends,
# down too (`ip link` names each one's peer after an `@`). Moving one end to
# another process's namespace takes it out of this one. All of it happens in
# a child process that owns the namespace: it goes when the child exits.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
def a_new_network_namespace():
    def look():
        return [(link.name, link.kind, "up" if link.up else "down") for link in netdev.links()]
    unshare({Namespace.NET})
    fresh = look()
    lk.veth_add("demo0", "demo0c")
    return fresh, look()

fresh, cabled = run_in_child(a_new_network_namespace)
print("a new network namespace:", fresh)
print("after lk.veth_add('demo0', 'demo0c'):", cabled)

# %% [markdown] labkit={"step": "net.connect"}
# The two processes take turns again, as in lab 04: the child makes the
# namespace and says so, the parent cables it, the child waits for that and
# then sets up its end. Your `run` makes two more `lk.Sync()`s before `fork`:
#
#     netns_made, connected = lk.Sync(), lk.Sync()
#     # child:  if spec.address: lk.unshare(lk.CLONE_NEWNET); netns_made.release();
#     #                          connected.wait(); configure_net(spec)
#     # parent: if spec.address: netns_made.wait(); connect(spec, pid); connected.release()
#
# **Exercise.** Write `connect(spec, pid)`, run by the parent; return the
# name of its end:
#
# 1. names from `spec.run_prefix` and the pid, e.g. `host_if =
#    f"{spec.run_prefix}{pid}"` and `peer = host_if + "c"`: unique while the
#    container runs, found by the kit if left behind, and at most 15 bytes
#    (the kernel's IFNAMSIZ);
# 2. `lk.veth_add(host_if, peer)`;
# 3. `lk.link_set_netns(peer, pid)`: the peer leaves for the child's namespace;
# 4. `lk.addr_add(host_if, f"{spec.gateway}/{prefixlen}")`, the prefix length
#    from `spec.address` (`"10.22.0.5/24"`): your end is the container's
#    gateway, and its subnet's route comes with the address;
# 5. `lk.link_up(host_if)`.
#
# The check starts your runtime in a network namespace of its own (never the
# machine's), asks for a different subnet, address and gateway on every run,
# and reads both namespaces from the host: the container's must differ from
# the runtime's, the runtime's end must be up with the gateway address, a TCP
# connection from the runtime's side must reach a server in the container,
# and once your runtime exits nothing but `lo` may be left on its side. (A
# veth pair goes when either end's namespace goes: the container's takes the
# runtime's end with it.)

# %% labkit={"kind": "slot", "slot": "connect"}
# connect(spec, pid): the code lives in myruntime.py; this cell shows it and saves it back.

# %% [markdown] labkit={"step": "net.configure"}
# ## Step 2: inside, eth0 and a default route
#
# **Exercise.** Write `configure_net(spec)`, run by the child once the parent
# has connected it, before `enter_rootfs` (the kit's netlink code must still
# be importable):
#
# 1. `lk.link_up("lo")`;
# 2. the peer arrives down with its old name: it is the one interface here
#    besides `lo` (`lk.link_names()`); `lk.link_rename(name, "eth0")` while it
#    is down;
# 3. `lk.addr_add("eth0", spec.address)`, then `lk.link_up("eth0")`;
# 4. `lk.route_add_default(spec.gateway)`: last, since the kernel accepts a
#    gateway only on the subnet of an interface that is up.
#
# The check reads the container's interfaces over netlink in its namespace
# (`lo` and `eth0` up, `eth0` with `spec.address`, prefix length included)
# and its `/proc/PID/net/route` (a default route via `spec.gateway`, out of
# `eth0`). The gateway it asks for is never the subnet's first address.

# %% labkit={"kind": "slot", "slot": "configure_net"}
# configure_net(spec): the code lives in myruntime.py; this cell shows it and saves it back.

# %% labkit={"kind": "slot", "slot": "run"}
# run(spec): two more Syncs before fork, the new namespace and configure_net in the child, connect in the parent.

# %% labkit={"kind": "check"}
check_runtime("07")

# %% [markdown] labkit={"step": "net.configure"}
# Your runtime now takes `--ip ADDRESS/PREFIX` (and `--gateway`, by default
# the subnet's first address). Here it runs in a throwaway network namespace,
# so its end of the cable never joins the machine's interfaces; the container
# pings it.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
SHOW = "ip addr; ip route; ping -c 1 -W 2 10.22.0.1"
print(*try_runtime(["/bin/sh", "-c", SHOW], rootfs="busybox", options=("--ip", "10.22.0.5/24")),
      sep="\n")

# %% [markdown]
# ## Beyond one cable: two containers on a bridge, by name, and a published port
#
# A network is a bridge plus an address pool (IPAM) plus an nftables table.
# Two containers join it: `web` serves a page with busybox `httpd`, and a
# second container fetches it *by name* (busybox `wget`, inside the container).
# The page is also published on the host's loopback, where the notebook itself
# fetches it (Python's `urllib`).

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
net = networks.create(f"lab07{os.urandom(2).hex()}")
port = 18000 + int.from_bytes(os.urandom(1), "big")
print(labkit("run", "-d", "--network", net.name, "--name", f"web{net.name[-4:]}",
             "-p", f"127.0.0.1:{port}:80", "--", "/bin/sh", "-c",
             "mkdir -p /www && echo hello from web > /www/index.html && httpd -f -p 80 -h /www"))
time.sleep(0.5)
print(labkit("run", "--network", net.name, "--", "wget", "-qO-", f"http://web{net.name[-4:]}/"))
no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # 127.0.0.1 is this host
print(no_proxy.open(f"http://127.0.0.1:{port}/", timeout=10).read().decode())
print(nat.table_rules(net.bridge, net.subnet))

# %% [markdown]
# ## A live diagram
#
# Drawn from what the kernel reports right now (netlink in each namespace),
# never from what the kit meant to make. Press the button after starting or
# stopping containers in a terminal (`labkit run -d --network NAME ...`).

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
import ipywidgets as widgets
import matplotlib.pyplot as plt

def draw(_=None):
    snap = diagram.of_network(net.name)
    print(diagram.render_text(snap))
    diagram.render_matplotlib(snap)
    plt.show()

button = widgets.Button(description="redraw")
button.on_click(draw)
display(button)
draw()

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
print(labkit("rm", "-f", f"web{net.name[-4:]}"))
networks.remove(net.name, True)

# %% [markdown]
# ## Live: a VXLAN overlay across two hosts
#
# Two "hosts" (namespaces joined by a veth *wire*, the underlay) each get a
# bridge and a VXLAN device towards the other. One container on each host
# shares the subnet `10.244.0.0/24`: a TCP connection from `a1` on host-a
# reaches `b1` on host-b, wrapped in UDP port 4789 on the wire. In the lab VM
# with a peer VM, `overlay.join_overlay` does the same between real machines.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
def across_the_overlay():
    with overlay.simulate() as lab:
        print(diagram.render_text(diagram.snapshot(lab.namespaces())))
        (a1, ip_a1), = lab.hosts[0].containers.values()
        (b1, ip_b1), = lab.hosts[1].containers.values()
        with netdev.inside(b1):
            server = socket.create_server((ip_b1, 9000))
        with netdev.inside(a1):
            client = socket.socket()
        client.settimeout(3)
        client.connect((ip_b1, 9000))
        print(f"a1 ({ip_a1}) on host-a reached b1 ({ip_b1}) on host-b through the overlay")
        client.close()
        server.close()

across_the_overlay()

# %% [markdown]
# ## What you saw
#
# - A network namespace starts with `lo`, down; a veth pair is the cable out:
#   your runtime keeps one end as the gateway, the container's is its `eth0`,
#   and a bridge is the switch that joins many such cables.
# - NAT (masquerade out, DNAT in for published ports) is a few nftables rules.
# - An overlay is the same bridge idea stretched across hosts by VXLAN.
