"""Netlink verbs for a container's network, named after what `ip` would do, with a hint on errors.

Thin over the kit's pyroute2 code (`kernel_helpers.net.netdev`): each is one or two netlink
messages in the caller's network namespace. An error is an `OSError` subclass carrying the
errno, the verb and one sentence saying what it means here, like `kernel_helpers.learn.sys`::

    lk.veth_add("lk4242", "lk4242c")      # ip link add lk4242 type veth peer name lk4242c
    lk.link_set_netns("lk4242c", pid)     # ip link set lk4242c netns PID
    lk.addr_add("lk4242", "10.22.0.1/24") # ip addr add 10.22.0.1/24 dev lk4242
    lk.link_up("lk4242")                  # ip link set lk4242 up

Interface names are at most 15 bytes (IFNAMSIZ 16 with the NUL).

Taught in: lab 07.
"""

from __future__ import annotations

import errno
import ipaddress
from typing import Any, Callable

from kernel_helpers.errors import LabkitError
from kernel_helpers.learn.sys import HINTS, error_for
from kernel_helpers.net import netdev

__all__ = ["addr_add", "link_names", "link_rename", "link_set_netns", "link_up", "route_add_default",
           "veth_add"]

IFNAMSIZ = 16
"""The kernel's buffer for an interface name, NUL included: names have at most 15 bytes."""

HINTS.update({
    ("veth_add", errno.EEXIST): "an interface of that name is already here (a leftover of an "
                                "earlier run?): make names unique, e.g. from spec.run_prefix "
                                "and the pid",
    ("veth_add", errno.ERANGE): "an interface name has at most 15 bytes (IFNAMSIZ): shorten it",
    ("veth_add", errno.EINVAL): "an interface name has at most 15 bytes (IFNAMSIZ) and no '/', "
                                "':' or spaces",
    ("veth_add", errno.EPERM): "making interfaces needs root (CAP_NET_ADMIN)",
    ("link_set_netns", errno.ENODEV): "no interface of that name in this network namespace: "
                                      "move the end you made (veth_add's peer)",
    ("link_set_netns", errno.ESRCH): "no process with that pid: pass the child's pid as the "
                                     "parent sees it (what os.fork returned)",
    ("link_set_netns", errno.EEXIST): "the target namespace already has an interface of that "
                                      "name",
    ("link_rename", errno.ENODEV): "no interface of that name in this network namespace: did the "
                                   "parent move the peer in (link_set_netns) before releasing "
                                   "the child? link_names() lists what is here",
    ("link_rename", errno.EBUSY): "an interface that is up cannot be renamed: rename it first, "
                                  "then link_up",
    ("link_rename", errno.EEXIST): "another interface here already has that name",
    ("link_rename", errno.ERANGE): "an interface name has at most 15 bytes (IFNAMSIZ)",
    ("link_rename", errno.EINVAL): "an interface name has at most 15 bytes (IFNAMSIZ) and no "
                                   "'/', ':' or spaces",
    ("link_up", errno.ENODEV): "no interface of that name in this network namespace "
                               "(link_names() lists what is here)",
    ("addr_add", errno.ENODEV): "no interface of that name in this network namespace: one "
                                "moved away by link_set_netns is gone from it; the container's "
                                "eth0 is the peer the parent moved in, renamed by the child",
    ("addr_add", errno.EEXIST): "the interface already has this address",
    ("addr_add", errno.EINVAL): "give the address with its prefix length, e.g. '10.22.0.5/24'",
    ("route_add_default", errno.ENETUNREACH): "the gateway is on no subnet of an interface that "
                                              "is up: add the address (with its prefix) and "
                                              "link_up the interface first",
    ("route_add_default", errno.EEXIST): "this namespace already has a default route",
    ("route_add_default", errno.EINVAL): "the gateway must be a plain IPv4 address, e.g. "
                                         "'10.22.0.1' (no prefix length)",
})


def _call(verb: str, args: tuple[Any, ...], fn: Callable[..., Any], *call: Any) -> Any:
    """Run one netdev call; a netlink error becomes `error_for(verb, errno)` with its hint."""
    try:
        return fn(*call)
    except LabkitError as err:  # netdev.route() words a NetlinkError; take its errno back
        code = getattr(err.__cause__, "code", None) or getattr(err.__cause__, "errno", None)
        if not isinstance(code, int):
            raise
        raise error_for(verb, code, args) from None
    except OSError as err:
        raise error_for(verb, err.errno or 0, args) from None


def _check_name(verb: str, name: str, args: tuple[Any, ...]) -> None:
    if not name or len(name.encode()) >= IFNAMSIZ:
        raise error_for(verb, errno.ERANGE, args)


def veth_add(name: str, peer: str) -> None:
    """A veth pair (a virtual cable) `name` <-> `peer`, both here and down. ip link add NAME
    type veth peer name PEER."""
    args = (name, peer)
    _check_name("veth_add", name, args)
    _check_name("veth_add", peer, args)
    _call("veth_add", args, lambda: netdev.add_veth(name, peer, up=False))


def link_set_netns(name: str, pid: int) -> None:
    """Move interface `name` into the network namespace of process `pid` (it arrives down, with
    its name, and leaves this namespace). ip link set NAME netns PID."""
    _call("link_set_netns", (name, pid), lambda: netdev.set_link(name, netns_pid=pid))


def link_rename(name: str, new_name: str) -> None:
    """Rename interface `name` (it must be down). ip link set NAME name NEW."""
    _check_name("link_rename", new_name, (name, new_name))
    _call("link_rename", (name, new_name), lambda: netdev.set_link(name, new_name=new_name))


def link_up(name: str) -> None:
    """Bring interface `name` up (lo too: a new namespace's loopback starts down). ip link set
    NAME up."""
    _call("link_up", (name,), lambda: netdev.set_link(name, up=True))


def addr_add(name: str, address: str) -> None:
    """Give interface `name` an IPv4 address with its prefix, e.g. '10.22.0.5/24'. ip addr add
    ADDRESS dev NAME."""
    args = (name, address)
    try:
        iface = ipaddress.IPv4Interface(address)
    except ValueError:
        raise error_for("addr_add", errno.EINVAL, args) from None
    if "/" not in address:
        raise error_for("addr_add", errno.EINVAL, args)
    _call("addr_add", args, netdev.add_address, name, str(iface.ip), iface.network.prefixlen)


def route_add_default(gateway: str) -> None:
    """The default route: everything without a closer route goes via `gateway`. ip route add
    default via GATEWAY."""
    try:
        ipaddress.IPv4Address(gateway)
    except ValueError:
        raise error_for("route_add_default", errno.EINVAL, (gateway,)) from None
    _call("route_add_default", (gateway,), netdev.add_default_route, gateway)


def link_names() -> list[str]:
    """The interfaces in the caller's network namespace, by name. ip -o link."""
    return sorted(_call("link_names", (), netdev.link_names))

