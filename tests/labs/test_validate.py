"""`labkit course validate`: the proof every check gets before learners meet it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel_helpers.course import build, load_course
from kernel_helpers.course.validate import MIN_WRONG, RUNS, validate_step, wrong_answers
from kernel_helpers.testing import labkit

COURSE = load_course()


def test_every_check_has_enough_known_wrong_answers() -> None:
    wrong = wrong_answers()
    answers = [s for s in COURSE.steps if not s.slot]
    assert {s.check: len(wrong.get(s.check, [])) >= MIN_WRONG for s in answers} == \
        {s.check: True for s in answers}
    from kernel_helpers.course.validate import RUNTIME_VARIANTS, _load
    by_step = _load(RUNTIME_VARIANTS, "labkit_runtime_variants").WRONG_BY_STEP
    runtime = [s for s in COURSE.steps if s.slot]
    assert runtime and {s.id: sum(map(len, by_step[s.id][1].values())) >= MIN_WRONG
                        for s in runtime} == {s.id: True for s in runtime}


def test_validate_proves_a_lab_from_the_command_line(root: None, tmp_path: Path) -> None:
    result = labkit("course", "validate", "00", timeout=300,
                    env={"LABKIT_PROGRESS": str(tmp_path / "p.json"), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [["ok", "setup.missing-features"],
                                                    ["ok", "setup.my-namespaces"]]
    assert f"reference {RUNS}/{RUNS}, stub fails, 3/3 known-wrong answers fail" in lines[0]


def test_validate_says_when_a_wrong_answer_passes(root: None, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A 'wrong' answer that is in fact right, and too few of them: both are reported."""
    monkeypatch.setenv("LABKIT_PROGRESS", str(tmp_path / "p.json"))
    lab = COURSE.lab("01")
    step = next(s for s in lab.steps if s.id == "pid.parent")
    solution = build.write(lab.source, "solution", tmp_path / "s" / lab.notebook.name)
    learner = build.write(lab.source, "learner", tmp_path / "l" / lab.notebook.name)

    def parent_of(pid: int) -> int:
        with open(f"/proc/{pid}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("PPid:"))
    problems = validate_step(step, solution, learner, [parent_of])
    assert problems == ["known-wrong answer 1 (parent_of) passes",
                        f"only 1 known-wrong answers; keep at least {MIN_WRONG} in "
                        "tests/checks/wrong_answers.py"]
