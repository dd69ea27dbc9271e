"""A container's part in a network: lease, veth, eth0, route, ports and names.

    prepare (supervisor, before fork)   lease an address, publish ports, rewrite hosts
    attach  (container has its netns)   veth: host end on the bridge, peer born as eth0
                                        inside; address, lo up, default route
    mounts  (before pivot_root)         the network's hosts and resolv.conf, read-only

Every step registers its undo, so an error, Ctrl-C or the container's exit
removes the ports, the veth and the lease, newest first.

Taught in: lab 07.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from kernel_helpers._sys.linux import MS_BIND, MS_RDONLY
from kernel_helpers.errors import InvalidValue
from kernel_helpers.namespaces import Namespace
from kernel_helpers.net import ipam, names, nat, netdev, networks
from kernel_helpers.rootfs.mounts import MountStep
from kernel_helpers.stage import LaunchContext, Stage


class NetworkStage(Stage):
    """Join the container to network `network`, optionally with a fixed address and ports."""

    def __init__(self, network: str = ipam.DEFAULT_NETWORK, ports: tuple[str, ...] = (),
                 address: str | None = None) -> None:
        self.network_name = ipam.check_name(network)
        self.ports = tuple(nat.parse_port(p) for p in ports)
        self.address = address
        self.network: ipam.Network | None = None
        self.ip = ""

    def prepare(self, ctx: LaunchContext) -> None:
        if Namespace.NET not in ctx.spec.namespaces:
            raise InvalidValue("--network", "needs the container's own net namespace",
                               "add net to --ns")
        container = ctx.state.id
        with ipam.locked():
            network = networks.ensure(self.network_name)
            taken = networks.all_ports()
            for mapping in self.ports:
                nat.check_free(mapping, taken)
                taken.append(mapping)
            aliases = [n for n in (ctx.state.name, ctx.spec.hostname) if n]
            self.ip = ipam.lease(network, container, os.getpid(), aliases,
                                 self.address, [str(m) for m in self.ports])
            ipam.save(network)
            ctx.registry.push(f"lease {self.ip}", lambda: self._release(container))
            for mapping in self.ports:
                nat.publish(network.bridge, mapping, self.ip)
                ctx.registry.push(f"port {mapping}",
                                  partial(nat.unpublish, network.bridge, mapping, self.ip))
            names.refresh_hosts(network)
        self.network = network
        ctx.state.extra["network"] = {"name": network.name, "address": self.ip,
                                      "bridge": network.bridge, "veth": container,
                                      "ports": [str(m) for m in self.ports]}

    def attach(self, ctx: LaunchContext, pid: int) -> None:
        assert self.network is not None, "prepare() runs first"
        ns = netdev.Netns.of_pid(pid)
        try:
            host_end = ctx.state.id  # lk + 8 hex: the container's id names its veth
            netdev.add_veth(host_end, "eth0", peer_ns=ns, master=self.network.bridge)
            ctx.registry.push(f"veth {host_end}", lambda: netdev.delete_link(host_end))
            netdev.configure(ns, "eth0", self.ip, self.network.net.prefixlen,
                             self.network.gateway)
        finally:
            ns.close()

    def mounts(self, ctx: LaunchContext) -> list[MountStep]:
        if ctx.spec.rootfs is None or self.network is None:
            return []
        root = Path(ctx.spec.rootfs).resolve()
        flags = MS_BIND | MS_RDONLY
        return [MountStep(str(self.network.directory / names.HOSTS), f"{root}/etc/hosts", None,
                          flags, make_file=True),
                MountStep(str(self.network.directory / names.RESOLV_CONF),
                          f"{root}/etc/resolv.conf", None, flags, make_file=True)]

    def _release(self, container: str) -> None:
        with ipam.locked():
            network = ipam.load(self.network_name)
            ipam.release(network, container)
            ipam.save(network)
            names.refresh_hosts(network)
