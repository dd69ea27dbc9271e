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

# %% labkit={"kind": "setup"}
import os
import socket
import subprocess
import sys
import time
import urllib.request
from kernel_helpers.course import verify
from kernel_helpers.net import diagram, ipam, nat, netdev, networks, overlay

def labkit(*args):
    """Run the labkit CLI, as you would in a terminal; return its output."""
    done = subprocess.run([sys.executable, "-m", "kernel_helpers", *args], capture_output=True,
                          text=True, timeout=60)
    return (done.stdout + done.stderr).strip()

# %% [markdown] labkit={"step": "net.veth"}
# ## Step 1: two containers on a bridge, by name, and a published port
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

# %% [markdown] labkit={"step": "net.veth"}
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

# %% [markdown] labkit={"step": "net.veth"}
# **Exercise.** Under every diagram above is one move: a veth pair with one
# end in each namespace. Write `wire(a, b, address_a, address_b, prefixlen)`.
# `a` and `b` are network namespaces (`netdev.Netns`, `b.fd` is an open fd of
# it). Make a veth pair in `a` whose peer is born in `b`
# (`peer={"ifname": ..., "net_ns_fd": b.fd}`), give each end its address,
# and bring both up. `with netdev.route(a) as ipr:` gives a pyroute2 handle
# talking netlink inside `a`. The check makes two fresh namespaces, calls
# your function, reads both with netlink and opens a TCP connection from `a`
# to `b`.

# %% labkit={"kind": "exercise"}
def wire(a, b, address_a, address_b, prefixlen):
    """Join namespaces a and b with a veth pair; address both ends and bring them up."""
    ### BEGIN SOLUTION
    with netdev.route(a) as ipr:
        ipr.link("add", ifname="veth-a", kind="veth", peer={"ifname": "veth-b", "net_ns_fd": b.fd})
        index = ipr.link_lookup(ifname="veth-a")[0]
        ipr.addr("add", index=index, address=address_a, prefixlen=prefixlen)
        ipr.link("set", index=index, state="up")
    with netdev.route(b) as ipr:
        index = ipr.link_lookup(ifname="veth-b")[0]
        ipr.addr("add", index=index, address=address_b, prefixlen=prefixlen)
        ipr.link("set", index=index, state="up")
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("net.veth", wire)

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
# - A network namespace starts empty; a veth pair is the cable out, a bridge
#   the switch that joins containers, and its address their gateway.
# - NAT (masquerade out, DNAT in for published ports) is a few nftables rules.
# - An overlay is the same bridge idea stretched across hosts by VXLAN.
