"""Grade learners: `labkit course grade SUBMISSION... [--csv book.csv] [--report DIR]`.

Each submission (a learner's notebook; a folder is one learner's notebooks) is
read as data (`submission`): the learner's answers are their definitions, the
checks and the lab's setup come from the course. Each learner's notebook is
then judged in a sandbox of its own (`sandbox`, `judge`): own namespaces and
cgroup, every step's check in a fresh process the learner's code cannot reach
out of, everything killed at the end. A file that cannot be graded is a row
with its reason; the batch goes on.

Output: one progress line per learner, lab and step as it happens (flushed, so
it streams through a pipe); the gradebook CSV, rewritten atomically after each
learner from the rows held here (content read before anyone ran), so nothing a
learner's process does to the file survives; a Markdown report per learner
saying why each step failed. The grader stops, and says why, if the kit's own
files change while a learner is graded.

Taught in: lab 00 (the instructor's side).
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
import time
from dataclasses import astuple, dataclass, fields, replace
from pathlib import Path
from typing import TextIO

from kernel_helpers.course import submission
from kernel_helpers.course.catalog import Course, Lab, load_course
from kernel_helpers.course.sandbox import KIT_ROOT, Sandbox
from kernel_helpers.errors import LabkitError
from kernel_helpers.files import write_atomic

STEP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Row:
    """One step of one learner's submission (or one bad file): a row of the gradebook."""

    learner: str
    submission: str
    lab: str
    step: str
    status: str
    """pass, fail, timeout, missing, tampered, not-run; for a bad file: unreadable,
    not-a-notebook, misnamed, wrong-lab; error if the sandbox itself failed."""
    points: int
    max_points: int
    reason: str = ""


def kit_digest(root: Path = KIT_ROOT) -> str:
    """A hash of the kit's code and course files: must not change while learners are graded."""
    digest = hashlib.sha256()
    for path in sorted([*root.glob("kernel_helpers/**/*.py"), *root.glob("labs/**/*.py"),
                        root / "labs" / "course.toml"]):
        digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _budget(lab: Lab, step_timeout: float) -> float:
    return 30 + len(lab.steps) * (step_timeout + 30)


def _hidden(paths: list[Path], extra: list[Path]) -> list[str]:
    """Folders to hide in the sandbox: the submissions' and the outputs', never the kit's own."""
    needed = [KIT_ROOT.resolve(), Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()]
    out = set()
    for path in [*(p.absolute().parent for p in paths), *(p.resolve() for p in extra)]:
        if path != Path("/") and not any(path == n or path in n.parents for n in needed):
            out.add(str(path))
    return sorted(out)


def grade_one(sub: submission.Submission, hide: list[str], step_timeout: float,
              say: TextIO) -> list[Row]:
    """Judge one readable submission in its own sandbox; one progress line per step."""
    lab = sub.lab
    assert lab is not None
    rows = {s.id: Row(sub.learner, str(sub.path), lab.id, s.id, "not-run", 0, s.points,
                      "the sandbox ended before this step") for s in lab.steps}
    for step_id, note in sub.notes.items():
        status, _, why = note.partition(": ")
        rows[step_id] = Row(sub.learner, str(sub.path), lab.id, step_id, status, 0,
                            rows[step_id].max_points, why)
    started = time.monotonic()
    job = {"answers": sub.answers, "setup": submission.setup_code(lab), "timeout": step_timeout,
           "hide": hide, "keep_readonly": [str(KIT_ROOT), sys.prefix]}
    points = {s.id: s.points for s in lab.steps}
    with Sandbox() as box:
        box.start(job)
        for event in box.events(time.monotonic() + _budget(lab, step_timeout)):
            kind, step_id = event.get("event"), str(event.get("step", ""))
            if kind == "verdict" and step_id in sub.answers:
                ok = event.get("status") == "pass"
                reason = "" if ok else "; hint: ".join(
                    t for t in (str(event.get("message", "")), str(event.get("hint", ""))) if t)
                rows[step_id] = Row(sub.learner, str(sub.path), lab.id, step_id,
                                    str(event.get("status")), points[step_id] if ok else 0,
                                    points[step_id], reason)
                _say(say, sub.learner, lab.id, step_id, rows[step_id], started)
            elif kind in ("timeout", "error"):
                why = ("the learner's time budget ran out" if kind == "timeout"
                       else f"the sandbox failed: {event.get('message', '')}")
                rows = {k: (r if r.status != "not-run" else replace(r, reason=why))
                        for k, r in rows.items()}
                break
    for step_id in sub.notes:
        _say(say, sub.learner, lab.id, step_id, rows[step_id], started)
    return [rows[s.id] for s in lab.steps]


def _say(say: TextIO, learner: str, lab: str, step: str, row: Row, started: float) -> None:
    reason = f"  ({row.reason})" if row.reason else ""
    say.write(f"{learner}  {lab}  {step:<24} {row.status:<8} {row.points}/{row.max_points}  "
              f"{time.monotonic() - started:6.1f}s{reason}\n")
    say.flush()


def _bad_row(sub: submission.Submission) -> Row:
    lab = sub.lab.id if sub.lab else "-"
    return Row(sub.learner, str(sub.path), lab, "-", sub.status, 0,
               sub.lab.points if sub.lab else 0, f"{sub.path.name} {sub.problem}")


def write_gradebook(path: Path, before: str, rows: list[Row]) -> None:
    """The CSV as it was before grading plus every row so far, replaced in one rename."""
    out = io.StringIO()
    writer = csv.writer(out)
    if not before.strip():
        writer.writerow([f.name for f in fields(Row)])
    writer.writerows(astuple(row) for row in rows)
    write_atomic(path, (before if before.endswith("\n") or not before else before + "\n")
                 + out.getvalue())


def write_report(folder: Path, learner: str, rows: list[Row]) -> Path:
    """A learner's report: every step, its verdict, and why it failed."""
    lines = [f"# {learner}", "",
             f"Total: {sum(r.points for r in rows)}/{sum(r.max_points for r in rows)}", "",
             "| lab | step | verdict | points | why |", "|---|---|---|---|---|"]
    for r in rows:
        why = r.reason.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {r.lab} | {r.step} | {r.status} | {r.points}/{r.max_points} | {why} |")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{learner}.md"
    write_atomic(path, "\n".join(lines) + "\n")
    return path


def grade_batch(paths: list[Path], gradebook: Path | None = None, reports: Path | None = None,
                step_timeout: float = STEP_TIMEOUT, say: TextIO = sys.stdout,
                course: Course | None = None) -> list[Row]:
    """Grade every submission in turn; bad files become rows; returns all rows."""
    course = course or load_course()
    files = submission.expand(paths)
    before = gradebook.read_text(encoding="utf-8") if gradebook and gradebook.exists() else ""
    hide = _hidden(files, [p for p in (gradebook and gradebook.parent, reports) if p])
    digest = kit_digest()
    rows: list[Row] = []
    for number, path in enumerate(files, 1):
        sub = submission.read(path, course)
        say.write(f"[{number}/{len(files)}] {sub.learner}  {sub.lab.id if sub.lab else '-'}  "
                  f"{path.name}\n")
        say.flush()
        if sub.problem:
            new = [_bad_row(sub)]
            _say(say, sub.learner, new[0].lab, "-", new[0], time.monotonic())
        else:
            new = grade_one(sub, hide, step_timeout, say)
        rows += new
        if kit_digest() != digest:
            raise LabkitError(f"the kit's files under {KIT_ROOT}",
                              f"changed while {sub.learner}'s {path.name} was graded",
                              "restore the kit (git checkout), grade that learner alone in a "
                              "throwaway VM, and grade the rest again")
        if gradebook:
            write_gradebook(gradebook, before, rows)
        if reports:
            write_report(reports, sub.learner, [r for r in rows if r.learner == sub.learner])
    return rows


def grade(path: Path, *, step_timeout: float = STEP_TIMEOUT) -> list[Row]:
    """Grade one submission file, quietly (for tests and notebooks)."""
    return grade_batch([path], step_timeout=step_timeout, say=io.StringIO())
