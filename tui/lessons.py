"""What the TUI reads from a lab notebook beyond `kernel_helpers.course`: a step's own cells.

A lab notebook is sequential: a step's Markdown cell (``metadata.labkit.step``)
opens its section, and the code cells up to the next step's text belong to it.
From that the TUI gets the step's demo cells (its real operation, run by the
`r` key), its exercise cells (edited in $EDITOR by `e`, for learners with only
an ssh session), and the same cells in the solution build (shown once the step
is done) and in the learner build (restored by reset).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from kernel_helpers.course import Lab, Step, load_course, notebook_text, progress, workfile
from kernel_helpers.course.build import build, render
from kernel_helpers.errors import NotFound
from kernel_helpers.files import write_atomic


def section(nb: nbformat.NotebookNode, step_id: str) -> list[nbformat.NotebookNode]:
    """The cells of `step_id`'s section, from its first Markdown cell up to the next step's."""
    cells, current = [], None
    for cell in nb.cells:
        marked = notebook_text.labkit_meta(cell).get("step")
        if marked:
            current = marked
        if current == step_id:
            cells.append(cell)
    return cells


def _kind(cell: nbformat.NotebookNode) -> str | None:
    return notebook_text.labkit_meta(cell).get("kind")


def _notebook(lab: Lab) -> Path:
    """The lab's learner notebook, or NotFound (never a FileNotFoundError traceback)."""
    if not lab.notebook.exists():
        raise NotFound(f"lab {lab.id} notebook '{lab.notebook}'", "does not exist",
                       "build it with the course tools, or pull the repository again")
    return lab.notebook


def step_text(lab: Lab, step: Step) -> str:
    """The Markdown that explains `step`, read from the lab notebook (the single source)."""
    return notebook_text.step_markdown(_notebook(lab), step.id)


def intro_text(lab: Lab) -> str:
    """The lab's introduction: the notebook's Markdown before the first step."""
    return notebook_text.intro_markdown(_notebook(lab))


def has_demo(lab: Lab, step: Step) -> bool:
    """Whether the step's section has a demonstration cell to run."""
    return any(_kind(c) == "demo" for c in section(notebook_text.read(_notebook(lab)), step.id))


def solution_code(lab: Lab, step: Step) -> str:
    """The reference answer: the step's exercise cells in the solution build of the lab."""
    if not lab.source.exists():
        raise NotFound(f"lab {lab.id} source '{lab.source}'", "does not exist",
                       "reinstall the labs, or pull the repository again")
    cells = [c.source for c in section(build(lab.source, "solution"), step.id)
             if _kind(c) in ("exercise", "slot")]
    return "\n\n".join(cells) or "# This step has no exercise cell: its demo is the lesson."


CELL_MARK = re.compile(r"^# %% cell (\S+) \(keep this line\)$", re.MULTILINE)
"""Separates exercise cells in the file `e` opens, so each edit goes back to its own cell."""


def exercise_file(lab: Lab, step: Step) -> str:
    """The step's exercise cells as one Python text for $EDITOR (empty if it has none)."""
    nb = notebook_text.read(_notebook(lab))
    return "".join(f"# %% cell {c.id} (keep this line)\n{c.source}\n\n"
                   for c in section(nb, step.id) if _kind(c) == "exercise")


def save_exercise_file(lab: Lab, text: str) -> int:
    """Put an edited `exercise_file` back into its notebook cells; returns how many changed."""
    parts = CELL_MARK.split(text)
    return _write_exercises(lab, {cell_id: code.strip("\n")
                                  for cell_id, code in zip(parts[1::2], parts[2::2])})


def reset(lab: Lab, step: Step) -> int:
    """Forget the step's progress and put its exercise cells back to the stub (rustlings reset).

    Cells are matched by the stable ids the build gives them; other cells and
    other steps are left as they are. Returns how many cells were restored.
    """
    progress.reset(step)
    if step.slot:  # the code is in myruntime.py: back it up, then put the slot's stub back
        path = workfile.default_path()
        if path.exists():
            workfile.backup(path)
            workfile.write_slot(step.slot, workfile.stub(load_course().slot(step.slot),
                                                         load_course()), path)
        return 1
    if not lab.source.exists():
        return 0
    return _write_exercises(lab, {c.id: c.source for c in section(build(lab.source, "learner"),
                                                                   step.id)
                                  if _kind(c) == "exercise"})


def _write_exercises(lab: Lab, sources: dict[str, str]) -> int:
    """Set the source of exercise cells by id (their outputs go stale, so they go too)."""
    nb = notebook_text.read(_notebook(lab))
    changed = 0
    for cell in nb.cells:
        new = sources.get(cell.get("id", ""))
        if new is not None and _kind(cell) == "exercise" and cell.source != new:
            cell.source, cell.outputs, cell.execution_count = new, [], None
            changed += 1
    if changed:
        _replace(lab.notebook, render(nb))
    return changed


def _replace(path: Path, text: str) -> None:
    """Write atomically, so JupyterLab (or a crash) never sees half a notebook."""
    write_atomic(path, text)
