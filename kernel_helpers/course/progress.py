"""The learner's progress, one JSON file shared by the notebooks and the TUI.

A step passed in JupyterLab shows as done in the TUI and the other way round.
Writes are atomic (a temp file renamed over the old one), so a crash or two
faces writing at once never leave a half-written file.

Taught in: lab 00.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel_helpers.course.catalog import Course, Step
from kernel_helpers.files import write_atomic


def progress_path() -> Path:
    """~/.labkit/progress.json, or $LABKIT_PROGRESS (tests and graders use their own)."""
    override = os.environ.get("LABKIT_PROGRESS")
    return Path(override) if override else Path.home() / ".labkit" / "progress.json"


@dataclass(frozen=True)
class StepProgress:
    """What is known about one step."""

    step_id: str
    done: bool = False
    attempts: int = 0
    hints_seen: int = 0
    """How many hint tiers the learner has opened (the TUI's `h` key)."""


def _load(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    steps = data.get("steps", {}) if isinstance(data, dict) else {}
    return steps if isinstance(steps, dict) else {}


def _save(path: Path, steps: dict[str, dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps({"format_version": 1, "steps": steps}, indent=1,
                                  sort_keys=True))


def _update(step_id: str, **changes: object) -> StepProgress:
    path = progress_path()
    steps = _load(path)
    entry = dict(steps.get(step_id, {}))
    entry.update(changes)
    entry["updated"] = int(time.time())
    steps[step_id] = entry
    _save(path, steps)
    return get(step_id)


def _entry(step_id: str, entry: dict[str, Any]) -> StepProgress:
    return StepProgress(step_id, bool(entry.get("done", False)), int(entry.get("attempts", 0)),
                        int(entry.get("hints_seen", 0)))


def get(step_id: str) -> StepProgress:
    """The stored progress of one step (not started if unknown)."""
    return _entry(step_id, _load(progress_path()).get(step_id, {}))


def record(step: Step, passed: bool) -> StepProgress:
    """Count a check run; a pass marks the step done (a later failure does not undo it)."""
    old = get(step.id)
    return _update(step.id, done=old.done or passed, attempts=old.attempts + 1)


def hint_seen(step: Step, tier: int) -> StepProgress:
    """Remember that hint `tier` (1-based) was shown."""
    return _update(step.id, hints_seen=max(get(step.id).hints_seen, tier))


def reset(step: Step | None = None) -> None:
    """Forget one step's progress, or everything."""
    path = progress_path()
    steps = _load(path)
    if step is None:
        steps.clear()
    else:
        steps.pop(step.id, None)
    _save(path, steps)


def summary(course: Course) -> dict[str, StepProgress]:
    """Progress of every step of the course, in course order."""
    stored = _load(progress_path())
    return {step.id: _entry(step.id, stored.get(step.id, {})) for step in course.steps}


def next_step(course: Course) -> Step | None:
    """The first step not yet done ("continue here"), or None when all are."""
    done = {sid for sid, p in summary(course).items() if p.done}
    return next((step for step in course.steps if step.id not in done), None)
