"""The learner's runtime file, myruntime.py: made from the slot table, read and written by slot.

The file lives in the learner's work folder ($LABKIT_WORK, else ~/labkit-work), outside
the kit's tracked files, so a course update never conflicts with it. Each slot is the
text between its marker line ``# --- lab NN: name ---`` and the next marker; the last
marker, ``# --- the command line ---``, opens the part that makes the file a command.

The slots come from labs/course.toml (``[[lab.slot]]``), so a new lab adds a slot there
and `upgrade` adds it to an existing file without touching the learner's code. The
notebook (`notebook_slots`), the TUI ($EDITOR at the slot) and any editor all read and
write this one file: there is no second copy.

Taught in: lab 01.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from kernel_helpers.course.catalog import Course, Slot, load_course
from kernel_helpers.errors import InvalidValue, NotFound
from kernel_helpers.files import write_atomic

FILE_NAME = "myruntime.py"
MARKER = re.compile(r"^# --- (?:lab (\d+): (\w+)|the command line) ---$", re.MULTILINE)
FOOTER = "# --- the command line ---"
BACKUPS = ".labkit-backups"

HEADER = '''"""myruntime.py: my container runtime, grown lab by lab (labkit).

Run it:    sudo /opt/labkit/venv/bin/python myruntime.py run --rootfs busybox -- /bin/sh -c 'echo $$; ls /'
Check it:  labkit check 01     (the checks judge the containers it makes, from the host)

Each lab adds functions between `# --- lab NN: name ---` markers. Write them here, in
the lab's notebook, or with `e` in `labkit`: it is all this one file. Keep the marker
lines; everything else in the file is yours to change.
"""

import os
import stat
import sys

from kernel_helpers import learn as lk

'''
FOOTER_TEXT = f'''{FOOTER}
if __name__ == "__main__":
    raise SystemExit(lk.main(globals()))
'''


def work_dir() -> Path:
    """The learner's work folder: $LABKIT_WORK, else ~/labkit-work."""
    return Path(os.environ.get("LABKIT_WORK") or Path.home() / "labkit-work")


def default_path() -> Path:
    return work_dir() / FILE_NAME


def marker(slot: Slot) -> str:
    return f"# --- lab {slot.lab_number:02d}: {slot.name} ---"


def stub(slot: Slot, course: Course) -> str:
    """The slot as `init` writes it: a function that says which lab and step it belongs to."""
    step = next((s.id for s in course.steps if s.slot == slot.name), slot.name)
    return (f"def {slot.name}({slot.args}):\n    \"\"\"{slot.doc}\"\"\"\n"
            f"    raise NotImplementedError(\"lab {slot.lab_number:02d}, step {step}: "
            f"{slot.name} is not written yet\")\n")


def template(course: Course | None = None) -> str:
    """The whole file as `labkit init` writes it."""
    course = course or load_course()
    slots = "".join(f"{marker(s)}\n{stub(s, course)}\n" for s in course.slots)
    return HEADER + slots + FOOTER_TEXT


@dataclass(frozen=True)
class Parsed:
    """A runtime file cut at its markers."""

    head: str
    slots: dict[str, str]
    """Slot name -> its text (without the marker line), in file order."""
    tail: str
    """The command-line part, from its marker on ('' if the marker is missing)."""


def parse(text: str) -> Parsed:
    marks = list(MARKER.finditer(text))
    slots: dict[str, str] = {}
    tail = ""
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        if mark.group(2) is None:
            tail = text[mark.start():]
            break
        slots[mark.group(2)] = text[mark.end():end].strip("\n") + "\n"
    head = text[:marks[0].start()] if marks else text
    return Parsed(head, slots, tail)


def read_text(path: Path | None = None) -> str:
    path = path or default_path()
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(str(path), "does not exist yet",
                       "run `labkit init` to make your runtime file") from None


def read_slot(name: str, path: Path | None = None) -> str:
    """The learner's current code of slot `name`."""
    slots = parse(read_text(path)).slots
    if name not in slots:
        raise NotFound(f"slot '{name}'", f"has no marker in {path or default_path()}",
                       "run `labkit init` again: it adds missing slots and keeps your code")
    return slots[name]


def write_slot(name: str, code: str, path: Path | None = None) -> None:
    """Replace slot `name`'s text (atomically: an editor or JupyterLab never sees half a file)."""
    path = path or default_path()
    text = upgrade_text(read_text(path))
    course = load_course()
    slot = course.slot(name)
    head = marker(slot)
    start = text.index(head) + len(head) + 1
    nxt = MARKER.search(text, start)
    end = nxt.start() if nxt else len(text)
    write_atomic(path, text[:start] + code.strip("\n") + "\n\n" + text[end:])


def upgrade_text(text: str, course: Course | None = None) -> str:
    """Add the slots (and command-line part) a newer course has and the file lacks; keep the rest."""
    course = course or load_course()
    parsed = parse(text)
    body = text[:len(text) - len(parsed.tail)] if parsed.tail else text.rstrip("\n") + "\n\n"
    missing = [s for s in course.slots if s.name not in parsed.slots]
    added = "".join(f"{marker(s)}\n{stub(s, course)}\n" for s in missing)
    return body + added + (parsed.tail or FOOTER_TEXT)


def init(directory: Path | None = None) -> tuple[Path, str]:
    """Write myruntime.py into `directory` (default: the work folder); an existing file only gains
    the slots it lacks. Returns the path and what was done, as a sentence."""
    directory = directory or work_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE_NAME
    if not path.exists():
        write_atomic(path, template())
        return path, f"wrote {path}: your runtime, one stub per lab"
    old = path.read_text(encoding="utf-8")
    new = upgrade_text(old)
    if new == old:
        return path, f"{path} is up to date; your code is kept"
    write_atomic(path, new)
    return path, f"added the new labs' slots to {path}; your code is kept"


def is_stub(code: str, name: str) -> bool:
    """True if the slot's function is missing or only raises NotImplementedError (the template)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            body = [n for n in node.body if not (isinstance(n, ast.Expr)
                                                  and isinstance(n.value, ast.Constant))]
            return (len(body) == 1 and isinstance(body[0], ast.Raise)
                    and "NotImplementedError" in ast.unparse(body[0]))
    return True


def backup(path: Path) -> Path:
    """Copy the file to <work>/.labkit-backups/myruntime-<time>.py before the kit rewrites it."""
    folder = path.parent / BACKUPS
    folder.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    dest = folder / f"{path.stem}-{stamp}.py"
    number = 1
    while dest.exists():  # two rewrites in one second
        number += 1
        dest = folder / f"{path.stem}-{stamp}-{number}.py"
    shutil.copy2(path, dest)
    return dest


def slot_line(name: str, path: Path | None = None) -> int:
    """The 1-based line of slot `name`'s marker, where an editor should open."""
    text = read_text(path)
    slot = load_course().slot(name)
    index = text.find(marker(slot))
    if index < 0:
        raise InvalidValue(f"slot '{name}'", "has no marker line in the file",
                           "run `labkit init` again to add it back")
    return text.count("\n", 0, index) + 2
