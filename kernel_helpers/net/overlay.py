"""A cross-host overlay: bridges on two hosts joined by VXLAN, one L2 network.

VXLAN wraps each Ethernet frame in a UDP datagram (port 4789) to the other
host's underlay address, so containers on two machines share one subnet as
if they sat on one bridge: the idea behind Docker's overlay driver and
flannel. `join_overlay` is all a real host needs (run it on each of two
Vagrant VMs with the other's address); `simulate` builds two "hosts" out of
kit namespaces joined by a veth "wire", so the lab runs on one machine.

Taught in: lab 07.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from kernel_helpers import naming
from kernel_helpers.net import netdev
from kernel_helpers.net.netdev import Netns

VXLAN_OVERHEAD = 50
"""Outer Ethernet 14 + IP 20 + UDP 8 + VXLAN 8 bytes: inner frames must be this much smaller."""


def join_overlay(bridge: str, vni: int, local: str, remote: str, underlay: str,
                 ns: Netns | None = None) -> str:
    """Put a VXLAN tunnel end on `bridge`, towards the host at `remote`; return its name."""
    name = f"{bridge}vx"
    netdev.add_vxlan(name, vni, local, remote, underlay, bridge, ns)
    return name


@dataclass
class SimHost:
    """A simulated host: a namespace with an underlay address and an overlay bridge."""

    label: str
    ns: Netns
    underlay_ip: str
    bridge: str
    vxlan: str = ""
    containers: dict[str, tuple[Netns, str]] = field(default_factory=dict)
    """Container label -> (its namespace, its overlay address)."""


@dataclass
class OverlayLab:
    """Two simulated hosts, their containers, and how to take it all down."""

    hosts: list[SimHost]
    subnet: str

    def namespaces(self) -> dict[str, Netns | None]:
        """Every namespace by label, for `diagram.snapshot`."""
        found: dict[str, Netns | None] = {}
        for host in self.hosts:
            found[host.label] = host.ns
            found.update({label: ns for label, (ns, _) in host.containers.items()})
        return found

    def close(self) -> None:
        """Drop every namespace: the kernel removes all their interfaces with them."""
        for ns in self.namespaces().values():
            if ns is not None:
                ns.close()

    def __enter__(self) -> OverlayLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def add_container(host: SimHost, label: str, address: str, prefixlen: int) -> Netns:
    """A container-like namespace on `host`'s bridge, its MTU leaving room for VXLAN."""
    ns = Netns.new(label)
    host.containers[label] = (ns, address)
    netdev.add_veth(naming.new_name(), "eth0", host.ns, ns, master=host.bridge,
                    mtu=1500 - VXLAN_OVERHEAD)
    netdev.configure(ns, "eth0", address, prefixlen)
    return ns


def simulate(subnet: str = "10.244.0.0/24", vni: int = 42,
             underlay: str = "192.168.77.0/24", per_host: int = 1) -> OverlayLab:
    """Two hosts joined by a veth wire, a VXLAN between their bridges, containers on each.

    Nothing touches the machine's own namespace: every device lives in a kit
    namespace held by an fd, so closing the lab (or the process dying) removes it all.
    """
    net, wire = ipaddress.IPv4Network(subnet), ipaddress.IPv4Network(underlay)
    hosts = [SimHost(label, Netns.new(label), str(wire.network_address + i + 1), naming.new_name())
             for i, label in enumerate(("host-a", "host-b"))]
    lab = OverlayLab(hosts, subnet)
    try:
        a, b = hosts
        wire_a, wire_b = naming.new_name(), naming.new_name()
        netdev.add_veth(wire_a, wire_b, a.ns, b.ns)
        netdev.configure(a.ns, wire_a, a.underlay_ip, wire.prefixlen)
        netdev.configure(b.ns, wire_b, b.underlay_ip, wire.prefixlen)
        addresses = net.hosts()
        for host, peer, dev in ((a, b, wire_a), (b, a, wire_b)):
            netdev.ensure_bridge(host.bridge, ns=host.ns)
            host.vxlan = join_overlay(host.bridge, vni, host.underlay_ip, peer.underlay_ip,
                                      dev, host.ns)
            for n in range(per_host):
                add_container(host, f"{host.label[-1]}{n + 1}", str(next(addresses)), net.prefixlen)
    except BaseException:
        lab.close()
        raise
    return lab
