"""Build a lab's learner and solution notebooks from its one source file.

The source is labs/NN_topic/NN_topic.py in jupytext's py:percent format: plain
Python that diffs and merges like code, with cell metadata in the ``# %%``
headers. Exercise cells mark the answer with ``### BEGIN SOLUTION`` and
``### END SOLUTION``. The builds:

- learner: answers replaced by a stub that raises NotImplementedError, hidden
  checks removed, no outputs. Committed next to the source, opened directly.
- solution: markers removed, everything kept. Built on demand (tests, validate).

A ``slot`` cell (``labkit={"kind": "slot", "slot": "run"}``) holds no code in the
source: the learner build gets ``%slot run`` (load the learner's own code from
myruntime.py), the solution build ``%%slot run`` with the reference slot as it stands
in this lab (kernel_helpers.course.standins).

Taught in: lab 00.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from kernel_helpers.course.notebook_text import CELL_KINDS, labkit_meta
from kernel_helpers.course.standins import reference_slot
from kernel_helpers.errors import InvalidValue

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
VARIANTS = ("learner", "solution")
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (labkit, as root)",
              "language": "python"}
_MARKER = re.compile(r"^(\s*)### (BEGIN|END) SOLUTION\s*$")


def read_source(source: Path) -> nbformat.NotebookNode:
    """Parse a py:percent source into a notebook, checking every cell's labkit metadata."""
    import jupytext
    nb: nbformat.NotebookNode = jupytext.read(str(source), fmt="py:percent")
    for number, cell in enumerate(nb.cells):
        where = f"{source.name} cell {number}"
        kind = labkit_meta(cell).get("kind")
        if cell.cell_type == "code" and kind not in CELL_KINDS:
            raise InvalidValue(f"{where} kind '{kind}'", "is not a cell kind",
                               f"add labkit={{\"kind\": ...}} with one of: {', '.join(CELL_KINDS)}")
        if (BEGIN in cell.source or END in cell.source) and kind != "exercise":
            raise InvalidValue(where, "has solution markers outside an exercise cell",
                               "mark the cell labkit={\"kind\": \"exercise\"}")
    return nb


def _stub(source: str, where: str) -> str:
    """Replace each BEGIN..END region with a stub at the region's indentation."""
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        match = _MARKER.match(line)
        if match and match.group(2) == "BEGIN" and not inside:
            inside = True
            indent = match.group(1)
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
        elif match and match.group(2) == "END" and inside:
            inside = False
        elif match:
            raise InvalidValue(where, f"has an unpaired `{match.group(0).strip()}`",
                               "pair every BEGIN SOLUTION with an END SOLUTION")
        elif not inside:
            out.append(line)
    if inside:
        raise InvalidValue(where, "has a BEGIN SOLUTION without END SOLUTION", "close the region")
    return "\n".join(out)


def _unmark(source: str) -> str:
    return "\n".join(line for line in source.splitlines() if not _MARKER.match(line))


def _slot_cell(name: str, source: Path, variant: str) -> str:
    if not name:
        raise InvalidValue(f"{source.name} slot cell", "names no slot",
                           'write labkit={"kind": "slot", "slot": "<name>"}')
    if variant == "learner":
        return f"%slot {name}"
    lab_number = int(source.name[:2]) if source.name[:2].isdigit() else 99
    return f"%%slot {name} --force\n{reference_slot(name, lab_number).rstrip()}"


def build(source: Path, variant: str) -> nbformat.NotebookNode:
    """The `variant` ("learner" or "solution") notebook of one lab source, without outputs."""
    if variant not in VARIANTS:
        raise InvalidValue(f"variant '{variant}'", "is not a notebook variant",
                           f"use one of: {', '.join(VARIANTS)}")
    nb = read_source(source)
    cells: list[nbformat.NotebookNode] = []
    for number, cell in enumerate(nb.cells):
        kind = labkit_meta(cell).get("kind")
        if variant == "learner" and kind == "hidden-check":
            continue
        cell.metadata.pop("lines_to_next_cell", None)  # jupytext layout hint, not content
        if cell.cell_type == "code" and kind == "slot":
            cell.source = _slot_cell(labkit_meta(cell).get("slot", ""), source, variant)
            cell.outputs, cell.execution_count = [], None
        elif cell.cell_type == "code":
            cell.source = (_stub(cell.source, f"{source.name} cell {number}")
                           if variant == "learner" else _unmark(cell.source))
            cell.outputs, cell.execution_count = [], None
        cell.id = f"c{len(cells):02d}"  # stable ids: rebuilding changes nothing
        cells.append(cell)
    nb.cells = cells
    nb.metadata = {"kernelspec": dict(KERNELSPEC),
                   "language_info": {"name": "python"},
                   "labkit": {"variant": variant, "source": source.name}}
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    """The notebook as the exact text written to disk."""
    return str(nbformat.writes(nb)) + "\n"


def write(source: Path, variant: str, dest: Path) -> Path:
    """Build and write one notebook; returns its path."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(render(build(source, variant)), encoding="utf-8")
    return dest
