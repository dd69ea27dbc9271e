"""The course catalogue: labs/course.toml loaded into frozen dataclasses.

labs/course.toml is the only list of labs and steps. The notebooks, the TUI,
`labkit check` and the tests all read it through `load_course`, so a step's
id, title, points and hints live in exactly one place.

Taught in: lab 00.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from kernel_helpers.errors import InvalidValue, NotFound

LABS_ROOT = Path(os.environ.get("LABKIT_LABS_ROOT", Path(__file__).resolve().parents[2] / "labs"))
"""The labs/ folder of the repository (override with LABKIT_LABS_ROOT)."""

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Slot:
    """A named function of the learner's runtime file (myruntime.py), added by one lab."""

    name: str
    lab_number: int
    args: str
    """The parameter list, e.g. "spec"."""
    doc: str


@dataclass(frozen=True)
class Step:
    """One graded step: the learner defines `answer` and check `check` judges it.

    A runtime step (`slot` set) is judged instead by the harness, from the host,
    running the learner's myruntime.py through the step's `cases`.
    """

    id: str
    lab_id: str
    title: str
    check: str
    """Id of the check in the registry (kernel_helpers.checks); usually the step id."""
    answer: str
    """Name of the function (or value) the learner defines in the notebook."""
    points: int
    hints: tuple[str, ...]
    """Tiered: a nudge, then the syscall or file to use, then where to read more."""
    slot: str | None = None
    """The runtime slot this step grades (None: a notebook answer checked by `check`)."""
    cases: tuple[str, ...] = ()
    """The harness cases of a runtime step, in order."""


@dataclass(frozen=True)
class Lab:
    """One lab: a notebook in labs/<folder>/ and its steps in order."""

    id: str
    number: int
    title: str
    summary: str
    folder: Path
    steps: tuple[Step, ...]
    slots: tuple[Slot, ...] = ()
    """Functions this lab adds to the learner's runtime file."""

    @property
    def notebook(self) -> Path:
        """The learner notebook, opened directly in JupyterLab (and read by the TUI)."""
        return self.folder / f"{self.folder.name}.ipynb"

    @property
    def source(self) -> Path:
        """The single source (jupytext py:percent) the notebook is built from."""
        return self.folder / f"{self.folder.name}.py"

    @property
    def points(self) -> int:
        return sum(step.points for step in self.steps)


@dataclass(frozen=True)
class Course:
    """All labs in order, plus the welcome and closing text."""

    title: str
    welcome: str
    final: str
    labs: tuple[Lab, ...]

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(step for lab in self.labs for step in lab.steps)

    @property
    def slots(self) -> tuple[Slot, ...]:
        """Every slot of the runtime file, in lab order (the template's order)."""
        return tuple(slot for lab in self.labs for slot in lab.slots)

    def slot(self, name: str) -> Slot:
        for slot in self.slots:
            if slot.name == name:
                return slot
        raise NotFound(f"slot '{name}'", "is not in the course",
                       f"use one of: {', '.join(s.name for s in self.slots)}")

    def lab(self, key: str | int) -> Lab:
        """A lab by id ("01-pid"), number (1 or "01") or folder name."""
        for lab in self.labs:
            if str(key) in (lab.id, lab.folder.name, str(lab.number), f"{lab.number:02d}"):
                return lab
        raise NotFound(f"lab '{key}'", "is not in the course",
                       f"use one of: {', '.join(lab.id for lab in self.labs)}")

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise NotFound(f"step '{step_id}'", "is not in the course",
                       "run `labkit course` to list the steps")

    def lab_of(self, step: Step) -> Lab:
        return self.lab(step.lab_id)


def _text(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(f"{where} '{key}'", "is missing or empty", "give it a text value")
    return value.strip()


def _step(raw: dict[str, Any], lab_id: str) -> Step:
    step_id = _text(raw, "id", f"a step of lab {lab_id}")
    where = f"step {step_id}"
    hints = raw.get("hints", [])
    if not (isinstance(hints, list) and hints and all(isinstance(h, str) for h in hints)):
        raise InvalidValue(f"{where} 'hints'", "must be a non-empty list of texts",
                           'write e.g. hints = ["a nudge", "the syscall", "man 2 unshare"]')
    points = raw.get("points", 1)
    if not isinstance(points, int) or points <= 0:
        raise InvalidValue(f"{where} points '{points}'", "is not a positive whole number",
                           "use e.g. points = 2")
    slot = raw.get("slot")
    cases = raw.get("cases", [])
    if slot is not None and not (isinstance(cases, list) and cases
                                 and all(isinstance(c, str) for c in cases)):
        raise InvalidValue(f"{where} 'cases'", "must list the harness cases of a runtime step",
                           'write e.g. cases = ["pid1", "pidfile"]')
    answer = slot if slot is not None else _text(raw, "answer", where)
    return Step(step_id, lab_id, _text(raw, "title", where), raw.get("check", step_id),
                answer, points, tuple(hints), slot, tuple(cases))


def _slots(raw: dict[str, Any], lab_id: str, number: int) -> tuple[Slot, ...]:
    slots = []
    for item in raw.get("slot", []):
        name = _text(item, "name", f"a slot of lab {lab_id}")
        if not name.isidentifier():
            raise InvalidValue(f"slot '{name}'", "is not a Python function name",
                               "use letters, digits and _ only, e.g. enter_rootfs")
        args = item.get("args", "")
        slots.append(Slot(name, number, args if isinstance(args, str) else "",
                          _text(item, "doc", f"slot {name}")))
    return tuple(slots)


def parse_course(data: dict[str, Any], root: Path) -> Course:
    """Validate the parsed TOML: versions, unique ids, existing folders."""
    if data.get("format_version") != FORMAT_VERSION:
        raise InvalidValue("course.toml format_version", f"is not {FORMAT_VERSION}",
                           f"set format_version = {FORMAT_VERSION}")
    labs, seen = [], set()
    for number, raw in enumerate(data.get("lab", [])):
        lab_id = _text(raw, "id", "a lab")
        steps = tuple(_step(s, lab_id) for s in raw.get("step", []))
        for item in (lab_id, *(s.id for s in steps)):
            if item in seen:
                raise InvalidValue(f"id '{item}'", "appears twice in course.toml",
                                   "give every lab and step its own id")
            seen.add(item)
        folder = root / _text(raw, "folder", f"lab {lab_id}")
        if not folder.is_dir():
            raise NotFound(f"lab {lab_id} folder '{folder}'", "does not exist",
                           "create it or fix `folder` in course.toml")
        slots = _slots(raw, lab_id, number)
        for slot_item in slots:
            if slot_item.name in seen:
                raise InvalidValue(f"slot '{slot_item.name}'", "appears twice in course.toml",
                                   "give every slot its own name")
            seen.add(slot_item.name)
        unknown = [s.slot for s in steps if s.slot and s.slot not in {x.name for x in slots}]
        if unknown:
            raise InvalidValue(f"lab {lab_id} step slot '{unknown[0]}'", "is not a slot of that lab",
                               "add it as a [[lab.slot]] of the same lab")
        labs.append(Lab(lab_id, number, _text(raw, "title", f"lab {lab_id}"),
                        _text(raw, "summary", f"lab {lab_id}"), folder, steps, slots))
    return Course(_text(data, "title", "course"), _text(data, "welcome", "course"),
                  _text(data, "final", "course"), tuple(labs))


@lru_cache(maxsize=4)
def load_course(root: Path = LABS_ROOT) -> Course:
    """Read and validate labs/course.toml (cached; the file is part of the install)."""
    path = root / "course.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(str(path), "does not exist",
                       "set LABKIT_LABS_ROOT to the repository's labs folder") from None
    except tomllib.TOMLDecodeError as err:
        raise InvalidValue(str(path), f"is not valid TOML ({err})", "fix the line named") from None
    return parse_course(data, root)
