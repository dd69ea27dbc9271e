"""Grade learners: `labkit course grade SUBMISSION... [--csv book.csv] [--report DIR]`.

A folder is one learner: their notebooks and their runtime, ``myruntime.py``
(`labkit init` makes it; the folder's name is the learner id). The runtime is
judged by the harness, every runtime lab of the catalogue, both scores, in the
learner's sandbox (`grade_runtime`). Each notebook is
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

import io
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import replace
from pathlib import Path
from typing import TextIO, cast

from kernel_helpers.course import submission
from kernel_helpers.course.catalog import Course, Lab, load_course
from kernel_helpers.course.sandbox import KIT_ROOT, Sandbox, kit_digest
from kernel_helpers.course.harness.judge import CASE_TIMEOUT
from kernel_helpers.course.workfile import FILE_NAME
from kernel_helpers.errors import LabkitError
from kernel_helpers.course.grade_runtime import grade_runtime
from kernel_helpers.course.gradebook import Row, check_columns, write_gradebook, write_report
from kernel_helpers.course.gradebook import say as gradebook_say

STEP_TIMEOUT = 30.0


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
    steps = submission.notebook_steps(lab)
    rows = {s.id: Row(sub.learner, str(sub.path), lab.id, s.id, "not-run", 0, s.points,
                      "the sandbox ended before this step") for s in steps}
    if not steps:
        return []
    for step_id, note in sub.notes.items():
        status, _, why = note.partition(": ")
        rows[step_id] = Row(sub.learner, str(sub.path), lab.id, step_id, status, 0,
                            rows[step_id].max_points, why)
    started = time.monotonic()
    job = {"answers": sub.answers, "setup": submission.setup_code(lab), "timeout": step_timeout,
           "hide": hide, "keep_readonly": [str(KIT_ROOT), sys.prefix]}
    points = {s.id: s.points for s in steps}
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
                gradebook_say(say, rows[step_id], started)
            elif kind in ("timeout", "error", "tampered"):
                why = {"timeout": "the learner's time budget ran out",
                       "tampered": f"tampered: {event.get('message', '')}"}.get(
                           str(kind), f"the sandbox failed: {event.get('message', '')}")
                status = "tampered" if kind == "tampered" else "not-run"
                rows = {k: (r if r.status != "not-run" else replace(r, status=status, reason=why))
                        for k, r in rows.items()}
                break
    for step_id in sub.notes:
        gradebook_say(say, rows[step_id], started)
    return [rows[s.id] for s in steps]


def _bad_row(sub: submission.Submission) -> Row:
    lab = sub.lab.id if sub.lab else "-"
    return Row(sub.learner, str(sub.path), lab, "-", sub.status, 0,
               sub.lab.points if sub.lab else 0, f"{sub.path.name} {sub.problem}")


class _Lines(io.TextIOBase):
    """A writer shared by grading threads: each progress line is written whole, and flushed."""

    def __init__(self, out: TextIO) -> None:
        super().__init__()
        self.out, self.lock = out, threading.Lock()

    def write(self, text: str) -> int:
        with self.lock:
            self.out.write(text)
            self.out.flush()
        return len(text)


def _grade_file(number: int, total: int, path: Path, course: Course, hide: list[str],
                step_timeout: float, case_timeout: float, say: TextIO) -> list[Row]:
    """One file of one learner: their runtime, a notebook, or a bad file's row."""
    if path.name == FILE_NAME:
        learner = submission.learner_of(path)
        say.write(f"[{number}/{total}] {learner}  runtime  {path.name}\n")
        return grade_runtime(learner, path, course, hide, say, case_timeout)
    sub = submission.read(path, course)
    say.write(f"[{number}/{total}] {sub.learner}  {sub.lab.id if sub.lab else '-'}  "
              f"{path.name}\n")
    if sub.problem:
        row = _bad_row(sub)
        gradebook_say(say, row, time.monotonic())
        return [row]
    return grade_one(sub, hide, step_timeout, say)


def grade_batch(paths: list[Path], gradebook: Path | None = None, reports: Path | None = None,
                step_timeout: float = STEP_TIMEOUT, say: TextIO = sys.stdout,
                course: Course | None = None, case_timeout: float = CASE_TIMEOUT,
                jobs: int = 1) -> list[Row]:
    """Grade every learner (`jobs` at a time, each in their own sandboxes); bad files become
    rows; returns all rows, in the order the learners were given."""
    course = course or load_course()
    files = submission.expand(paths)
    before = gradebook.read_text(encoding="utf-8") if gradebook and gradebook.exists() else ""
    if gradebook:
        check_columns(gradebook, before)
    hide = _hidden(files, [p for p in (gradebook and gradebook.parent, reports) if p])
    digest = kit_digest()
    learners: dict[Path, list[tuple[int, Path]]] = {}
    for number, path in enumerate(files, 1):
        learners.setdefault(path.absolute().parent, []).append((number, path))
    lines = cast(TextIO, _Lines(say))

    def one_learner(items: list[tuple[int, Path]]) -> list[Row]:
        return [row for number, path in items for row in _grade_file(
            number, len(files), path, course, hide, step_timeout, case_timeout, lines)]

    done: dict[Path, list[Row]] = {}
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        futures = {pool.submit(one_learner, items): folder for folder, items in learners.items()}
        for future in as_completed(futures):
            folder = futures[future]
            done[folder] = future.result()
            rows = [row for key in learners if key in done for row in done[key]]
            _after(submission.learner_of(learners[folder][0][1]), folder, rows, digest,
                   gradebook, before, reports)
    return [row for key in learners for row in done[key]]


def _after(learner: str, folder: Path, rows: list[Row], digest: str, gradebook: Path | None,
           before: str, reports: Path | None) -> None:
    """After each learner: the gradebook and their report, then the kit's integrity."""
    if gradebook:
        write_gradebook(gradebook, before, rows)
    if reports:
        write_report(reports, learner, [r for r in rows if r.learner == learner])
    if kit_digest() != digest:
        raise LabkitError(f"the kit's files under {KIT_ROOT}",
                          f"changed while {learner}'s files in {folder} were graded (with "
                          "--jobs above 1: or those of a learner graded at the same time)",
                          "restore the kit (git checkout), grade that learner alone in a "
                          "throwaway VM, and grade the rest again")


def grade(path: Path, *, step_timeout: float = STEP_TIMEOUT) -> list[Row]:
    """Grade one submission file, quietly (for tests and notebooks)."""
    return grade_batch([path], step_timeout=step_timeout, say=io.StringIO())
