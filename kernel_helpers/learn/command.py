"""The command line of a learner's runtime: ``python myruntime.py run [options] -- CMD [ARG...]``.

myruntime.py ends with ``raise SystemExit(lk.main(globals()))``: this parses the
arguments into a `Spec` and calls the learner's own ``run(spec)``, whose return
value is the exit status. ``--rootfs busybox`` runs on a fresh copy of the kit's
offline busybox image, removed afterwards, so a container's writes never touch
the image.

Taught in: lab 01.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from typing import Any, Callable, Sequence

from kernel_helpers.learn.spec import Spec
from kernel_helpers.rootfs.busybox import busybox_rootfs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="myruntime.py", description="My container runtime.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a command in a container")
    run.add_argument("--rootfs", help="the container's root directory, or `busybox` (lab 03)")
    run.add_argument("--pidfile", help="write the container's host pid here")
    run.add_argument("--hostname", help="the container's hostname (lab 02)")
    run.add_argument("argv", nargs=argparse.REMAINDER, help="-- COMMAND [ARG...]")
    return parser


def main(module: dict[str, Any], argv: Sequence[str] | None = None) -> int:
    """Parse `argv` (default: sys.argv[1:]) and call ``module["run"](spec)``; return its status."""
    args = _parser().parse_args(argv)
    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        print("myruntime.py: give the command after --, e.g. -- /bin/sh -c 'echo $$'",
              file=sys.stderr)
        return 2
    run: Callable[[Spec], Any] = module["run"]
    scratch = None
    rootfs = args.rootfs
    if rootfs == "busybox":
        scratch = tempfile.mkdtemp(prefix="labkit-rootfs-")
        rootfs = f"{scratch}/rootfs"
        shutil.copytree(busybox_rootfs(), rootfs, symlinks=True)
    try:
        status = run(Spec(tuple(command), rootfs=rootfs, pidfile=args.pidfile,
                          hostname=args.hostname))
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    return status if isinstance(status, int) else 0
