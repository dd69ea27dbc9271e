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

from kernel_helpers.errors import InvalidValue, NotFound

LABS_ROOT = Path(os.environ.get("LABKIT_LABS_ROOT", Path(__file__).resolve().parents[2] / "labs"))
"""The labs/ folder of the repository (override with LABKIT_LABS_ROOT)."""

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Step:
    """One graded step: the learner defines `answer` and check `check` judges it."""

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


@dataclass(frozen=True)
class Lab:
    """One lab: a notebook in labs/<folder>/ and its steps in order."""

    id: str
    number: int
    title: str
    summary: str
    folder: Path
    steps: tuple[Step, ...]

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


def _text(table: dict, key: str, where: str) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise InvalidValue(f"{where} '{key}'", "is missing or empty", "give it a text value")
    return value.strip()


def _step(raw: dict, lab_id: str) -> Step:
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
    return Step(step_id, lab_id, _text(raw, "title", where), raw.get("check", step_id),
                _text(raw, "answer", where), points, tuple(hints))


def parse_course(data: dict, root: Path) -> Course:
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
        labs.append(Lab(lab_id, number, _text(raw, "title", f"lab {lab_id}"),
                        _text(raw, "summary", f"lab {lab_id}"), folder, steps))
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
