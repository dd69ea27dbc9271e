"""The network sweeper: what a killed `labkit run` or `network create` left behind.

A network itself is not debris (it stays until `labkit network rm`, like a
Docker network). Debris is: leases whose owner died, and links and nftables
tables with the kit's prefix that no network or live lease accounts for.
Kit namespaces need no sweeping: they are held by fds and processes, never
pinned by a mount, so the kernel frees them when their last user is gone.
"""

from __future__ import annotations

import os

from kernel_helpers import naming
from kernel_helpers.cleanup import Leftover
from kernel_helpers.net import ipam, names, nat, netdev
from kernel_helpers.net.networks import drop_lease


def leftovers() -> list[Leftover]:
    """Dead leases, then kit links and tables no network or live lease accounts for."""
    if os.geteuid() != 0:
        return []
    # List the kernel's objects before reading the records: a lease is written
    # before its veth exists, so anything listed here is already accounted for.
    link_names, tables = sorted(netdev.link_names()), nat.tables()
    networks = ipam.all_networks()
    items = [Leftover("lease", f"{network.name}/{ip}", lease.container)
             for network in networks for ip, lease in network.leases.items()
             if not lease.alive()]
    dead = {item.where for item in items}
    known = {n.bridge for n in networks} | {
        lease.container for n in networks for lease in n.leases.values()
        if lease.container not in dead}
    for name in link_names:
        base = name[:10]
        if naming.is_ours(name) and name not in known and base not in known:
            items.append(Leftover("link", name, "host network namespace"))
    for table in tables:
        if naming.is_ours(table) and table not in {n.bridge for n in networks}:
            items.append(Leftover("nft table", table, "ip family"))
    return items


def remove(item: Leftover) -> None:
    """Remove one leftover found by `leftovers()`."""
    if item.kind == "lease":
        name, ip = item.name.split("/")
        with ipam.locked():
            network = ipam.load(name)
            lease = network.leases.get(ip)
            if lease is not None and not lease.alive():
                drop_lease(network, ip, lease)
                ipam.save(network)
                names.refresh_hosts(network)
    elif item.kind == "link":
        netdev.delete_link(item.name)
    elif item.kind == "nft table":
        nat.delete_table(item.name)
