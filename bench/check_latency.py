"""A learner's check, start to verdict: `labkit check STEP` and the TUI's check child, labs 01-05.

Every step of labs 01 to 05 is checked three ways: against the lab's learner
notebook (the stubs: each check fails, which is what a learner sees most), both
ways a learner asks, `labkit check STEP` through the launcher provisioning
installs and the child the TUI starts (`python -I -u -m tui.check_step STEP`);
and `labkit check STEP --notebook` on the solution build, where the check runs
the answer for real (a fork bomb under pids.max, a pivot_root...). Steps and
ways are interleaved round by round; we report medians. Progress goes to a temp
file, never the learner's. Run as root:

    sudo /opt/labkit/venv/bin/python bench/check_latency.py --runs 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from start_latency import KIT_DIR, labkit_launcher

LABS = ("01", "02", "03", "04", "05")
TARGET_S = 1.0
"""The goal: a check answers in under a second (median)."""


def steps() -> list[str]:
    sys.path.insert(0, str(KIT_DIR))
    from kernel_helpers.course import load_course
    course = load_course()
    return [step.id for lab in LABS for step in course.lab(lab).steps]


def solution_notebooks(where: Path) -> dict[str, Path]:
    """Each lab's solution build, written into `where` (step id -> notebook)."""
    from kernel_helpers.course import load_course
    from kernel_helpers.course.build import build, render
    course, found = load_course(), {}
    for key in LABS:
        lab = course.lab(key)
        path = where / f"{lab.id}-solution.ipynb"
        path.write_text(render(build(lab.source, "solution")))
        found.update({step.id: path for step in lab.steps})
    return found


def tui_child(step: str) -> list[str]:
    """What tui.child.python_argv starts, with this checkout first on the path (-I drops cwd)."""
    code = (f"import sys; sys.path.insert(0, {str(KIT_DIR)!r}); "
            "from tui.check_step import main; sys.exit(main(sys.argv[1:]))")
    return [sys.executable, "-I", "-u", "-c", code, step]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("check_latency: run as root (sudo).", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="lkbench-") as tmp:
        env = dict(os.environ, LABKIT_PROGRESS=str(Path(tmp) / "progress.json"))
        labkit, solved = labkit_launcher(Path(tmp)), solution_notebooks(Path(tmp))
        ways = {"labkit check": lambda step: [*labkit, "check", step],
                "TUI check child": tui_child,
                "labkit check (solution)": lambda step: [*labkit, "check", step,
                                                         "--notebook", str(solved[step])]}
        samples: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.runs):
            for step in steps():
                for way, argv in ways.items():
                    begin = time.perf_counter()
                    subprocess.run(argv(step), env=env, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    samples.setdefault((way, step), []).append(time.perf_counter() - begin)
    print(f"{'step (median s)':<22}" + "".join(f"{way:>25}" for way in ways))
    for step in steps():
        print(f"{step:<22}" + "".join(f"{statistics.median(samples[way, step]):>25.2f}"
                                      for way in ways))
    for way in ways:
        every = [t for (w, _), values in samples.items() if w == way for t in values]
        median = statistics.median(every)
        print(f"{way}: median {median:.2f} s over labs {LABS[0]}-{LABS[-1]} "
              f"({'met' if median < TARGET_S else 'NOT met'}: target < {TARGET_S:g} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
