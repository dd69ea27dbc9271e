"""The course framework itself: catalogue validation, builds, progress, lesson text, timeouts."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from kernel_helpers.course import build, load_course, notebook_text, progress, run_check
from kernel_helpers.course.catalog import parse_course
from kernel_helpers.course.checks import check
from kernel_helpers.errors import InvalidValue, NotFound

LAB = {"id": "x", "folder": "x", "title": "X", "summary": "s",
       "step": [{"id": "x.a", "title": "A", "answer": "a", "points": 1, "hints": ["h"]}]}


def _course(tmp_path: Path, **changes: object) -> dict:
    (tmp_path / "x").mkdir(exist_ok=True)
    data = {"format_version": 1, "title": "t", "welcome": "w", "final": "f", "lab": [dict(LAB)]}
    data.update(changes)
    return data


def test_catalog_loads_the_real_course() -> None:
    course = load_course()
    assert [lab.number for lab in course.labs] == list(range(len(course.labs)))
    assert all(lab.source.exists() and lab.notebook.exists() for lab in course.labs)
    assert course.lab("01") is course.lab("01-pid") is course.lab(course.labs[1].folder.name)
    with pytest.raises(NotFound):
        course.step("no.such-step")


@pytest.mark.parametrize("change,problem", [
    ({"format_version": 2}, "is not 1"),
    ({"lab": [LAB, LAB]}, "appears twice"),
    ({"lab": [dict(LAB, step=[dict(LAB["step"][0], points=0)])]}, "positive"),
    ({"lab": [dict(LAB, step=[dict(LAB["step"][0], hints=[])])]}, "non-empty list"),
    ({"lab": [dict(LAB, folder="missing")]}, "does not exist"),
])
def test_catalog_rejects_bad_entries(tmp_path: Path, change: dict, problem: str) -> None:
    with pytest.raises((InvalidValue, NotFound)) as err:
        parse_course(_course(tmp_path, **change), tmp_path)
    assert problem in str(err.value)


def test_learner_build_stubs_answers_and_drops_hidden_checks(tmp_path: Path) -> None:
    source = tmp_path / "lab.py"
    source.write_text(textwrap.dedent('''\
        # %% [markdown] labkit={"step": "x.a"}
        # Text of step x.a.

        # %% labkit={"kind": "exercise"}
        def a():
            ### BEGIN SOLUTION
            return 42
            ### END SOLUTION

        # %% labkit={"kind": "hidden-check"}
        assert a() == 42
        '''))
    learner, solution = build.build(source, "learner"), build.build(source, "solution")
    assert [c.source for c in learner.cells[1:]] == [
        "def a():\n    # YOUR CODE HERE\n    raise NotImplementedError()"]
    assert solution.cells[1].source == "def a():\n    return 42"
    assert solution.cells[2].source == "assert a() == 42"
    build.write(source, "learner", tmp_path / "lab.ipynb")
    assert notebook_text.step_markdown(tmp_path / "lab.ipynb", "x.a") == "Text of step x.a."
    assert "raise NotImplementedError()" in notebook_text.answer_code(tmp_path / "lab.ipynb")


@pytest.mark.parametrize("body,problem", [
    ('# %% labkit={"kind": "check"}\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n', "outside"),
    ('# %% labkit={"kind": "exercise"}\n### BEGIN SOLUTION\nx = 1\n', "without END"),
    ('# %%\nx = 1\n', "is not a cell kind"),
])
def test_build_rejects_bad_sources(tmp_path: Path, body: str, problem: str) -> None:
    source = tmp_path / "lab.py"
    source.write_text(body)
    with pytest.raises(InvalidValue) as err:
        build.build(source, "learner")
    assert problem in str(err.value)


def test_progress_is_shared_and_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p" / "progress.json"
    monkeypatch.setenv("LABKIT_PROGRESS", str(path))
    course = load_course()
    first, second = course.steps[:2]
    assert progress.next_step(course) == first
    progress.record(first, passed=False)
    progress.record(first, passed=True)
    progress.record(first, passed=False)  # a later failure does not undo a pass
    progress.hint_seen(second, 2)
    assert progress.get(first.id) == progress.StepProgress(first.id, True, 3, 0)
    assert progress.summary(course)[second.id].hints_seen == 2
    assert progress.next_step(course) == second
    assert json.loads(path.read_text())["steps"][first.id]["done"] is True
    assert [p.name for p in path.parent.iterdir()] == ["progress.json"]  # no temp files left
    progress.reset()
    assert progress.get(first.id).attempts == 0


@check("test.loops-forever")
def _loops_forever(answer: object) -> str:
    while True:
        pass


def test_a_check_that_never_ends_fails_on_time(root: None) -> None:
    result = run_check("test.loops-forever", None, timeout=1, hint="h")
    assert not result.passed
    assert result.message == "did not finish within 1 seconds"


def test_unknown_check_fails_without_raising() -> None:
    assert not run_check("no.such-check", None).passed
