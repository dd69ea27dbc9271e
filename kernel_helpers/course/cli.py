"""`labkit check` and `labkit course`: the labs from the command line (no TUI needed).

- ``labkit check 01`` checks every step of lab 01 against your notebook.
- ``labkit course`` lists the labs and steps with what is done.
- ``labkit course build [--check]`` rebuilds the learner notebooks from their sources.
- ``labkit course validate`` proves every check: the reference passes 3 times in a
  row, the stub fails, every known-wrong answer fails (kernel_helpers.course.validate).
- ``labkit course grade FOLDER... [--csv book.csv] [--report DIR]`` judges each
  learner's notebooks and myruntime.py (every runtime lab, both scores) in a sandbox
  of their own (kernel_helpers.course.grade).
- ``labkit course release DIR`` writes the learners' tree: no solution text in it
  (kernel_helpers.course.release).

Taught in: lab 00.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kernel_helpers.course.catalog import Lab


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    chk = sub.add_parser("check", help="check your lab notebook's answers on the real kernel")
    chk.add_argument("target", help="a lab (01, 01-pid) or a step id (pid.parent)")
    chk.add_argument("--notebook", type=Path, help="check this notebook instead of the lab's")
    chk.add_argument("--file", type=Path,
                     help="runtime labs: check this myruntime.py instead of the work folder's")
    chk.set_defaults(handler=_cmd_check)

    course = sub.add_parser("course", help="the labs: list, build, validate, grade, release")
    course.add_argument("action", nargs="?", default="list",
                        choices=("list", "build", "validate", "grade", "release"))
    course.add_argument("--check", action="store_true",
                        help="build: only report notebooks that differ from their source")
    course.add_argument("--csv", type=Path, help="grade: add the scores to this gradebook")
    course.add_argument("--report", type=Path,
                        help="grade: write a report per learner (why each step failed) here")
    course.add_argument("--step-timeout", type=float, default=30.0,
                        help="grade: seconds a step's check may run before it counts as timed out")
    course.add_argument("--jobs", type=int, default=1,
                        help="grade: learners graded at the same time, each in their own sandbox")
    course.add_argument("--case-timeout", type=float, default=10.0,
                        help="grade: seconds one case of a runtime lab may take (myruntime.py)")
    course.add_argument("labs", nargs="*",
                        help="limit to these labs (default: all); grade: the submissions "
                             "(a folder per learner: notebooks and myruntime.py); release: the "
                             "folder to write")
    course.set_defaults(handler=_cmd_course)


def _steps_for(target: str) -> list[str]:
    from kernel_helpers.course import load_course
    course = load_course()
    if "." in target:
        return [course.step(target).id]
    return [step.id for step in course.lab(target).steps]


def _cmd_check(args: argparse.Namespace) -> int:
    from kernel_helpers.course import load_course, run_step
    failed = 0
    steps = _steps_for(args.target)
    course = load_course()
    runtime = [course.step(s) for s in steps if course.step(s).slot]
    if runtime and "." not in args.target:  # a runtime lab: the harness, once, with both scores
        from kernel_helpers.course import progress
        from kernel_helpers.course.runtime_check import report
        lab = course.lab_of(runtime[0])
        passed, text = report(f"{lab.number:02d}", args.file)
        print(text)
        for step in runtime:
            progress.record(step, f"PASS {step.id}:" in text)
        failed += not passed
        steps = [s for s in steps if not course.step(s).slot]
    for step_id in steps:
        result = run_step(step_id, args.notebook)
        print(result.line())
        failed += not result.passed
    return 1 if failed else 0


def _cmd_course(args: argparse.Namespace) -> int:
    from kernel_helpers.course import load_course
    course = load_course()
    if args.action == "grade":
        return _grade([Path(p) for p in args.labs], args.csv, args.report, args.step_timeout,
                      args.case_timeout, args.jobs)
    if args.action == "release":
        return _release(args.labs)
    labs = [course.lab(key) for key in args.labs] or list(course.labs)
    if args.action == "build":
        return _build(labs, args.check)
    if args.action == "validate":
        return _validate(labs)
    from kernel_helpers.course import progress
    state = progress.summary(course)
    for lab in labs:
        done = sum(lab_step.points for lab_step in lab.steps if state[lab_step.id].done)
        print(f"{lab.number:02d} {lab.title}  [{done}/{lab.points} pts]")
        for step in lab.steps:
            mark = "x" if state[step.id].done else " "
            print(f"   [{mark}] {step.id:<24} {step.title} ({step.points} pts)")
    return 0


def _release(targets: list[str]) -> int:
    """Write the learners' tree (no solution text) to the one folder given."""
    from kernel_helpers.course.checks import fail
    from kernel_helpers.course.release import release
    if len(targets) != 1:
        raise fail("give exactly one folder to write the learners' tree to",
                   "labkit course release ../labkit-course")
    shipped = release(Path(targets[0]))
    print(f"wrote {targets[0]}: {len(shipped['copied'])} kit files, "
          f"{len(shipped['notebooks'])} learner notebooks, "
          f"{len(shipped['bytecode'])} reference modules as bytecode; "
          f"held back {len(shipped['held back'])} lab sources")
    return 0


def _build(labs: list[Lab], check_only: bool) -> int:
    from kernel_helpers.course import build
    stale = 0
    for lab in labs:
        text = build.render(build.build(lab.source, "learner"))
        current = lab.notebook.read_text(encoding="utf-8") if lab.notebook.exists() else ""
        if text == current:
            continue
        if check_only:
            print(f"{lab.notebook} differs from {lab.source.name}; run `labkit course build`")
            stale += 1
        else:
            lab.notebook.write_text(text, encoding="utf-8")
            print(f"wrote {lab.notebook}")
    return 1 if stale else 0


def _validate(labs: list[Lab]) -> int:
    """Every step: the reference passes 3 times, the stub fails, every known-wrong answer fails."""
    import sys
    from kernel_helpers.course.validate import validate
    return 1 if validate(labs, sys.stdout) else 0


def _grade(submissions: list[Path], gradebook: Path | None, reports: Path | None,
           step_timeout: float, case_timeout: float, jobs: int) -> int:
    """Score each learner in a sandbox; stream a line per step; write the CSV and reports."""
    from kernel_helpers.course.grade import grade_batch
    from kernel_helpers.course.checks import fail
    if not submissions:
        raise fail("no submission was given", "labkit course grade alice/ bob/ --csv book.csv")
    rows = grade_batch(submissions, gradebook, reports, step_timeout, case_timeout=case_timeout,
                       jobs=jobs)
    learners = sorted({row.learner for row in rows})
    for learner in learners:
        mine = [row for row in rows if row.learner == learner]
        print(f"{learner}  total {sum(r.points for r in mine)}/{sum(r.max_points for r in mine)}")
    bad = [row for row in rows if row.step == "-"]
    for row in bad:
        print(f"not graded: {row.submission}: {row.status} ({row.reason})")
    return 0
