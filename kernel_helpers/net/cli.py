"""`labkit network ls|create|rm|show`: networks from the command line."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `labkit network ...` (cli.COMMAND_MODULES calls this)."""
    net = subparsers.add_parser("network", help="container networks: a bridge, a subnet, NAT")
    sub = net.add_subparsers(dest="network_command", metavar="ACTION", required=True)
    sub.add_parser("ls", help="list networks").set_defaults(handler=_ls)
    create = sub.add_parser("create", help="create a network (bridge + subnet + NAT table)")
    create.add_argument("name")
    create.add_argument("--subnet", help="e.g. 10.201.0.0/24 (default: a free /24 of 10.200.0.0/16)")
    create.set_defaults(handler=_create)
    rm = sub.add_parser("rm", help="remove a network no running container uses")
    rm.add_argument("name")
    rm.set_defaults(handler=_rm)
    show = sub.add_parser("show", help="draw a network from live state")
    show.add_argument("name")
    show.set_defaults(handler=_show)


def _ls(args: argparse.Namespace) -> int:
    from kernel_helpers.net import ipam
    print(f"{'NAME':<16} {'SUBNET':<18} {'BRIDGE':<12} CONTAINERS")
    for network in ipam.all_networks():
        print(f"{network.name:<16} {network.subnet:<18} {network.bridge:<12} {len(network.leases)}")
    return 0


def _create(args: argparse.Namespace) -> int:
    from kernel_helpers.net import networks
    network = networks.create(args.name, args.subnet)
    print(f"{network.name} {network.subnet} bridge {network.bridge}")
    return 0


def _rm(args: argparse.Namespace) -> int:
    from kernel_helpers.net import networks
    print(networks.remove(args.name).name)
    return 0


def _show(args: argparse.Namespace) -> int:
    from kernel_helpers.net import diagram
    print(diagram.render_text(diagram.of_network(args.name)))
    return 0
