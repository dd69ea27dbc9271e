"""Reference slots: stand-ins for the harness and the text `labkit checkpoint` writes.

The reference runtime is one file, `reference.py` (instructor source). A learner
release replaces it with `reference.bin` (`pack_reference`): the same text,
zlib-compressed, so it is not one double-click away. This is a speed bump against
reading the answer by accident, not protection against a learner who wants it.

Taught in: lab 01 (the stand-in notes in every check).
"""

from __future__ import annotations

import re
import types
import zlib
from pathlib import Path
from typing import Any, Callable

from kernel_helpers.course.workfile import parse
from kernel_helpers.errors import NotFound

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "reference.py"
PACKED = HERE / "reference.bin"
_GUARD = re.compile(r"\s*# lab>=(\d+)\s*$")


def reference_text() -> str:
    """The reference runtime's text: reference.py in the instructor tree, else reference.bin."""
    if SOURCE.exists():
        return SOURCE.read_text(encoding="utf-8")
    if PACKED.exists():
        return zlib.decompress(PACKED.read_bytes()).decode("utf-8")
    raise NotFound("the reference runtime", "is missing from this installation",
                   "reinstall the kit: stand-ins and checkpoints need it")


def pack_reference(dest: Path) -> Path:
    """Write reference.bin into `dest` (the release's kernel_helpers/course folder)."""
    out = dest / PACKED.name
    out.write_bytes(zlib.compress(reference_text().encode("utf-8"), 9))
    return out


def reference_slot(name: str, as_of_lab: int = 99) -> str:
    """Slot `name` of the reference, with the lines guarded ``# lab>=NN`` only when NN <= as_of_lab."""
    slots = parse(reference_text()).slots
    if name not in slots:
        raise NotFound(f"slot '{name}'", "has no reference", "add it to reference.py")
    lines = []
    for line in slots[name].splitlines():
        guard = _GUARD.search(line)
        if guard is None:
            lines.append(line)
        elif int(guard.group(1)) <= as_of_lab:
            lines.append(line[:guard.start()])
    return "\n".join(lines) + "\n"


def _reference_namespace() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "labkit_reference"}
    exec(compile(reference_text().split("# --- the command line ---")[0],  # noqa: S102
                 "<labkit reference>", "exec"), namespace)
    return namespace


def stand_in(module: types.ModuleType, name: str) -> Callable[..., Any]:
    """The reference `name`, bound to the learner's module, so its calls reach the learner's slots.

    A reference `run` calls ``enter_rootfs(...)`` by global name: rebinding its code to
    the learner module's globals makes that the learner's own enter_rootfs (or its
    stand-in). Names the reference needs and the learner's file lacks (os, lk) are added.
    """
    reference = _reference_namespace()
    for key, value in reference.items():
        if isinstance(value, types.ModuleType):
            module.__dict__.setdefault(key, value)
    fn = reference[name]
    return types.FunctionType(fn.__code__, module.__dict__, name, fn.__defaults__, fn.__closure__)
