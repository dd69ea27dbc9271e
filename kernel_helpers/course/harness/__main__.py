"""``python -m kernel_helpers.course.harness myruntime.py --lab NN [--case X] [--mode own]``.

Judges the learner's runtime file from the host and prints one JSON verdict on
stdout. It is always run as its own process (never in a notebook kernel or the
TUI): it takes its own mount namespace, and the learner's runtime runs under it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kernel_helpers.course.catalog import load_course
from kernel_helpers.course.harness.judge import CASE_TIMEOUT
from kernel_helpers.course.harness.labs import grade_file
from kernel_helpers.errors import LabkitError


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m kernel_helpers.course.harness")
    parser.add_argument("file", type=Path)
    parser.add_argument("--lab", required=True)
    parser.add_argument("--case")
    parser.add_argument("--mode", choices=("piece", "own"), default="piece")
    parser.add_argument("--timeout", type=float, default=CASE_TIMEOUT)
    args = parser.parse_args(argv)
    try:
        verdict = grade_file(args.file.resolve(), load_course(), args.lab, args.mode, args.case,
                             args.timeout)
        print(json.dumps(verdict.as_dict()))
    except LabkitError as err:
        print(json.dumps({"error": [err.subject, err.problem, err.fix]}))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
