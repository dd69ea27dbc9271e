"""Grade learners' notebooks: `labkit course grade SUBMISSION.ipynb... [--csv gradebook.csv]`.

A submission is never run as it is. Its lab's notebook is rebuilt from the
course's own source (setup, check and hidden-check cells as the instructor
wrote them) and only the learner's exercise cells are put in, found by the
function each one defines. So a deleted, edited or added check cell changes
nothing. An exercise cell that redefines `verify` or reaches into the check
machinery is marked *tampered* and scores zero.

The rebuilt notebook runs in a fresh kernel (nbclient, as root), one cell at
a time with a timeout per cell. Demo cells are left out: they are not graded
and can be slow. A cell that times out, or a kernel that dies, fails every
check not yet run. A step scores its points when its check cell and the
hidden checks after it run without an error.

Taught in: lab 00 (the instructor's side).
"""

from __future__ import annotations

import ast
import csv
import os
import re
import tempfile
from dataclasses import astuple, dataclass, fields
from pathlib import Path

import nbformat

from kernel_helpers.course.build import build
from kernel_helpers.course.catalog import Course, Lab, load_course
from kernel_helpers.course.notebook_text import labkit_meta
from kernel_helpers.errors import InvalidValue, NotFound

CELL_TIMEOUT = 120.0
_VERIFY = re.compile(r"""verify\(\s*["']([^"']+)["']""")
_GUARDED = ("kernel_helpers.course", "kernel_helpers.checks")
"""Modules whose names an exercise cell may not import or patch."""


@dataclass(frozen=True)
class Score:
    """One step of one submission: a row of the gradebook."""

    submission: str
    lab: str
    step: str
    status: str
    """pass, fail, missing (no exercise cell defines the answer), tampered, timeout, dead-kernel."""
    points: int
    max_points: int
    detail: str = ""


def _defines(source: str, name: str) -> bool:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return bool(re.search(rf"^\s*def\s+{re.escape(name)}\b", source, re.M))
    return any((isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name)
               or (isinstance(node, ast.Name) and node.id == name and isinstance(node.ctx, ast.Store))
               for node in ast.walk(tree))


def tampering(source: str) -> str:
    """Why an exercise cell counts as tampering with the checks, or '' if it does not."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ""  # it fails on its own
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and \
                node.name in ("verify", "run_check", "check"):
            return f"it redefines `{node.name}`"
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and \
                node.id in ("verify", "run_check"):
            return f"it assigns to `{node.id}`"
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(_GUARDED):
            return f"it imports from {node.module}"
        if isinstance(node, ast.Import) and any(a.name.startswith(_GUARDED) for a in node.names):
            return "it imports the check machinery"
    return ""


def lab_of(nb: nbformat.NotebookNode, path: Path, course: Course) -> Lab:
    """The lab a submission belongs to: by its recorded source, else by its file name."""
    recorded = str(nb.metadata.get("labkit", {}).get("source", ""))
    for lab in course.labs:
        if recorded == lab.source.name or path.stem.startswith(lab.folder.name):
            return lab
    raise NotFound(f"submission '{path.name}'", "matches no lab of the course",
                   "keep the lab's notebook name (e.g. 01_processes_and_pid.ipynb)")


def grading_notebook(path: Path, course: Course) -> tuple[Lab, nbformat.NotebookNode, dict[str, str]]:
    """The lab's own notebook with the submission's exercise cells in it; {step: why not gradable}."""
    try:
        submitted = nbformat.read(str(path), as_version=4)
    except Exception as err:
        raise InvalidValue(f"submission '{path}'", f"is not a readable notebook ({err})",
                           "ask for the .ipynb file itself") from None
    lab = lab_of(submitted, path, course)
    learner = build(lab.source, "learner")
    theirs = [c.source for c in submitted.cells if c.cell_type == "code"]
    notes: dict[str, str] = {}
    cells = []
    for cell in build(lab.source, "solution").cells:
        kind = labkit_meta(cell).get("kind")
        if kind == "demo":
            continue
        if kind == "exercise":
            step = next((s for s in lab.steps if _defines(cell.source, s.answer)), None)
            if step is None:
                raise InvalidValue(f"lab {lab.id}", "has an exercise cell that defines no step's answer",
                                   "name the answer in course.toml")
            found = [src for src in theirs if _defines(src, step.answer)]
            stub = next(c.source for c in learner.cells if c.cell_type == "code"
                        and labkit_meta(c).get("kind") == "exercise" and _defines(c.source, step.answer))
            why = tampering(found[-1]) if found else ""
            if not found:
                notes[step.id] = "missing: no cell defines " + step.answer
            elif why:
                notes[step.id] = "tampered: " + why
            cell.source = found[-1] if found and not why else stub
        cells.append(cell)
    nb = nbformat.v4.new_notebook(cells=cells, metadata=dict(learner.metadata))
    return lab, nb, notes


def _run(nb: nbformat.NotebookNode, cell_timeout: float, workdir: str) -> dict[int, str]:
    """Execute cell by cell; return {cell index: outcome} for every code cell."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    client = NotebookClient(nb, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": workdir}})
    outcome: dict[int, str] = {}
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    with client.setup_kernel():
        for position, index in enumerate(code):
            try:
                client.execute_cell(nb.cells[index], index)
                outcome[index] = "pass"
            except CellExecutionError:
                outcome[index] = "fail"
            except (CellTimeoutError, DeadKernelError) as err:
                stop = "timeout" if isinstance(err, CellTimeoutError) else "dead-kernel"
                outcome.update({i: stop for i in code[position:]})
                break
    return outcome


def grade(path: Path, *, cell_timeout: float = CELL_TIMEOUT, course: Course | None = None) -> list[Score]:
    """Score every step of one submission."""
    course = course or load_course()
    lab, nb, notes = grading_notebook(path, course)
    with tempfile.TemporaryDirectory(prefix="labkit-grade-") as workdir:
        saved = os.environ.get("LABKIT_PROGRESS")
        os.environ["LABKIT_PROGRESS"] = str(Path(workdir, "progress.json"))  # not the grader's
        try:
            outcome = _run(nb, cell_timeout, workdir)
        finally:
            if saved is None:
                os.environ.pop("LABKIT_PROGRESS", None)
            else:
                os.environ["LABKIT_PROGRESS"] = saved
    status: dict[str, str] = {}
    current = None
    for index, cell in enumerate(nb.cells):
        kind = labkit_meta(cell).get("kind")
        if kind == "check" and (match := _VERIFY.search(cell.source)):
            current = match.group(1)
            status[current] = outcome.get(index, "fail")
        elif kind == "hidden-check" and current and status[current] == "pass":
            status[current] = outcome.get(index, "fail")
    scores = []
    for step in lab.steps:
        result = status.get(step.id, "fail")
        note = notes.get(step.id, "")
        if note:
            result = note.split(":")[0]
        scores.append(Score(str(path), lab.id, step.id, result,
                            step.points if result == "pass" else 0, step.points, note))
    return scores


def write_csv(scores: list[Score], path: Path) -> None:
    """Append rows to a gradebook CSV (with a header when the file is new)."""
    new = not path.exists() or path.stat().st_size == 0
    with open(path, "a", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow([field.name for field in fields(Score)])
        writer.writerows(astuple(score) for score in scores)
