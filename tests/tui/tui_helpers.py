"""Helpers for the TUI tests: play the learner's part (edit and save the notebook), wait for the app."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import nbformat
from textual.pilot import Pilot

from kernel_helpers.course.build import build, render
from kernel_helpers.course.notebook_text import labkit_meta
from tui import lessons


def notebook(labs: Path) -> Path:
    return labs / "t1_namespaces" / "t1_namespaces.ipynb"


def write_answer(labs: Path, step_id: str, variant: str = "solution",
                 edit: Callable[[str], str] = lambda code: code) -> None:
    """Save the step's exercise cells as a learner would: the `variant` build's code, edited."""
    source = labs / "t1_namespaces" / "t1_namespaces.py"
    wanted = {c.id: edit(c.source) for c in lessons.section(build(source, variant), step_id)
              if c.cell_type == "code"}
    nb = nbformat.read(str(notebook(labs)), as_version=4)
    for cell in nb.cells:
        if cell.id in wanted and labkit_meta(cell).get("kind") == "exercise":
            cell.source = wanted[cell.id]
    notebook(labs).write_text(render(nb), encoding="utf-8")


def exercise_source(labs: Path, step_id: str) -> str:
    nb = nbformat.read(str(notebook(labs)), as_version=4)
    return "\n".join(c.source for c in lessons.section(nb, step_id)
                     if labkit_meta(c).get("kind") == "exercise")


async def until(pilot: Pilot, condition: Callable[[], object], timeout: float = 30) -> None:
    """Let the app run until `condition()` is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {condition}")
        await pilot.pause(0.05)


async def started(pilot: Pilot) -> None:
    """Wait until the course is loaded and the lab list is on screen (closing the welcome)."""
    from tui.screens.catalog import CatalogScreen
    from tui.screens.hint import TextScreen
    await until(pilot, lambda: any(isinstance(s, CatalogScreen) for s in pilot.app.screen_stack))
    await pilot.pause()
    if isinstance(pilot.app.screen, TextScreen):
        await pilot.press("enter")
    assert isinstance(pilot.app.screen, CatalogScreen)
