"""The command line of a learner's runtime: ``python myruntime.py run [options] -- CMD [ARG...]``.

myruntime.py ends with ``raise SystemExit(lk.main(globals()))``: this parses the
arguments into a `Spec` and calls the learner's own ``run(spec)``, whose return
value is the exit status. ``--rootfs busybox`` runs on a fresh copy of the kit's
offline busybox image, removed afterwards, so a container's writes never touch
the image. ``--image busybox`` (lab 06) gives the runtime the image's layers and an
empty container folder instead: the runtime's own overlay keeps the layers untouched.

Taught in: lab 01.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from typing import Any, Callable, Sequence

from kernel_helpers.cleanup import remove_tree, signals_unwind
from kernel_helpers.errors import InvalidValue, LabkitError
from kernel_helpers.learn.image import image_layers
from kernel_helpers.learn.scratch import busybox_copy, run_folder
from kernel_helpers.learn.spec import Spec
from kernel_helpers.security.capabilities import parse_cap
from kernel_helpers.units import parse_size


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="myruntime.py", description="My container runtime.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a command in a container")
    run.add_argument("--rootfs", help="the container's root directory, or `busybox` (lab 03)")
    run.add_argument("--pidfile", help="write the container's host pid here")
    run.add_argument("--hostname", help="the container's hostname (lab 02)")
    run.add_argument("--uid-map", type=_id_map, metavar="INSIDE:OUTSIDE:COUNT",
                     help="a user namespace mapping these uids, e.g. 0:100000:65536 (lab 04)")
    run.add_argument("--gid-map", type=_id_map, metavar="INSIDE:OUTSIDE:COUNT",
                     help="the same for gids (default: the uid map's numbers) (lab 04)")
    run.add_argument("--memory", type=_size, metavar="SIZE",
                     help="the container's memory limit, e.g. 64m (lab 05)")
    run.add_argument("--pids", type=_count, metavar="N",
                     help="the most processes the container may have at once (lab 05)")
    run.add_argument("--cpus", type=_cpus, metavar="N",
                     help="the CPU time the container may use, in CPUs, e.g. 1.5 (lab 05)")
    run.add_argument("--cpu-weight", type=_weight, metavar="N",
                     help="the container's CPU weight when CPUs are contended, 1 to 10000; "
                          "100 by default (lab 05)")
    run.add_argument("--image", metavar="busybox|IMAGE|DIR:DIR...",
                     help="the container's root is an overlay of this image's layers: busybox, "
                          "an image of `labkit image ls`, or folders, bottom first (lab 06)")
    run.add_argument("--cap-add", type=_cap, action="append", default=[], metavar="NAME",
                     help="keep this capability too, e.g. NET_ADMIN; repeatable (lab 08)")
    run.add_argument("--ip", type=_address, metavar="ADDRESS/PREFIX",
                     help="a network of its own: eth0 with this address, e.g. 10.22.0.5/24 "
                          "(lab 07)")
    run.add_argument("--gateway", help="the runtime's end of the cable, the container's default "
                                       "route (default: the subnet's first address, .1) (lab 07)")
    run.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    return parser


def _id_map(text: str) -> tuple[int, int, int]:
    """'0:100000:65536' -> (0, 100000, 65536), or argparse's one-line error."""
    parts = text.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or int(parts[2]) == 0:
        raise argparse.ArgumentTypeError(f"'{text}' is not an id map; use INSIDE:OUTSIDE:COUNT "
                                         "with a count of at least 1, e.g. 0:100000:65536")
    inside, outside, count = (int(p) for p in parts)
    return inside, outside, count


def _size(text: str) -> int:
    """'64m' -> 67108864, or argparse's one-line error."""
    try:
        size = parse_size(text, "memory limit", minimum=1 << 20)
    except LabkitError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    if size is None:
        raise argparse.ArgumentTypeError(f"'{text}' is not a memory limit; use a size such as 64m")
    return size


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a process count; use a whole number "
                                         "of at least 1, e.g. 32")
    return int(text)


def _cpus(text: str) -> float:
    """'1.5' -> 1.5 (at least 0.01, the kernel's 1 ms per 100 ms), or argparse's one-line error."""
    try:
        cpus = float(text)
    except ValueError:
        cpus = 0.0
    if not 0.01 <= cpus <= 1024:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of CPUs; use e.g. 1.5 "
                                         "(at least 0.01)")
    return cpus


def _weight(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10000:
        raise argparse.ArgumentTypeError(f"'{text}' is not a CPU weight; use a whole number "
                                         "from 1 to 10000, e.g. 200")
    return int(text)


def _cap(text: str) -> str:
    """'net_admin' or 'CAP_NET_ADMIN' -> 'NET_ADMIN', or argparse's one-line error."""
    try:
        return parse_cap(text)
    except InvalidValue as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _address(text: str) -> str:
    """'10.22.0.5/24' stays as it is, or argparse's one-line error."""
    try:
        iface = ipaddress.IPv4Interface(text)
    except ValueError:
        iface = None
    if iface is None or "/" not in text or iface.ip in (iface.network.network_address,
                                                         iface.network.broadcast_address):
        raise argparse.ArgumentTypeError(f"'{text}' is not a host address with its prefix "
                                         "length; use e.g. 10.22.0.5/24")
    return text


def _gateway(address: str | None, gateway: str | None) -> str | None:
    """The asked gateway, or the first address of the container's subnet (10.22.0.1)."""
    if gateway or not address:
        return gateway
    return str(next(ipaddress.IPv4Interface(address).network.hosts()))


def main(module: dict[str, Any], argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: sys.argv[1:]) and call ``module["run"](spec)``; return its status.

    SIGTERM and SIGHUP unwind like Ctrl-C (a SystemExit), so the learner's own `finally`
    blocks and the removal of this run's scratch folder run when a notebook demo's timeout stops us.
    """
    with signals_unwind():
        return _main(module, argv)


def _main(module: dict[str, Any], argv: Sequence[str] | None) -> int:
    args = _parser().parse_args(argv)
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        print("myruntime.py: give the command after --, e.g. -- /bin/sh -c 'echo $$'",
              file=sys.stderr)
        return 2
    run: Callable[[Spec], Any] = module["run"]
    try:
        layers = image_layers(args.image) if args.image else ()
    except ValueError as err:
        print(f"myruntime.py: {err}", file=sys.stderr)
        return 2
    me = os.getpid()
    scratch = run_folder() if args.rootfs == "busybox" or layers else None
    rootfs = busybox_copy(scratch) if scratch and args.rootfs == "busybox" else args.rootfs
    container_dir = None
    if scratch and layers:  # an empty folder for the container's upper, work and merged dirs
        container_dir = os.path.join(scratch, "container")
        os.mkdir(container_dir, 0o700)
    try:
        status = run(Spec(tuple(command), rootfs=rootfs, pidfile=args.pidfile,
                          hostname=args.hostname, uid_map=args.uid_map,
                          gid_map=args.gid_map or args.uid_map, memory_max=args.memory,
                          pids_max=args.pids, image=layers, container_dir=container_dir,
                          cap_add=tuple(dict.fromkeys(args.cap_add)), address=args.ip,
                          gateway=_gateway(args.ip, args.gateway), cpu_quota=args.cpus,
                          cpu_weight=args.cpu_weight))
    finally:  # a runtime that raised may have left the container dir too
        if scratch and os.getpid() == me:  # not in a forked child that returned instead of exec
            remove_tree(scratch)
    return status if isinstance(status, int) else 0
