"""`labkit run --network NAME -p HOST_IP:HOST_PORT:CONTAINER_PORT --ip ADDR`."""

from __future__ import annotations

import argparse

from kernel_helpers.stage import Stage


def add_network_options(parser: argparse.ArgumentParser) -> None:
    """The network options of `labkit run` (run_options calls this)."""
    parser.add_argument("--network", help="join this network ('default' is made on first use); "
                        "without it the container has only loopback")
    parser.add_argument("-p", "--publish", action="append", default=[], metavar="[IP:]PORT:PORT",
                        help="publish a container port on the host, e.g. 127.0.0.1:8080:80 "
                             "(implies --network default)")
    parser.add_argument("--ip", help="a fixed address on the network instead of the next free one")


def stage_from_args(args: argparse.Namespace) -> tuple[Stage, ...]:
    """A NetworkStage if any network option was given; bad values fail here, before anything."""
    if not (args.network or args.publish or args.ip):
        return ()
    from kernel_helpers.net.ipam import DEFAULT_NETWORK
    from kernel_helpers.net.stage import NetworkStage
    return (NetworkStage(args.network or DEFAULT_NETWORK, tuple(args.publish), args.ip),)
