"""Checks of lab 07: a veth cable between two network namespaces, made over netlink.

The check's child first takes a network namespace of its own, then makes two
fresh ones (held by fds). Whatever the learner's code creates, even in the
wrong namespace, lives only in those and is gone when the child exits.

Taught in: lab 07.
"""

from __future__ import annotations

import socket

from kernel_helpers.course.checks import call, check, fail
from kernel_helpers.namespaces import Namespace, unshare
from kernel_helpers.net import diagram, netdev
from kernel_helpers.process import run_in_child

A, B, PREFIXLEN, PORT = "10.77.0.1", "10.77.0.2", 24, 7777


def _talks(server_ns: netdev.Netns, client_ns: netdev.Netns) -> bool:
    """A TCP connection from a socket made in `client_ns` to a listener in `server_ns`."""
    with netdev.inside(server_ns):
        server = socket.socket()
    with netdev.inside(client_ns):
        client = socket.socket()
    try:
        server.bind((B, PORT))
        server.listen(1)
        client.settimeout(2)
        client.connect((B, PORT))
        return True
    except OSError:
        return False
    finally:
        client.close()
        server.close()


def _wire_in_sandbox(answer: object) -> dict[str, object]:
    unshare({Namespace.NET})
    a, b = netdev.Netns.new("a"), netdev.Netns.new("b")
    try:
        call(answer, a, b, A, B, PREFIXLEN)
        seen = diagram.snapshot({"a": a, "b": b})
        links = {ns.label: [link for link in ns.links if link.kind != "loopback"]
                 for ns in seen.namespaces}
        return {"cables": len(seen.cables), "a": [(ln.up, ln.addresses) for ln in links["a"]],
                "b": [(ln.up, ln.addresses) for ln in links["b"]],
                "caller": [ln.name for ln in netdev.links() if ln.kind != "loopback"],
                "talks": _talks(b, a)}
    finally:
        a.close()
        b.close()


@check("net.veth")
def veth(answer: object) -> str:
    seen = run_in_child(_wire_in_sandbox, answer, timeout=20)
    if seen["caller"]:
        raise fail("an interface was made in the caller's namespace, not in a or b",
                   "make the veth inside a (netdev.route(a)) and put its peer in b (net_ns_fd=b.fd)")
    if seen["cables"] != 1:
        raise fail(f"{seen['cables']} veth cable(s) join namespace a to namespace b, not 1",
                   "add ONE veth in a whose peer is born in b: peer={'ifname': ..., 'net_ns_fd': b.fd}")
    for label, address in (("a", A), ("b", B)):
        if not any(f"{address}/{PREFIXLEN}" in addrs for _, addrs in seen[label]):  # type: ignore[attr-defined]
            raise fail(f"the veth end in {label} does not have {address}/{PREFIXLEN}",
                       "ipr.addr('add', index=..., address=..., prefixlen=...) in each namespace")
        if not all(up for up, _ in seen[label]):  # type: ignore[attr-defined]
            raise fail(f"the veth end in {label} is down",
                       "ipr.link('set', index=..., state='up') on both ends")
    if not seen["talks"]:
        raise fail("a TCP connection from a to b did not get through",
                   "check both ends are up and in the same subnet")
    return "one veth joins a and b; a TCP connection from a reached b"
