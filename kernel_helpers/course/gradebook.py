"""What grading writes: a row per step (the CSV), a report per learner, a progress line per step.

Taught in: lab 00 (the instructor's side).
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import TextIO

from kernel_helpers.errors import InvalidValue
from kernel_helpers.files import write_atomic


@dataclass(frozen=True)
class Row:
    """One step of one learner's submission (or one bad file): a row of the gradebook."""

    learner: str
    submission: str
    lab: str
    step: str
    status: str
    """pass, fail, timeout, missing, tampered, not-run; for a bad file: unreadable,
    not-a-notebook, misnamed, wrong-lab, not-python, bad-file; error if the sandbox failed.
    For a runtime step: the piece score's (earlier labs' stand-ins allowed)."""
    points: int
    max_points: int
    reason: str = ""
    own_status: str = ""
    """Runtime steps only: the own-runtime score's status (no stand-ins); '' for notebook steps."""
    own_points: int = 0


def say(out: TextIO, row: Row, started: float) -> None:
    """One progress line, flushed so that it streams through a pipe."""
    own = f"  own {row.own_status} {row.own_points}/{row.max_points}" if row.own_status else ""
    reason = f"  ({row.reason})" if row.reason else ""
    out.write(f"{row.learner}  {row.lab}  {row.step:<24} {row.status:<8} "
              f"{row.points}/{row.max_points}{own}  {time.monotonic() - started:6.1f}s{reason}\n")
    out.flush()


def check_columns(path: Path, before: str) -> None:
    """Refuse, before grading, a gradebook whose header is not this labkit's columns."""
    header = before.splitlines()[0] if before.strip() else ""
    if header and next(csv.reader([header])) != [f.name for f in fields(Row)]:
        raise InvalidValue(str(path), f"has other columns ({header[:80]})",
                           "give a new --csv file (this labkit writes "
                           f"{','.join(f.name for f in fields(Row))})")


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
    """A learner's report: every step, its verdict (both scores for runtime steps), and why."""
    own_total = sum(r.own_points if r.own_status else r.points for r in rows)
    lines = [f"# {learner}", "",
             f"Total: {sum(r.points for r in rows)}/{sum(r.max_points for r in rows)}"
             f" (own runtime, no stand-ins: {own_total})", "",
             "| lab | step | verdict | points | own runtime | why |", "|---|---|---|---|---|---|"]
    for r in rows:
        why = r.reason.replace("|", "\\|").replace("\n", " ")
        own = f"{r.own_status} {r.own_points}/{r.max_points}" if r.own_status else ""
        lines.append(f"| {r.lab} | {r.step} | {r.status} | {r.points}/{r.max_points} | {own} "
                     f"| {why} |")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{learner}.md"
    write_atomic(path, "\n".join(lines) + "\n")
    return path
