"""Network devices over netlink: the only module that talks to pyroute2.

A network namespace is held by an open file descriptor (`Netns`), never pinned
by a mount under /run/netns: it lives exactly as long as a process or an fd
still uses it, so a killed `labkit run` cannot leave a namespace behind.
To talk to the kernel inside a namespace, the calling thread setns()es into
it, opens a netlink socket there and setns()es back: a socket keeps the
namespace it was born in, and no helper process is forked (pyroute2's own
`netns=` option forks one per socket).

Taught in: lab 07.
"""

from __future__ import annotations

import errno
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers.errors import translate_oserror

if TYPE_CHECKING:
    from pyroute2 import IPRoute

CLONE_NEWNET = 0x40000000
NETLINK_ROUTE = 0


class Netns:
    """A network namespace held open by an fd (from a pid, or made fresh)."""

    def __init__(self, fd: int, label: str) -> None:
        self.fd = fd
        self.label = label

    @classmethod
    def of_pid(cls, pid: int, label: str | None = None) -> Netns:
        """The namespace process `pid` is in (/proc/PID/ns/net)."""
        try:
            return cls(os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC),
                       label or f"pid {pid}")
        except OSError as err:
            raise translate_oserror(err, f"network namespace of pid {pid}") from err

    @classmethod
    def new(cls, label: str, kernel: Kernel = LINUX) -> Netns:
        """A fresh, empty namespace: unshare in this thread, keep an fd, go back."""
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            kernel.unshare(CLONE_NEWNET)
            fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            kernel.setns(home, CLONE_NEWNET)
        finally:
            os.close(home)
        return cls(fd, label)

    def close(self) -> None:
        """Drop our hold; the namespace goes once nothing else uses it."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __repr__(self) -> str:
        return f"Netns({self.label!r})"


@contextmanager
def inside(ns: Netns | None, kernel: Kernel = LINUX) -> Iterator[None]:
    """Run the block with this thread in `ns` (None: stay), sockets made there stay there."""
    if ns is None:
        yield
        return
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        kernel.setns(ns.fd, CLONE_NEWNET)
        try:
            yield
        finally:
            kernel.setns(home, CLONE_NEWNET)
    finally:
        os.close(home)


@contextmanager
def route(ns: Netns | None = None, what: str = "netlink") -> Iterator[IPRoute]:
    """An rtnetlink handle in `ns`; netlink errors become one-sentence LabkitErrors."""
    from pyroute2 import IPRoute  # ~0.1 s to import: only when networking is used
    from pyroute2.netlink.exceptions import NetlinkError
    with inside(ns):
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)
    with _no_running_loop():
        ipr = IPRoute(use_socket=sock)
        try:
            yield ipr
        except NetlinkError as err:
            raise translate_oserror(OSError(err.code, os.strerror(err.code)), what) from err
        finally:
            ipr.close()
            sock.close()


@contextmanager
def _no_running_loop() -> Iterator[None]:
    """Hide a running asyncio loop (a notebook kernel's) while pyroute2 runs its own.

    pyroute2's synchronous API drives a private event loop, which asyncio refuses to
    start while another runs in the thread; the cell blocks that loop anyway meanwhile.
    """
    import asyncio
    running = asyncio._get_running_loop()
    asyncio._set_running_loop(None)
    try:
        yield
    finally:
        asyncio._set_running_loop(running)


@dataclass(frozen=True)
class Link:
    """One interface as a diagram or the sweeper sees it."""

    index: int
    name: str
    kind: str
    up: bool
    master: str | None
    addresses: tuple[str, ...]
    peer_index: int | None
    """For a veth: the ifindex of its other end (in `peer_netnsid`'s namespace if set)."""
    peer_netnsid: int | None


def links(ns: Netns | None = None) -> list[Link]:
    """Every interface in `ns` with its kind, bridge, addresses and veth peer."""
    with route(ns, "list interfaces") as ipr:
        raw = list(ipr.get_links())
        addrs: dict[int, list[str]] = {}
        for msg in ipr.get_addr(family=socket.AF_INET):
            addrs.setdefault(msg["index"], []).append(
                f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}")
    names = {msg["index"]: msg.get_attr("IFLA_IFNAME") for msg in raw}
    found = []
    for msg in raw:
        info = msg.get_attr("IFLA_LINKINFO")
        kind = (info.get_attr("IFLA_INFO_KIND") if info else None) or (
            "loopback" if msg.get_attr("IFLA_IFNAME") == "lo" else "device")
        master = msg.get_attr("IFLA_MASTER")
        peer = msg.get_attr("IFLA_LINK") if kind == "veth" else None
        found.append(Link(msg["index"], names[msg["index"]], kind,
                          bool(msg["flags"] & 1),  # IFF_UP
                          names.get(master) if master else None,
                          tuple(addrs.get(msg["index"], ())), peer,
                          msg.get_attr("IFLA_LINK_NETNSID")))
    return found


def netnsid(ns: Netns | None, other: Netns) -> int | None:
    """The id `ns` uses for `other` (what IFLA_LINK_NETNSID of a veth there refers to)."""
    with route(ns, "netns id") as ipr:
        found = ipr.get_netnsid(fd=other.fd)
    nsid = found["nsid"] if found else None
    return None if nsid is None or nsid < 0 else nsid


def link_names(ns: Netns | None = None) -> set[str]:
    """Just the names (cheap enough for the sweeper and the tests)."""
    with route(ns, "list interfaces") as ipr:
        return {msg.get_attr("IFLA_IFNAME") for msg in ipr.get_links()}


def ensure_bridge(name: str, address: str | None = None, prefixlen: int = 24,
                  ns: Netns | None = None) -> None:
    """Create bridge `name` (with the gateway address, if any) and bring it up; fine if it exists."""
    with route(ns, f"bridge {name}") as ipr:
        if not ipr.link_lookup(ifname=name):
            ipr.link("add", ifname=name, kind="bridge")
        index = ipr.link_lookup(ifname=name)[0]
        if address and not any(a.get_attr("IFA_ADDRESS") == address
                               for a in ipr.get_addr(index=index)):
            ipr.addr("add", index=index, address=address, prefixlen=prefixlen)
        ipr.link("set", index=index, state="up")


def delete_link(name: str, ns: Netns | None = None) -> bool:
    """Delete an interface (both ends, for a veth); False if it was already gone.

    Deleting a veth waits for an RCU grace period: ~20-30 ms in the kernel.
    """
    from pyroute2.netlink.exceptions import NetlinkError
    with route(ns, f"delete {name}") as ipr:
        try:
            ipr.link("del", ifname=name)
        except NetlinkError as err:
            if err.code == 19:  # ENODEV: the kernel removed it with its namespace
                return False
            raise
    return True


def add_veth(name: str, peer: str, ns: Netns | None = None, peer_ns: Netns | None = None,
             master: str | None = None, mtu: int | None = None, up: bool = True) -> None:
    """A veth pair `name` (in ns, on `master`, up unless `up` is False) <-> `peer` born
    directly in `peer_ns`.

    Creating the peer inside its namespace (IFLA_NET_NS_FD in the peer's info)
    avoids a later move, which costs a ~14 ms synchronize_net() in the kernel.
    """
    extra = {"mtu": mtu} if mtu else {}
    peer_spec: dict[str, object] = {"ifname": peer, **extra}
    if peer_ns is not None:
        peer_spec["net_ns_fd"] = peer_ns.fd
    with route(ns, f"veth {name}") as ipr:
        ipr.link("add", ifname=name, kind="veth", peer=peer_spec, **extra)
        try:
            index = ipr.link_lookup(ifname=name)[0]
            if master:
                ipr.link("set", index=index, master=ipr.link_lookup(ifname=master)[0])
            if up:
                ipr.link("set", index=index, state="up")
        except BaseException:
            ipr.link("del", index=index)
            raise


def _index(ipr: IPRoute, name: str) -> int:
    """The ifindex of `name`, or ENODEV as a NetlinkError (route() words it)."""
    from pyroute2.netlink.exceptions import NetlinkError
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise NetlinkError(errno.ENODEV, f"no interface {name}")
    return int(found[0])


def set_link(name: str, ns: Netns | None = None, *, up: bool | None = None,
             new_name: str | None = None, netns_pid: int | None = None) -> None:
    """One RTM_SETLINK on `name`: bring it up or down, rename it, or move it to the network
    namespace of process `netns_pid` (IFLA_NET_NS_PID; it arrives down, keeping its name)."""
    changes: dict[str, object] = {}
    if up is not None:
        changes["state"] = "up" if up else "down"
    if new_name is not None:
        changes["ifname"] = new_name
    if netns_pid is not None:
        changes["net_ns_pid"] = netns_pid
    with route(ns, f"set link {name}") as ipr:
        ipr.link("set", index=_index(ipr, name), **changes)


def add_address(name: str, address: str, prefixlen: int, ns: Netns | None = None) -> None:
    """Give interface `name` the IPv4 `address`/`prefixlen` (the subnet's route comes with it
    once the link is up)."""
    with route(ns, f"address on {name}") as ipr:
        ipr.addr("add", index=_index(ipr, name), address=address, prefixlen=prefixlen)


def add_default_route(gateway: str, ns: Netns | None = None) -> None:
    """A default IPv4 route via `gateway` (reachable on the subnet of an up interface)."""
    with route(ns, f"default route via {gateway}") as ipr:
        ipr.route("add", dst="0.0.0.0/0", gateway=gateway)


def configure(ns: Netns | None, ifname: str, address: str, prefixlen: int,
              gateway: str | None = None) -> None:
    """Address, link up, loopback up and (optionally) a default route, inside `ns`."""
    with route(ns, f"configure {ifname}") as ipr:
        index = ipr.link_lookup(ifname=ifname)[0]
        ipr.addr("add", index=index, address=address, prefixlen=prefixlen)
        ipr.link("set", index=index, state="up")
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        if gateway:
            ipr.route("add", dst="0.0.0.0/0", gateway=gateway)


def add_vxlan(name: str, vni: int, local: str, remote: str, underlay: str, bridge: str,
              ns: Netns | None = None, port: int = 4789) -> None:
    """A VXLAN tunnel end on `bridge`: frames for the far side ride in UDP to `remote`."""
    with route(ns, f"vxlan {name}") as ipr:
        ipr.link("add", ifname=name, kind="vxlan", vxlan_id=vni, vxlan_local=local,
                 vxlan_group=remote, vxlan_port=port,
                 vxlan_link=ipr.link_lookup(ifname=underlay)[0])
        index = ipr.link_lookup(ifname=name)[0]
        ipr.link("set", index=index, master=ipr.link_lookup(ifname=bridge)[0], state="up")


def routes_v4(ns: Netns | None = None) -> list[str]:
    """Destinations of the IPv4 routes in `ns` (so a new subnet can avoid them)."""
    with route(ns, "list routes") as ipr:
        return [f"{msg.get_attr('RTA_DST')}/{msg['dst_len']}"
                for msg in ipr.get_routes(family=socket.AF_INET) if msg.get_attr("RTA_DST")]


def probe_veth() -> str:
    """Create and delete a veth pair in a throwaway namespace (doctor's proof it works)."""
    ns = Netns.new("doctor")
    try:
        add_veth("lkprobe0", "lkprobe1", ns)  # gone with the namespace, whatever happens
        return "a veth pair can be created"
    finally:
        ns.close()
