"""`labkit init [DIR]` and `labkit checkpoint NN`: the learner's runtime file from the command line.

Taught in: lab 01.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    init = sub.add_parser("init", help="write your runtime file, myruntime.py (labs 01 on)")
    init.add_argument("dir", nargs="?", type=Path,
                      help="where (default: $LABKIT_WORK, else ~/labkit-work)")
    init.set_defaults(handler=_cmd_init)
    point = sub.add_parser("checkpoint",
                           help="catch up to the start of a lab: reference slots where yours "
                                "are missing or failing, yours kept where they pass (backup first)")
    point.add_argument("lab", help="the lab to start, e.g. 03")
    point.add_argument("--file", type=Path, help="the runtime file (default: the work folder's)")
    point.set_defaults(handler=_cmd_checkpoint)


def _cmd_init(args: argparse.Namespace) -> int:
    from kernel_helpers.course.workfile import init
    path, what = init(args.dir)
    print(what)
    print(f"run it:   python3 {path} run --rootfs busybox -- /bin/sh -c 'echo $$; ls /'")
    print("check it: labkit check 01")
    return 0


def _cmd_checkpoint(args: argparse.Namespace) -> int:
    from kernel_helpers.course.checkpoint import checkpoint
    for line in checkpoint(args.lab, args.file):
        print(line)
    return 0
