"""`labkit checkpoint NN`: catch up to the start of lab NN without losing your own work.

Every slot of the labs before NN that is still a stub, or fails its own lab's cases,
is replaced by the reference as it stands at the start of lab NN (its text in the
instructor's tree; in a learner's release, where the reference is bytecode, a slot that
calls it, marked as borrowed, which the own-runtime score does not count); every slot of yours
that passes is kept, and so is everything from lab NN on. The old file is copied to
<work>/.labkit-backups/ first.

Taught in: lab 01.
"""

from __future__ import annotations

from pathlib import Path

from kernel_helpers.course.catalog import load_course
from kernel_helpers.course.runtime_check import judge
from kernel_helpers.course.standins import has_text, reference_slot
from kernel_helpers.learn.borrow import borrowed_slot
from kernel_helpers.course.workfile import (backup, default_path, is_stub, parse, read_text,
                                            upgrade_text, write_slot)
from kernel_helpers.files import write_atomic


def checkpoint(lab_key: str, path: Path | None = None) -> list[str]:
    """Rewrite the file to the reference as of lab `lab_key`'s start; one line per slot decided."""
    course = load_course()
    target = course.lab(lab_key)
    path = path or default_path()
    text = read_text(path)
    lines = [f"backed up {path.name} to {backup(path)}"]
    write_atomic(path, upgrade_text(text, course))
    slots = parse(read_text(path)).slots
    for lab in course.labs:
        if lab.number >= target.number or not lab.slots:
            continue
        stubs = {s.name for s in lab.slots if is_stub(slots.get(s.name, ""), s.name)}
        failing: dict[str, str] = {}
        if len(stubs) < len(lab.slots):
            for case in judge(path, f"{lab.number:02d}", "own")["cases"]:
                name = course.step(case["step"]).slot
                if case["status"] != "pass" and name and name not in failing:
                    failing[name] = f"fails {lab.number:02d}.{case['case']}"
        for slot in lab.slots:
            why = "is still the stub" if slot.name in stubs else failing.get(slot.name)
            if why is None:
                lines.append(f"kept your {slot.name} (lab {lab.number:02d}): it passes")
                continue
            code = (reference_slot(slot.name, as_of_lab=target.number - 1) if has_text()
                    else borrowed_slot(slot.name, slot.args))
            write_slot(slot.name, code, path)
            lines.append(f"wrote the reference {slot.name} (lab {lab.number:02d}): yours {why}")
    return lines
