"""Every graded check fails on the stub and on wrong answers, and passes on the solution.

All of it on the real kernel, as root: these are the checks' own tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel_helpers.course import build, load_course, run_check, run_step
from wrong_answers import WRONG

COURSE = load_course()
STEPS = {step.id: step for step in COURSE.steps if not step.slot}
"""Notebook-answer steps; runtime steps (a slot of myruntime.py) are judged by the harness,
whose own tests are tests/course/test_harness.py."""


@pytest.fixture(autouse=True)
def _own_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_PROGRESS", str(tmp_path / "progress.json"))


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    out = tmp_path_factory.mktemp("builds")
    return {(lab.id, variant): build.write(lab.source, variant, out / variant / lab.notebook.name)
            for lab in COURSE.labs for variant in build.VARIANTS}


def test_every_check_has_wrong_answers() -> None:
    assert sorted(WRONG) == sorted(step.check for step in STEPS.values())


@pytest.mark.parametrize("step_id", sorted(STEPS))
def test_passes_on_solution(root: None, builds: dict, step_id: str) -> None:
    step = STEPS[step_id]
    result = run_step(step_id, builds[(step.lab_id, "solution")], record=False)
    assert result.passed, result.line()


@pytest.mark.parametrize("step_id", sorted(STEPS))
def test_fails_on_learner_stub(root: None, builds: dict, step_id: str) -> None:
    step = STEPS[step_id]
    result = run_step(step_id, builds[(step.lab_id, "learner")], record=False)
    assert not result.passed
    assert result.message == f"`{step.answer}` is still the stub (it raises NotImplementedError)"


@pytest.mark.parametrize("check_id,index", [(c, i) for c, answers in sorted(WRONG.items())
                                             for i in range(len(answers))])
def test_fails_on_wrong_answer(root: None, check_id: str, index: int) -> None:
    first = run_check(check_id, WRONG[check_id][index])
    assert not first.passed, first.line()
    assert first.hint, "a failed check must say what to try"
    again = run_check(check_id, WRONG[check_id][index])
    assert again == first, "check messages must be deterministic (no pids, times, addresses)"
