"""`labkit course validate`: prove every check, before learners meet it.

For every step of the labs asked for, on the real kernel:

- the reference answer (the solution build) passes ``RUNS`` times in a row, so a
  check that is flaky on a correct answer is caught here, not in a gradebook;
- the learner build's stub fails;
- every known-wrong answer kept in tests/checks/wrong_answers.py fails, and
  there are at least ``MIN_WRONG`` of them.

A runtime step (a slot of myruntime.py) is proven the same way through the harness:
the reference runtime passes its cases ``RUNS`` times, the template's stub fails them,
and every wrong runtime in tests/course/runtime_variants.py fails the case it is for.

It needs the instructor's source (the lab sources and the tests): a learner's
release tree has neither.

Taught in: lab 00 (the instructor's side).
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path
from typing import Any, Callable, TextIO

from kernel_helpers.course.build import write
from kernel_helpers.course.catalog import Lab, Step
from kernel_helpers.course.checks import run_check, run_step
from kernel_helpers.course.release import KIT_ROOT
from kernel_helpers.course.runtime_check import judge
from kernel_helpers.errors import NotFound

RUNS = 3
MIN_WRONG = 3
WRONG_ANSWERS = KIT_ROOT / "tests" / "checks" / "wrong_answers.py"
RUNTIME_VARIANTS = KIT_ROOT / "tests" / "course" / "runtime_variants.py"


def _load(path: Path, name: str) -> Any:
    if not path.is_file():
        raise NotFound(str(path), "does not exist",
                       "run validate from the instructor's source, not a learner's release")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def validate_runtime_lab(lab: Lab, folder: Path) -> dict[str, list[str]]:
    """What is wrong with each runtime step's cases ({step id: []} when all is proven)."""
    variants = _load(RUNTIME_VARIANTS, "labkit_runtime_variants")
    number = f"{lab.number:02d}"
    steps = [step for step in lab.steps if step.slot]
    problems: dict[str, list[str]] = {step.id: [] for step in steps}

    def file(name: str, **kwargs: Any) -> Path:
        (folder / name).mkdir(parents=True)
        return Path(variants.runtime_file(folder / name, **kwargs))

    reference = file("reference")
    for run in range(1, RUNS + 1):
        for case in judge(reference, number, "own")["cases"]:
            if case["status"] != "pass" and not problems[case["step"]]:
                problems[case["step"]].append(f"the reference failed case {case['case']} on run "
                                              f"{run} of {RUNS}: {case['message']}")
    stub = judge(file("stub", base="template"), number, "own")["cases"]
    for step in steps:
        if all(c["status"] == "pass" for c in stub if c["step"] == step.id):
            problems[step.id].append("the template's stub passes")
        slot, table = variants.WRONG_BY_STEP.get(step.id, (step.slot, {}))
        count = 0
        for case, named in table.items():
            for mistake, code in named.items():
                count += 1
                slots = code if isinstance(code, dict) else {slot: code}  # a mistake in run too
                verdict = judge(file(f"wrong-{step.id}-{count}", **slots), number, "own",
                                case)["cases"]
                if all(c["status"] == "pass" for c in verdict):
                    problems[step.id].append(f"the wrong runtime '{mistake}' passes case {case}")
        if count < MIN_WRONG:
            problems[step.id].append(f"only {count} wrong runtimes; keep at least {MIN_WRONG} in "
                                     f"{RUNTIME_VARIANTS.relative_to(KIT_ROOT)}")
    return problems


def wrong_answers(path: Path = WRONG_ANSWERS) -> dict[str, list[Callable[..., Any]]]:
    """{check id: [wrong answers]} from the tests' module, loaded by path."""
    return dict(_load(path, "labkit_wrong_answers").WRONG)


def validate_step(step: Step, solution: Path, learner: Path,
                  wrong: list[Callable[..., Any]]) -> list[str]:
    """What is wrong with one step's check ([] if nothing)."""
    problems = []
    for run in range(1, RUNS + 1):
        result = run_step(step.id, solution, record=False)
        if not result.passed:
            problems.append(f"the reference failed on run {run} of {RUNS}: {result.message}")
            break
    stub = run_step(step.id, learner, record=False)
    if stub.passed:
        problems.append("the learner's stub passes")
    for number, answer in enumerate(wrong, 1):
        result = run_check(step.check, answer)
        if result.passed:
            problems.append(f"known-wrong answer {number} ({getattr(answer, '__name__', '?')}) passes")
    if len(wrong) < MIN_WRONG:
        problems.append(f"only {len(wrong)} known-wrong answers; keep at least {MIN_WRONG} in "
                        f"{WRONG_ANSWERS.relative_to(KIT_ROOT)}")
    return problems


def validate(labs: list[Lab], say: TextIO) -> int:
    """Validate every step of `labs`, one line each; returns how many steps are not proven."""
    wrong = wrong_answers()
    bad = 0
    with tempfile.TemporaryDirectory(prefix="labkit-validate-") as tmp:
        for lab in labs:
            solution = write(lab.source, "solution", Path(tmp, "solution", lab.notebook.name))
            learner = write(lab.source, "learner", Path(tmp, "learner", lab.notebook.name))
            runtime = (validate_runtime_lab(lab, Path(tmp, f"runtime-{lab.number:02d}"))
                       if any(step.slot for step in lab.steps) else {})
            for step in lab.steps:
                variants = wrong.get(step.check, [])
                problems = (runtime[step.id] if step.slot
                            else validate_step(step, solution, learner, variants))
                bad += bool(problems)
                summary = (f"reference {RUNS}/{RUNS}, stub fails, "
                           + ("every wrong runtime fails its case" if step.slot else
                              f"{len(variants)}/{len(variants)} known-wrong answers fail"))
                say.write(f"{'BAD ' if problems else 'ok  '}{step.id:<24} "
                          f"{'; '.join(problems) if problems else summary}\n")
                say.flush()
    return bad
