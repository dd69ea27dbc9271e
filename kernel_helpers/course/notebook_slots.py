"""The notebook's side of myruntime.py: ``%slot NAME`` shows a slot, ``%%slot NAME`` saves one.

A lab's exercise cell for a runtime slot starts as ``%slot enter_rootfs``. Running it
loads the slot's current code from the learner's file into the cell (JupyterLab
replaces the cell's text; any front end also sees it printed), as
``%%slot enter_rootfs --base 1a2b3c4d`` followed by the code. Editing that and running
it writes the code back into the file: an nbdev-style export, with the file as the
only store. `--base` is the hash of what was loaded: if the file was changed in
another editor since, the cell refuses to overwrite it (``--force`` overrides).

Why cell magics rather than an ``export_slot(fn)`` call: the magic gets the cell's exact
text (helpers, comments, imports) with no ``inspect.getsource``, defines nothing in
the notebook's kernel (the learner's code only ever runs in the harness), and works
the same under JupyterLab and nbval, which both run an IPython kernel.

Taught in: lab 01.
"""

from __future__ import annotations

import ast
import hashlib
import shlex
from typing import Any

from kernel_helpers.course.catalog import load_course
from kernel_helpers.course.workfile import default_path, init, read_slot, write_slot
from kernel_helpers.errors import InvalidValue, LabkitError


def digest(code: str) -> str:
    return hashlib.sha1(code.strip().encode()).hexdigest()[:8]


def show(name: str) -> str:
    """The slot's current code (making the file first if the learner has none yet)."""
    load_course().slot(name)
    if not default_path().exists():
        init()
    return read_slot(name)


def save(name: str, code: str, base: str | None = None, force: bool = False) -> str:
    """Write `code` into slot `name` of the learner's file; returns the sentence to print."""
    load_course().slot(name)
    try:
        tree = ast.parse(code)
    except SyntaxError as err:
        raise InvalidValue(f"the {name} cell", f"is not valid Python (line {err.lineno}: "
                           f"{err.msg})", "fix that line and run the cell again") from None
    if not any(isinstance(n, ast.FunctionDef) and n.name == name for n in tree.body):
        raise InvalidValue(f"the {name} cell", f"does not define `def {name}(...)`",
                           f"keep the function {name} in this cell")
    current = show(name)
    if (base and not force and digest(current) not in (base, digest(code))):
        raise InvalidValue(f"{name} in {default_path()}", "changed since this cell loaded it "
                           "(it was edited elsewhere)", f"run `%slot {name}` to load the file's "
                           f"version, or add --force to overwrite it")
    write_slot(name, code)
    return f"saved {name} to {default_path()}"


def _line(shell: Any, line: str) -> None:
    name = line.strip()
    code = show(name)
    print(f"# {name}, as it is now in {default_path()}:\n{code}")
    shell.set_next_input(f"%%slot {name} --base {digest(code)}\n{code}", replace=True)


def _cell(line: str, cell: str) -> None:
    words = shlex.split(line)
    name = words[0] if words else ""
    base = words[words.index("--base") + 1] if "--base" in words[:-1] else None
    print(save(name, cell, base, "--force" in words))


def use_slots() -> None:
    """Register %slot and %%slot in the running IPython kernel (a lab's setup cell calls this)."""
    from IPython import get_ipython  # the notebook's kernel; absent in plain Python
    shell = get_ipython()
    if shell is None:  # plain Python (a check re-running the setup cell): nothing to register
        return

    def slot_magic(line: str, cell: str | None = None) -> None:
        try:
            _line(shell, line) if cell is None else _cell(line, cell)
        except LabkitError as err:
            print(f"labkit: {err}")
            raise
    shell.register_magic_function(slot_magic, "line_cell", "slot")
