"""Lab 07's cases: the container's own network namespace, cabled to its runtime by a veth pair.

The judge starts the runtime in a fresh network namespace it made (Case.netns) and holds it
(Run.runtime_netns): the runtime's "host" end of the cable lives there, never on the machine,
and no test packet leaves namespaces the kit made. Every run asks for a different subnet,
prefix length, address, gateway (never the subnet's first address) and run prefix, so an
answer tuned to the notebook's 10.22.0.5/24 fails. The judge reads, while the probe holds
the container:

- the container's interfaces over netlink in its namespace (names, up, addresses), and its
  /proc/PID/net/route (the kernel's IPv4 routing table there, seen from the host);
- the runtime's interfaces (its end of the veth: name, up, address, where its peer is);
- a TCP connection from the runtime's namespace to the container's address, answered by a
  busybox `nc -l` the probe starts before it says ready;

and once the runtime has exited: what is left in the runtime's namespace (nothing but lo:
a veth goes when the container's namespace goes, if its peer was moved there).

Taught in: lab 07.
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
import time
from typing import Any

from kernel_helpers.course.harness import observe
from kernel_helpers.course.harness.cases.base import Case, Fail
from kernel_helpers.course.harness.cases.common import (no_leftovers, shares_namespace,
                                                       started)
from kernel_helpers.course.harness.judge import Run
from kernel_helpers.errors import LabkitError
from kernel_helpers.net import netdev

PORT = 7007
"""Where the probe's listener waits, inside the container's own namespace."""
GREETING = b"labkit-reach"
LISTEN = f"(echo {GREETING.decode()} | busybox nc -l -p {PORT} &)"
"""The probe's first act in the reach case: a one-shot TCP server that greets, in the
background (its own subshell, so the probe goes on to say ready)."""
SETTLE = 3.0
"""Seconds the judge waits for the listener to listen, and for a dying namespace's links to go."""


def _network_asked() -> dict[str, Any]:
    """A random subnet of 10.0.0.0/8 with a random prefix length, the container's address and
    a gateway in it (never the subnet's first address: a gateway assumed to be .1 fails), and
    a run prefix of its own (the runtime names its veth from it)."""
    prefixlen = secrets.choice((16, 20, 24, 26, 28))
    subnet = ipaddress.IPv4Network(((10 << 24) | secrets.randbits(24), prefixlen), strict=False)
    count = subnet.num_addresses - 2  # hosts: 1 .. count
    gateway = 2 + secrets.randbelow(count - 1)
    address = 1 + secrets.randbelow(count - 1)
    address += address >= gateway
    return {"address": f"{subnet.network_address + address}/{prefixlen}",
            "gateway": str(subnet.network_address + gateway),
            "run_prefix": f"lkn{secrets.token_hex(1)}"}  # n: never a kit runtime's lk+hex


def _links(ns: netdev.Netns) -> list[netdev.Link] | None:
    try:
        return netdev.links(ns)
    except LabkitError:
        return None


def _reach(ns: netdev.Netns, ip: str) -> str:
    """Connect from `ns` to ip:PORT: "reached" if the probe's listener greets; else what
    happened: "refused", "no answer", "no route" or "other"."""
    deadline = time.monotonic() + SETTLE
    while True:
        with netdev.inside(ns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # it stays in `ns`
        sock.settimeout(2)
        try:
            sock.connect((ip, PORT))
            return "reached" if sock.recv(64).startswith(GREETING) else "other"
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                return "refused"
            time.sleep(0.05)  # the listener may not listen yet
        except TimeoutError:
            return "no answer"
        except OSError:
            return "no route"
        finally:
            sock.close()


def look(pid: int, run: Run) -> dict[str, Any]:
    seen: dict[str, Any] = {"links": None}
    try:
        container = netdev.Netns.of_pid(pid)
    except LabkitError:
        return seen
    try:
        seen["links"] = _links(container)
    finally:
        container.close()
    seen["route"] = observe.read(f"/proc/{pid}/net/route")
    if run.runtime_netns is not None:
        runtime = netdev.Netns(run.runtime_netns, "the runtime's")  # the judge's fd: not closed
        seen["host_links"] = _links(runtime)
    return seen


def look_reach(pid: int, run: Run) -> dict[str, Any]:
    """`look`, then a TCP connection from the runtime's namespace to the probe's listener."""
    seen = look(pid, run)
    if run.runtime_netns is not None:
        runtime = netdev.Netns(run.runtime_netns, "the runtime's")
        seen["reach"] = _reach(runtime, str(run.spec["address"]).split("/")[0])
    return seen


def look_after(pid: int, run: Run) -> dict[str, Any]:
    """Once the runtime exited: every interface but lo left in its namespace (a veth waits for
    its dying peer namespace's cleanup, in a kernel work queue, so give it a moment)."""
    if run.runtime_netns is None:
        return {}
    runtime = netdev.Netns(run.runtime_netns, "the runtime's")
    deadline = time.monotonic() + SETTLE
    while True:
        left = [link for link in _links(runtime) or [] if link.name != "lo"]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    prefix = str(run.spec.get("run_prefix"))
    return {"left": sorted({(link.kind, link.name.startswith(prefix)) for link in left})}


def machine_untouched(run: Run) -> Fail | None:
    """First: nothing named from the run prefix reached the machine's own namespace (the judge
    deleted it; judge._machine_links)."""
    if any("machine's own network namespace" in line for line in run.leftovers):
        return Fail("your runtime moved an interface into the machine's own network namespace "
                    "(the kit removed it): link_set_netns got a pid outside the container, "
                    "such as 1", "lk.link_set_netns(peer, pid) with the pid os.fork returned "
                    "in the parent")
    return None


def own_netns(run: Run) -> Fail | None:
    if shares_namespace(run, "net"):
        return Fail("the container shares its runtime's network namespace: its interfaces, "
                    "addresses and routes are the host's",
                    "in run's child, when spec.address is set: lk.unshare(lk.CLONE_NEWNET), "
                    "then let the parent connect that namespace (a Sync)")
    return None


def _exited(run: Run, key: str) -> Fail | None:
    if run.seen.get(key) is None:
        return Fail("the container exited before its network could be read",
                    "exec the command as the last step of run's child")
    return None


def _prefix_of(address: str) -> str:
    return address.split("/")[1]


def container_links(run: Run) -> Fail | None:
    """lo and eth0 up, eth0 with spec.address (its prefix length too)."""
    exited = _exited(run, "links")
    if exited:
        return exited
    links: list[netdev.Link] = run.seen["links"]
    by_name = {link.name: link for link in links}
    asked = str(run.spec["address"])
    ip = asked.split("/")[0]
    if "eth0" not in by_name:
        if all(link.name == "lo" for link in links):
            return Fail("the container has no interface besides lo: the veth's peer never "
                        "reached its network namespace", "in connect, lk.link_set_netns(peer, "
                        "pid) with the pid fork returned, before the child goes on")
        return Fail("the container's end of the veth is not named eth0",
                    "in configure_net, lk.link_rename(peer, 'eth0') while it is still down")
    eth0 = by_name["eth0"]
    if asked not in eth0.addresses:
        ours = [a for a in eth0.addresses if a.split("/")[0] == ip]
        host = [a for link in run.seen.get("host_links") or [] for a in link.addresses]
        if ours:
            return Fail("eth0 has the asked address with another prefix length than "
                        "spec.address's", "pass spec.address whole to lk.addr_add, prefix "
                        "length included (each run asks for a different one)")
        if not eth0.addresses and any(a.split("/")[0] == ip for a in host):
            return Fail("the container's address is on the runtime's end of the veth, not on "
                        "the container's eth0", "spec.address goes on eth0, inside "
                        "(configure_net); the runtime's end gets spec.gateway")
        if not eth0.addresses:
            return Fail("eth0 has no IPv4 address", "in configure_net, lk.addr_add('eth0', "
                        "spec.address)")
        return Fail("eth0's address is not the spec.address this run asked for (each run asks "
                    "for a different one)", "lk.addr_add('eth0', spec.address), not a fixed "
                    "address")
    if not eth0.up:
        return Fail("eth0 is down in the container: it has its address, but sends and "
                    "receives nothing", "lk.link_up('eth0') in configure_net, after the rename")
    if not by_name.get("lo") or not by_name["lo"].up:
        return Fail("lo is down in the container: even 127.0.0.1 does not answer there",
                    "lk.link_up('lo') in configure_net: a new network namespace's loopback "
                    "starts down")
    return None


def _routes(text: str) -> list[tuple[str, str, str, str]]:
    """(interface, destination, gateway, mask) of /proc/PID/net/route, addresses dotted."""
    found = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 8:
            dotted = [str(ipaddress.IPv4Address(int(h, 16).to_bytes(4, "little")))
                      for h in (parts[1], parts[2], parts[7])]
            found.append((parts[0], dotted[0], dotted[1], dotted[2]))
    return found


def default_route(run: Run) -> Fail | None:
    exited = _exited(run, "route")
    if exited:
        return exited
    defaults = [r for r in _routes(run.seen["route"]) if r[1] == "0.0.0.0" and r[3] == "0.0.0.0"]
    if not defaults:
        return Fail("the container has no default route: it reaches its own subnet only",
                    "lk.route_add_default(spec.gateway) at the end of configure_net, once eth0 "
                    "is up with its address")
    iface, _, via, _ = defaults[0]
    want = str(run.spec["gateway"])
    if via != want:
        subnet = ipaddress.IPv4Interface(str(run.spec["address"])).network
        if via == "0.0.0.0":
            shown = "no gateway (straight out of an interface)"
        elif via == str(next(subnet.hosts())):
            shown = "the subnet's first address (this run's gateway is another one)"
        elif via == str(run.spec["address"]).split("/")[0]:
            shown = "the container's own address"
        else:
            shown = "another address"
        return Fail(f"the container's default route goes via {shown}, not the spec.gateway "
                    "this run asked for",
                    "lk.route_add_default(spec.gateway)")
    if iface != "eth0":
        return Fail("the container's default route goes out another interface than eth0",
                    "add it once eth0 has its address and is up: the kernel picks the "
                    "interface whose subnet holds the gateway")
    return None


def _veths(run: Run) -> list[netdev.Link]:
    return [link for link in run.seen.get("host_links") or [] if link.kind == "veth"]


def host_end_named(run: Run) -> Fail | None:
    """One veth end in the runtime's namespace, its peer elsewhere, named from the run prefix."""
    if run.seen.get("host_links") is None:
        return Fail("the runtime's network namespace could not be read",
                    "keep the runtime waiting for the container (os.waitpid)")
    veths = _veths(run)
    if not veths:
        return Fail("the runtime's namespace holds no end of a veth pair",
                    "in connect: lk.veth_add(host_if, peer), keep host_if, move the peer")
    if any(link.peer_netnsid is None for link in veths):
        return Fail("both ends of the veth are in the runtime's namespace: the peer never moved "
                    "into the container's", "lk.link_set_netns(peer, pid) in connect, with the "
                    "pid fork returned")
    if not all(link.name.startswith(str(run.spec["run_prefix"])) for link in veths):
        return Fail("the runtime's end of the veth is not named from spec.run_prefix: a "
                    "leftover could not be told apart from the machine's own interfaces",
                    "name it f'{spec.run_prefix}{pid}' (15 bytes at most)")
    return None


def host_end(run: Run) -> Fail | None:
    """host_end_named, then: up, with spec.gateway and spec.address's prefix length."""
    named = host_end_named(run)
    if named:
        return named
    link = _veths(run)[0]
    want = f"{run.spec['gateway']}/{_prefix_of(str(run.spec['address']))}"
    if want not in link.addresses:
        gateway = str(run.spec["gateway"])
        if any(a.split("/")[0] == gateway for a in link.addresses):
            return Fail("the runtime's end of the veth has spec.gateway with another prefix "
                        "length than spec.address's: the container's subnet is not routed "
                        "to it", "lk.addr_add(host_if, f'{spec.gateway}/{prefixlen}'), "
                        "prefixlen from spec.address")
        if not link.addresses:
            return Fail("the runtime's end of the veth has no address: the container's "
                        "subnet has no route on the runtime's side",
                        "lk.addr_add(host_if, f'{spec.gateway}/{prefixlen}') in connect")
        return Fail("the runtime's end of the veth has another address than spec.gateway",
                    "lk.addr_add(host_if, f'{spec.gateway}/{prefixlen}'): the container's "
                    "default route goes via it")
    if not link.up:
        return Fail("the runtime's end of the veth is down: nothing crosses the cable",
                    "lk.link_up(host_if) in connect")
    return None


REACH_WORDS = {"refused": "it was refused: something else has that address, not the container",
               "no answer": "nobody answered for the address",
               "no route": "the runtime's namespace has no route to it",
               "other": "something else answered"}


def reached(run: Run) -> Fail | None:
    got = run.seen.get("reach", "no answer")
    if got == "reached":
        return None
    return Fail("a TCP connection from the runtime's namespace to the container's address did "
                f"not reach the container: {REACH_WORDS.get(got, got)}",
                "both ends up, spec.address on eth0 inside, spec.gateway (with the same prefix "
                "length) on the runtime's end")


def nothing_left(run: Run) -> Fail | None:
    left = (run.seen.get("after") or {}).get("left")
    if not left:
        return None
    shown = "; ".join(f"a {kind}" + (" named from the run prefix" if ours else "")
                      for kind, ours in left)
    return Fail(f"after your runtime exited, its network namespace still holds {shown}",
                "move the peer into the container: the pair goes with the container's "
                "namespace; delete anything else connect makes")


CASES = (
    Case("own-netns", 0, True, (machine_untouched, started, own_netns, no_leftovers), extra=_network_asked,
         look=look, netns=True),
    Case("interfaces", 0, True, (machine_untouched, started, own_netns, container_links, no_leftovers),
         extra=_network_asked, look=look, netns=True),
    Case("route", 0, True, (machine_untouched, started, own_netns, default_route, no_leftovers),
         extra=_network_asked, look=look, netns=True),
    Case("reach", 0, True, (machine_untouched, started, own_netns, host_end, reached, no_leftovers),
         extra=_network_asked, look=look_reach, before=LISTEN, netns=True),
    Case("veth-cleanup", 0, True, (machine_untouched, started, own_netns, host_end_named, nothing_left,
                                   no_leftovers),
         extra=_network_asked, look=look, after=look_after, netns=True),
)
