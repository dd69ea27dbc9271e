"""Reference slots as text: the solution notebooks' slot cells and `labkit checkpoint`.

The reference runtime is one module, `kernel_helpers.learn.reference`. Stand-ins use
its functions (`kernel_helpers.learn.borrow`), which work from bytecode too. Its *text*
exists only in the instructor's tree: a learner's release ships the module as bytecode,
and there `labkit checkpoint` writes slots that borrow the reference instead of copying it.

Taught in: lab 01 (the stand-in notes in every check).
"""

from __future__ import annotations

import ast
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


REFERENCE_NAMES = ("kernel_helpers.learn.reference", "kernel_helpers.learn.borrow",
                   "kernel_helpers.course", "learn.reference", "learn.borrow", "lk.reference",
                   "lk.borrow")
"""Names by which a learner's file would reach the course's own runtime or its checks."""


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def reaches_reference(text: str) -> str:
    """The first name in a runtime file (outside slots checkpoint wrote) that reaches the
    course's reference runtime or checks, or ''. A screen for the plain route only: code
    that builds the name at run time is not caught."""
    parsed = parse(text)
    own = [parsed.head, parsed.tail, *(c for c in parsed.slots.values() if not is_borrowed(c))]
    for part in own:
        try:
            tree = ast.parse(part)
        except SyntaxError:
            continue
        bare = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}  # docstrings
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Attribute):
                names = [_dotted(node)]
            elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
                  and id(node) not in bare):
                names = [node.value]
            for name in names:
                found = next((bad for bad in REFERENCE_NAMES if bad in name), "")
                if found:
                    return found
    return ""


def is_borrowed(code: str) -> bool:
    """True for a slot that calls the reference (written by checkpoint in a release)."""
    return borrow.MARK in code
