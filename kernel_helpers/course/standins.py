"""Reference slots as text: the solution notebooks' slot cells and `labkit checkpoint`.

The reference runtime is one module, `kernel_helpers.learn.reference`. Stand-ins use
its functions (`kernel_helpers.learn.borrow`), which work from bytecode too. Its *text*
exists only in the instructor's tree: a learner's release ships the module as bytecode,
and there `labkit checkpoint` writes slots that borrow the reference instead of copying it.

Taught in: lab 01 (the stand-in notes in every check).
"""

from __future__ import annotations

import re
from pathlib import Path

from kernel_helpers.course.workfile import parse
from kernel_helpers.errors import NotFound
from kernel_helpers.learn import borrow

SOURCE = Path(__file__).resolve().parents[1] / "learn" / "reference.py"
_GUARD = re.compile(r"\s*# lab>=(\d+)\s*$")


def has_text() -> bool:
    """True in the instructor's tree (the reference's source is there), False in a release."""
    return SOURCE.exists()


def reference_text() -> str:
    """The reference runtime's source text (instructor's tree only)."""
    if not SOURCE.exists():
        raise NotFound("the reference runtime's source", "is not part of a learner's release",
                       "build solution notebooks from the instructor's repository")
    return SOURCE.read_text(encoding="utf-8")


def reference_slot(name: str, as_of_lab: int = 99) -> str:
    """Slot `name` of the reference, with the lines guarded ``# lab>=NN`` only when NN <= as_of_lab."""
    slots = parse(reference_text()).slots
    if name not in slots:
        raise NotFound(f"slot '{name}'", "has no reference", "add it to kernel_helpers/learn/reference.py")
    lines = []
    for line in slots[name].splitlines():
        guard = _GUARD.search(line)
        if guard is None:
            lines.append(line)
        elif int(guard.group(1)) <= as_of_lab:
            lines.append(line[:guard.start()])
    return "\n".join(lines) + "\n"


def is_borrowed(code: str) -> bool:
    """True for a slot that calls the reference (written by checkpoint in a release)."""
    return borrow.MARK in code
