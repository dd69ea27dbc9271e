"""Grading a class: `labkit course grade` over N synthetic learners' myruntime.py, timed.

Each learner is a folder holding one myruntime.py (tests/course/runtime_variants.py):
four in ten the reference, two in ten the template's stubs, three in ten a known-wrong
variant (cycling through every one the tests keep), one in ten a correct alternate.
The class is graded as an instructor would (`python -m kernel_helpers course grade
FOLDER... --csv`, every runtime lab of the catalogue, both scores, each learner in a
sandbox); the progress lines are timestamped as they stream, which gives each learner's
time. Prints the wall time, per-learner times, and a projection to the course's 12 labs
(the wall time scaled by 12 over the runtime labs graded: it assumes later labs' cases
cost what today's do). Run as root:

    sudo /opt/labkit/venv/bin/python bench/grade_class.py --learners 30 [--jobs 2]
"""

from __future__ import annotations

import argparse
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

KIT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(KIT_DIR))
sys.path.insert(0, str(KIT_DIR / "tests" / "course"))

from runtime_variants import RIGHT, WRONG_BY_STEP, runtime_file  # noqa: E402

from kernel_helpers.course import load_course  # noqa: E402
from kernel_helpers.course.harness.batch import runtime_labs  # noqa: E402

COURSE_LABS = 12
GOAL_S = 15 * 60
"""Issue #14: a 30-learner class, all 12 labs, in under 15 minutes on the 2-core machine."""


def _variants() -> tuple[list[tuple[str, dict[str, str]]], list[tuple[str, dict[str, str]]]]:
    wrong = [(f"wrong {step}: {name}", {slot: code})
             for step, (slot, table) in WRONG_BY_STEP.items()
             for variants in table.values() for name, code in variants.items()]
    right = [(f"right {slot}: {name}", {slot: code})
             for slot, table in RIGHT.items() for name, code in table.items()]
    return wrong, right


def make_class(where: Path, n: int) -> dict[str, str]:
    """N learner folders under `where`; returns {learner: what their runtime is}."""
    wrong, right = _variants()
    kinds: dict[str, str] = {}
    for i in range(n):
        learner = f"learner{i + 1:02d}"
        folder = where / learner
        folder.mkdir()
        slot = i % 10
        if slot < 4:
            runtime_file(folder)
            kinds[learner] = "reference"
        elif slot < 6:
            runtime_file(folder, base="template")
            kinds[learner] = "stubs"
        elif slot < 9:
            name, slots = wrong[i % len(wrong)]
            runtime_file(folder, **slots)
            kinds[learner] = name
        else:
            name, slots = right[i % len(right)]
            runtime_file(folder, **slots)
            kinds[learner] = name
    return kinds


def grade(folders: list[Path], book: Path, case_timeout: float,
          jobs: int) -> tuple[float, dict[str, float]]:
    """Run the grader; (wall seconds, {learner: seconds from their first line to their last})."""
    argv = [sys.executable, "-m", "kernel_helpers", "course", "grade", *map(str, folders),
            "--csv", str(book), "--case-timeout", str(case_timeout), "--jobs", str(jobs)]
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=KIT_DIR)
    assert proc.stdout is not None
    first: dict[str, float] = {}
    last: dict[str, float] = {}
    for line in proc.stdout:
        words = line.split()
        if line.startswith("[") and len(words) > 1:
            first[words[1]] = time.monotonic()
        elif words and words[0] in first and "total" not in words[1:2]:
            last[words[0]] = time.monotonic()
    proc.wait()
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"the grader exited with {proc.returncode}")
    return wall, {who: last.get(who, t) - t for who, t in first.items()}


def _kind(what: str) -> str:
    """reference, stubs, wrong or right (from "wrong pid.run: forks before unsharing")."""
    return what.split(" ")[0].split(":")[0]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=30)
    parser.add_argument("--case-timeout", type=float, default=10.0)
    parser.add_argument("--jobs", type=int, default=1, help="learners graded at the same time")
    args = parser.parse_args(argv)
    course = load_course()
    labs = runtime_labs(course)
    cases = sum(len(s.cases) for lab in labs for s in lab.steps if s.slot)
    with tempfile.TemporaryDirectory(prefix="labkit-bench-class-") as tmp:
        where = Path(tmp)
        kinds = make_class(where, args.learners)
        book = where / "book.csv"
        wall, per = grade(sorted(p for p in where.iterdir() if p.is_dir()), book,
                          args.case_timeout, args.jobs)
        rows = list(csv.DictReader(book.open()))
    passed = Counter(r["learner"] for r in rows if r["status"] == "pass")
    times = sorted(per.values())
    per_lab = statistics.mean(times) / len(labs)
    projected = wall * COURSE_LABS / len(labs)
    print(f"runtime labs graded: {', '.join(lab.id for lab in labs)} ({cases} cases, "
          f"each judged for the piece and the own score)")
    mix = Counter(_kind(what) for what in kinds.values())
    print(f"learners: {args.learners} ({', '.join(f'{n} {k}' for k, n in mix.items())})")
    print(f"wall time: {wall:.1f} s for {args.learners} learners")
    print(f"per learner: median {statistics.median(times):.1f} s, mean {statistics.mean(times):.1f} s, "
          f"min {times[0]:.1f} s, max {times[-1]:.1f} s")
    for kind in ("reference", "stubs", "wrong", "right"):
        mine = [per[who] for who, what in kinds.items() if _kind(what) == kind and who in per]
        if mine:
            print(f"  {kind:<9} {len(mine):>2} learners, median {statistics.median(mine):.1f} s")
    print(f"steps passed per learner: median {statistics.median([passed[who] for who in kinds])}")
    print(f"per learner per runtime lab: {per_lab:.1f} s")
    print(f"projection to {COURSE_LABS} labs: wall x {COURSE_LABS}/{len(labs)} = "
          f"{projected / 60:.1f} min with --jobs {args.jobs} (goal {GOAL_S / 60:.0f} min: "
          f"{'met' if projected < GOAL_S else 'not met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
