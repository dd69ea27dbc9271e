"""Read lesson text and learner code out of a lab notebook (never a copy of it).

Cells carry ``metadata.labkit``: ``{"step": "<step id>"}`` on the Markdown
cells that explain a step, and ``{"kind": ...}`` on code cells, one of
`CELL_KINDS`. The TUI shows `step_markdown`, and `answer_code` gives the code
a check runs (setup and exercise cells, in notebook order).

Taught in: lab 00.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # nbformat takes seconds to import (jsonschema's format checkers): only `read`
    import nbformat

CELL_KINDS = ("setup", "exercise", "slot", "demo", "check", "hidden-check")
"""setup: imports and helpers; exercise: the learner's code; slot: a function of the
learner's myruntime.py (``%slot``/``%%slot``, the code lives in the file, never in the
notebook); demo: live demonstration (output never graded); check: a visible graded
check; hidden-check: instructor-only."""

ANSWER_KINDS = ("setup", "exercise")


def read(path: Path | str) -> nbformat.NotebookNode:
    """Load a notebook (format 4) from disk."""
    import nbformat
    nb: nbformat.NotebookNode = nbformat.read(str(path), as_version=4)
    return nb


def labkit_meta(cell: nbformat.NotebookNode | dict[str, Any]) -> dict[str, Any]:
    """The cell's ``metadata.labkit`` table (empty if it has none)."""
    meta = cell.get("metadata", {}).get("labkit", {})
    return meta if isinstance(meta, dict) else {}


def step_markdown(notebook: Path | str, step_id: str) -> str:
    """The Markdown text that explains `step_id`, joined in notebook order."""
    cells = read(notebook).cells
    return "\n\n".join(c.source for c in cells
                       if c.cell_type == "markdown" and labkit_meta(c).get("step") == step_id)


def intro_markdown(notebook: Path | str) -> str:
    """The lab's introduction: the Markdown cells before the first step's text."""
    parts = []
    for cell in read(notebook).cells:
        if labkit_meta(cell).get("step"):
            break
        if cell.cell_type == "markdown":
            parts.append(cell.source)
    return "\n\n".join(parts)


def cells_of_kind(nb: nbformat.NotebookNode, *kinds: str) -> list[nbformat.NotebookNode]:
    """Code cells whose labkit kind is one of `kinds`."""
    return [c for c in nb.cells if c.cell_type == "code" and labkit_meta(c).get("kind") in kinds]


def _raw_cells(path: Path | str) -> list[dict[str, Any]]:
    """The cells straight from the notebook's JSON (format 4), each source one string.

    What a check needs from a notebook is a few strings, so it reads the JSON itself:
    `nbformat` imports jsonschema, whose format checkers build a grammar at import
    time, seconds on every `labkit check` and every check the TUI runs.
    """
    cells = json.loads(Path(path).read_text(encoding="utf-8")).get("cells", [])
    for cell in cells:
        source = cell.get("source", "")
        cell["source"] = "".join(source) if isinstance(source, list) else source
    return cells  # type: ignore[no-any-return]


def answer_code(notebook: Path | str) -> str:
    """The setup and exercise cells as one Python program (what a check runs)."""
    return "\n\n".join(c["source"] for c in _raw_cells(notebook) if c.get("cell_type") == "code"
                       and labkit_meta(c).get("kind") in ANSWER_KINDS)
