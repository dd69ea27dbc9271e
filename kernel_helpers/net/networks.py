"""Networks as a whole: create (record, bridge, nft table, name files) and remove.

A network is like `docker network create`: it stays until `labkit network rm`
(the sweeper in `net.sweep` only removes what a killed run left).

Taught in: lab 07.
"""

from __future__ import annotations

from kernel_helpers.cleanup import Registry, remove_tree
from kernel_helpers.errors import Busy
from kernel_helpers.net import ipam, names, nat, netdev
from kernel_helpers.net.ipam import Network


def create(name: str, subnet: str | None = None) -> Network:
    """Make a network; on any failure nothing of it is left."""
    with ipam.locked():
        return _create_locked(name, subnet)


def _create_locked(name: str, subnet: str | None) -> Network:
    network = ipam.new_network(name, subnet, avoid=netdev.routes_v4())
    undo = Registry()
    try:
        ipam.save(network)  # first, so the sweeper knows the bridge below is accounted for
        undo.push(f"record of {name}", lambda: remove_tree(str(network.directory)))
        netdev.ensure_bridge(network.bridge, network.gateway, network.net.prefixlen)
        undo.push(f"bridge {network.bridge}", lambda: netdev.delete_link(network.bridge))
        nat.create_table(network.bridge, network.subnet)
        undo.push(f"table {network.bridge}", lambda: nat.delete_table(network.bridge))
        names.refresh_hosts(network)
        names.write_resolv_conf(network)
    except BaseException:
        undo.unwind()
        raise
    return network


def ensure(name: str) -> Network:
    """Load a network; the default one is created on first use (callers hold the lock)."""
    if name == ipam.DEFAULT_NETWORK and not (ipam.net_root() / name / ipam.NETWORK_FILE).exists():
        return _create_locked(name, None)
    network = ipam.load(name)
    nat.guard_localnet(network.bridge)  # networks outlive kit upgrades: close route_localnet
    return network


def remove(name: str, force: bool = False) -> Network:
    """Remove a network: its table, bridge and files. Refused while live containers use it."""
    with ipam.locked():
        network = ipam.load(name)
        live = [lease.container for lease in network.leases.values() if lease.alive()]
        if live and not force:
            raise Busy(f"network '{name}'", f"is used by {len(live)} running container(s) "
                       f"({', '.join(sorted(live)[:3])})", "stop them first")
        _teardown(network)
        return network


def _teardown(network: Network) -> None:
    for ip, lease in list(network.leases.items()):
        drop_lease(network, ip, lease)
    nat.delete_table(network.bridge)
    netdev.delete_link(network.bridge)
    remove_tree(str(network.directory))


def drop_lease(network: Network, ip: str, lease: ipam.Lease) -> None:
    """Unpublish its ports, delete its veth if still there, forget it (callers save)."""
    for record in lease.ports:
        nat.unpublish(network.bridge, nat.PortMapping.from_record(record), ip)
    netdev.delete_link(lease.container)  # the host end of its veth, if still there
    network.leases.pop(ip, None)


def all_ports() -> list[nat.PortMapping]:
    """Every port published by any container on any network (callers hold the lock)."""
    return [nat.PortMapping.from_record(record) for network in ipam.all_networks()
            for lease in network.leases.values() for record in lease.ports]
