"""Grade a learner's myruntime.py: every runtime lab, both scores, in the learner's sandbox.

The file is read here as data (size, UTF-8, Python, slot markers); a file that cannot
be graded, or a learner's folder without one, is a row with its reason. The text goes
into the sandbox in the job (the submissions' folders stay hidden there), where the
sandbox's PID 1 runs the harness over every lab that has a step on a slot in
labs/course.toml (`harness.batch`): the piece score (earlier labs' stand-ins allowed)
and the learner's own runtime (none). One progress line per step as each lab ends.

Taught in: lab 00 (the instructor's side).
"""

from __future__ import annotations

import ast
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from kernel_helpers.course.catalog import Course, Lab
from kernel_helpers.course.gradebook import Row, say
from kernel_helpers.course.harness.batch import runtime_labs
from kernel_helpers.course.harness.judge import CASE_TIMEOUT
from kernel_helpers.course.sandbox import KIT_ROOT, Sandbox
from kernel_helpers.course.workfile import FILE_NAME, parse
from kernel_helpers.errors import LabkitError

MAX_BYTES = 1 << 20
"""A runtime file larger than this is not graded (the reference is about 6 KB)."""


def _problem(path: Path) -> tuple[str, str, str]:
    """(status, reason, text) for the file: status '' when it can be graded."""
    where = f"{path.parent.name}/{path.name}"
    if not path.exists() and not path.is_symlink():
        return ("missing", f"no {FILE_NAME} in {path.parent.name}/ (each learner's folder holds "
                f"their {FILE_NAME} next to their notebooks)", "")
    try:
        raw = path.read_bytes()
    except OSError as err:
        return "unreadable", f"{where} cannot be read ({err.strerror or err})", ""
    if len(raw) > MAX_BYTES:
        return "unreadable", f"{where} is larger than {MAX_BYTES >> 20} MiB", ""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return "not-python", f"{where} is not UTF-8 text", ""
    try:
        ast.parse(text)
    except SyntaxError as err:
        return "not-python", f"{where} line {err.lineno}: {err.msg}", ""
    try:
        parse(text)
    except LabkitError as err:
        return "bad-file", f"{where}: {err}", ""
    return "", "", text


def _steps(lab: Lab) -> list[Any]:
    return [step for step in lab.steps if step.slot and step.cases]


def _fold(verdict: dict[str, Any], step_id: str) -> tuple[str, str]:
    """(status, reason) of one step: the first case that did not pass speaks."""
    cases = [c for c in verdict["cases"] if c["step"] == step_id]
    bad = next((c for c in cases if c["status"] != "pass"), None)
    if not cases:
        return "not-run", "the harness judged no case of this step"
    if bad is None:
        return "pass", ""
    hint = f"; hint: {bad['hint']}" if bad["hint"] else ""
    return bad["status"], f"case {bad['case']}: {bad['message']}{hint}"


def lab_rows(learner: str, path: Path, lab: Lab, piece: dict[str, Any],
             own: dict[str, Any]) -> list[Row]:
    """A runtime lab's rows: per step, the piece score, the own score, and why it failed."""
    rows = []
    notes = "; ".join(piece.get("notes", []))
    for step in _steps(lab):
        status, reason = _fold(piece, step.id)
        own_status, own_reason = _fold(own, step.id)
        if own_status != "pass" and status == "pass":
            reason = f"own runtime: {own_reason}"
        reason = "; ".join(r for r in (reason, notes) if r)
        rows.append(Row(learner, str(path), lab.id, step.id, status,
                        step.points if status == "pass" else 0, step.points, reason,
                        own_status, step.points if own_status == "pass" else 0))
    return rows


def _budget(labs: list[Lab], timeout: float) -> float:
    cases = sum(len(step.cases) for lab in labs for step in _steps(lab))
    return 60 + cases * 3 * (timeout + 5)  # own, piece and a possible re-run with stand-ins


def grade_runtime(learner: str, path: Path, course: Course, hide: list[str], out: TextIO,
                  timeout: float = CASE_TIMEOUT) -> list[Row]:
    """Every runtime lab of one learner's file, judged in a sandbox of its own."""
    labs = runtime_labs(course)
    started = time.monotonic()
    status, reason, text = _problem(path)
    if status:
        row = Row(learner, str(path), "-", FILE_NAME, status, 0,
                  sum(s.points for lab in labs for s in _steps(lab)), reason)
        say(out, row, started)
        return [row]
    rows = {(lab.id, step.id): Row(learner, str(path), lab.id, step.id, "not-run", 0, step.points,
                                   "the sandbox ended before this lab was judged")
            for lab in labs for step in _steps(lab)}
    by_number = {f"{lab.number:02d}": lab for lab in labs}
    job = {"answers": {}, "setup": "", "timeout": 0, "hide": hide,
           "keep_readonly": [str(KIT_ROOT), sys.prefix],
           "runtime": {"code": text, "labs": list(by_number), "timeout": timeout}}
    with Sandbox() as box:
        box.start(job)
        for event in box.events(time.monotonic() + _budget(labs, timeout)):
            kind = event.get("event")
            lab = by_number.get(str(event.get("lab", "")))
            if kind == "runtime-lab" and lab is not None:
                for row in lab_rows(learner, path, lab, event["piece"], event["own"]):
                    rows[(lab.id, row.step)] = row
                    say(out, row, started)
            elif kind in ("runtime-tampered", "runtime-error", "timeout", "error"):
                why = {"runtime-tampered": "tampered: ", "runtime-error": "the harness failed: ",
                       "error": "the sandbox failed: "}.get(str(kind), "")
                why += str(event.get("message", "the learner's time budget ran out"))
                new = "tampered" if kind == "runtime-tampered" else "not-run"
                rows = {k: (replace(r, status=new, reason=why) if r.status == "not-run" else r)
                        for k, r in rows.items()}
                break
    for row in rows.values():
        if row.status in ("not-run", "tampered"):
            say(out, row, started)
    return list(rows.values())
