"""``python -m tui.check_step STEP_ID``: check one step against the learner's notebook.

The TUI runs this as a child (see tui.child) instead of forking itself. The
check, its forked child and the progress record are the kit's own
(`kernel_helpers.course.checks.run_step`), exactly what `labkit check` and the
notebooks use. Whatever the learner's code prints passes through; the verdict
is the last line, after `MARKER`, as JSON.
"""

from __future__ import annotations

import dataclasses
import json
import sys

MARKER = "\x1elabkit-verdict "
"""Starts the verdict line; the record-separator byte never appears in normal output."""


def main(argv: list[str]) -> int:
    from kernel_helpers.course.checks import run_step
    from kernel_helpers.errors import LabkitError
    try:
        verdict = {"result": dataclasses.asdict(run_step(argv[0]))}
    except LabkitError as err:
        verdict = {"error": [err.subject, err.problem, err.fix]}
    sys.stdout.flush()
    print(MARKER + json.dumps(verdict), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
