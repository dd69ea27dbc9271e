"""Diagrams from live state: which interface is in which namespace, on which bridge.

`snapshot()` asks the kernel (netlink, in each namespace) and returns plain
data; `render_text()` and `render_matplotlib()` draw that data. Nothing is
drawn from what the kit *meant* to make, only from what is there.

Taught in: lab 07.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from kernel_helpers import naming
from kernel_helpers.net import ipam, netdev


@dataclass(frozen=True)
class Namespace:
    """One network namespace as seen from inside it."""

    label: str
    links: tuple[netdev.Link, ...]


@dataclass(frozen=True)
class Diagram:
    """Namespaces and the veth pairs that join them, as (ns, ifname, ns, ifname)."""

    namespaces: tuple[Namespace, ...]
    cables: tuple[tuple[str, str, str, str], ...]


def snapshot(namespaces: dict[str, netdev.Netns | None],
             only_ours_in: tuple[str, ...] = ()) -> Diagram:
    """Read every namespace's links; in `only_ours_in`, keep only kit-named ones.

    A veth reports its peer as (netnsid, ifindex): an ifindex in the namespace
    that *this* namespace calls netnsid, so ends are paired through those ids.
    """
    seen = []
    for label, ns in namespaces.items():
        found = netdev.links(ns)
        if label in only_ours_in:
            found = [link for link in found if naming.is_ours(link.name)]
        seen.append(Namespace(label, tuple(found)))
    handles = {label: ns or netdev.Netns.of_pid(os.getpid(), label)
               for label, ns in namespaces.items()}
    try:
        cables = []
        for i, a in enumerate(seen):
            for b in seen[i + 1:]:
                nsid = netdev.netnsid(namespaces[a.label], handles[b.label])
                cables += [(a.label, x.name, b.label, y.name) for x in a.links for y in b.links
                           if nsid is not None and x.kind == "veth" and x.peer_netnsid == nsid
                           and x.peer_index == y.index]
    finally:
        for label, ns in handles.items():
            if namespaces[label] is None:
                ns.close()
    return Diagram(tuple(seen), tuple(cables))


def of_network(name: str) -> Diagram:
    """The network's bridge in the host and each running member's namespace."""
    from kernel_helpers.state import all_states
    network = ipam.load(name)
    pids = {s.id: s.pid for s in all_states() if s.pid}
    held: dict[str, netdev.Netns | None] = {"host": None}
    try:
        for lease in network.leases.values():
            if lease.container in pids:
                try:
                    held[f"container {lease.container}"] = netdev.Netns.of_pid(pids[lease.container])
                except Exception:
                    continue
        diagram = snapshot(held, only_ours_in=("host",))
    finally:
        for ns in held.values():
            if ns is not None:
                ns.close()
    host = diagram.namespaces[0]
    bridge_ports = [link for link in host.links
                    if link.name == network.bridge or link.master == network.bridge]
    return Diagram((Namespace("host", tuple(bridge_ports)), *diagram.namespaces[1:]),
                   diagram.cables)


def render_text(diagram: Diagram) -> str:
    """One block per namespace; a veth shows where its other end is."""
    ends = {(a, x): f"{b}:{y}" for a, x, b, y in diagram.cables}
    ends.update({(b, y): f"{a}:{x}" for a, x, b, y in diagram.cables})
    out = []
    for ns in diagram.namespaces:
        out.append(f"[{ns.label}]")
        for link in ns.links:
            parts = [f"  {link.name:<12} {link.kind:<8} {'up' if link.up else 'down':<4}"]
            if link.addresses:
                parts.append(" ".join(link.addresses))
            if link.master:
                parts.append(f"on bridge {link.master}")
            if (ns.label, link.name) in ends:
                parts.append(f"<-> {ends[(ns.label, link.name)]}")
            out.append(" ".join(parts))
    return "\n".join(out)


def render_matplotlib(diagram: Diagram, ax: Any = None) -> Any:
    """Namespaces as columns of boxes, veth cables as lines; returns the Axes."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    if ax is None:
        _, ax = plt.subplots(figsize=(3 * max(1, len(diagram.namespaces)), 4))
    where: dict[tuple[str, str], tuple[float, float]] = {}
    for col, ns in enumerate(diagram.namespaces):
        x = col * 3.0
        height = max(1, len(ns.links)) + 0.6
        ax.add_patch(Rectangle((x - 1.2, -height + 0.3), 2.4, height, fill=False, lw=1.5))
        ax.text(x, 0.5, ns.label, ha="center", fontweight="bold")
        for row, link in enumerate(ns.links):
            y = -row - 0.2
            where[(ns.label, link.name)] = (x, y)
            label = f"{link.name} ({link.kind})\n{' '.join(link.addresses)}".strip()
            ax.text(x, y, label, ha="center", va="center", fontsize=8,
                    bbox={"boxstyle": "round", "fc": "#eef" if link.kind == "bridge" else "#fff"})
            if link.master and (ns.label, link.master) in where:
                bx, by = where[(ns.label, link.master)]
                ax.plot([bx, x], [by, y], color="grey", lw=1, ls=":")
    for a, x_name, b, y_name in diagram.cables:
        (x1, y1), (x2, y2) = where[(a, x_name)], where[(b, y_name)]
        ax.plot([x1 + 0.9, x2 - 0.9], [y1, y2], color="tab:orange", lw=2)
    ax.set_xlim(-1.5, 3.0 * len(diagram.namespaces) - 1.5)
    ax.set_ylim(-max((len(n.links) for n in diagram.namespaces), default=1) - 1, 1)
    ax.axis("off")
    return ax
