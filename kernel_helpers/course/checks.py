"""The check registry and the one way to run a check, for notebooks, the TUI and the CLI.

A check is a function registered with ``@check("<id>")``. It receives the
learner's answer (usually a function they wrote), runs it against the real
kernel and returns a one-line success message, or raises `CheckFailed` with a
message and a hint fitted to the failure. Messages are deterministic (no
PIDs, times or addresses) so nbval and the TUI show the same text every run.

Every check runs in a forked child with a timeout: the learner's unshare,
mounts or infinite loop never touch the notebook kernel or the TUI.

Taught in: lab 00.
"""

from __future__ import annotations

import importlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from kernel_helpers.errors import LabkitError

CheckFn = Callable[[Any], str]
LEARNER_FIX = ("the error names the call that failed and why; if your call is right, "
               "`labkit doctor` shows what this machine lacks")
"""The hint for a kit error raised inside learner code, instead of the CLI's advice:
`labkit cleanup` would remove every container on the machine, not just the learner's."""
_REGISTRY: dict[str, CheckFn] = {}
DEFAULT_TIMEOUT = 30.0
"""Seconds a check (with the learner's code in it) may take before it counts as failed."""


class CheckFailed(LabkitError):
    """The learner's answer is not right yet: `problem` says what, `fix` is the hint."""


for _cls in (CheckFailed,):
    _cls.__module__ = "kernel_helpers.course"


def fail(message: str, hint: str = "") -> CheckFailed:
    """Build the error a check raises: ``raise fail("the hostname did not change", "...")``."""
    return CheckFailed("check", message, hint)


@dataclass(frozen=True)
class CheckResult:
    """What a check found: passed or not, a one-line message, and a hint when it failed."""

    check_id: str
    passed: bool
    message: str
    hint: str = ""

    def line(self) -> str:
        """The text a check cell prints (and the TUI shows)."""
        mark = "PASS" if self.passed else "FAIL"
        text = f"{mark} {self.check_id}: {self.message}"
        return text if self.passed or not self.hint else f"{text}\nhint: {self.hint}"


def check(check_id: str) -> Callable[[CheckFn], CheckFn]:
    """Register a check function under `check_id` (one id, one function)."""
    def register(fn: CheckFn) -> CheckFn:
        if check_id in _REGISTRY and _REGISTRY[check_id] is not fn:
            raise ValueError(f"check id {check_id!r} is registered twice")
        _REGISTRY[check_id] = fn
        return fn
    return register


def registry() -> dict[str, CheckFn]:
    """All checks, importing every module in kernel_helpers.checks.CHECK_MODULES."""
    from kernel_helpers.checks import CHECK_MODULES
    for name in CHECK_MODULES:
        importlib.import_module(name)
    return dict(_REGISTRY)


def call(answer: Any, *args: Any) -> Any:
    """Call the learner's function from inside a check, turning its errors into `CheckFailed`.

    A forked child of the learner's code that *returns* (instead of exec'ing or
    exiting) leaves at once, so it cannot run the rest of the check twice.
    """
    name = getattr(answer, "__name__", "your answer")
    if not callable(answer):
        raise fail(f"`{name}` is not a function", "define it with `def` in the exercise cell")
    me = os.getpid()
    try:
        return answer(*args)
    except NotImplementedError:
        raise fail(f"`{name}` is still the stub (it raises NotImplementedError)",
                   "replace the `raise NotImplementedError` line with your code") from None
    except LabkitError as err:  # the learner's call failed: never advise a machine-wide sweep
        fix = err.fix if "labkit" not in err.fix else LEARNER_FIX
        raise fail(f"`{name}` failed: {err.subject}: {err.problem}", fix) from None
    except Exception as err:
        raise fail(f"`{name}` raised {type(err).__name__}: {err}",
                   "read the error, fix the function, and run its cell again") from None
    finally:
        if os.getpid() != me:
            os._exit(0)


def _evaluate(fn: CheckFn, get_answer: Callable[[], Any]) -> str:
    return fn(get_answer())  # in the child: the learner's answer is fetched there too


def _evaluate_check(check_id: str, get_answer: Callable[[], Any], timeout: float,
                    hint: str) -> CheckResult:
    from kernel_helpers.process import run_in_child
    checks = registry()
    if check_id not in checks:
        return CheckResult(check_id, False, "no such check is registered",
                           "update the kit, or fix the check id in course.toml")
    started = time.monotonic()
    try:
        message = run_in_child(_evaluate, checks[check_id], get_answer, timeout=timeout)
    except CheckFailed as err:
        return CheckResult(check_id, False, err.problem, err.fix or hint)
    except LabkitError as err:
        if time.monotonic() - started >= timeout:
            return CheckResult(check_id, False, f"did not finish within {timeout:g} seconds",
                               "look for a loop that never ends or a wait that never returns")
        return CheckResult(check_id, False, str(err), hint)
    return CheckResult(check_id, True, message)


def run_check(check_id: str, answer: Any, *, timeout: float = DEFAULT_TIMEOUT,
              hint: str = "") -> CheckResult:
    """Run check `check_id` on `answer` in a child; never raises for a wrong answer.

    `hint` is shown when the check has no hint fitted to the failure; by default
    the first hint of the step that uses this check.
    """
    if not hint:
        from kernel_helpers.course.catalog import load_course
        hint = next((s.hints[0] for s in load_course().steps if s.check == check_id), "")
    return _evaluate_check(check_id, lambda: answer, timeout, hint)


def _answer_from(code: str, name: str, filename: str) -> Any:
    namespace: dict[str, Any] = {"__name__": "__labkit_answer__"}
    try:
        exec(compile(code, filename, "exec"), namespace)
    except Exception as err:
        raise fail(f"the notebook's exercise cells raised {type(err).__name__}: {err}",
                   "run the notebook's cells in order and fix the first error") from None
    if name not in namespace:
        raise fail(f"the notebook does not define `{name}`",
                   f"keep the exercise cell that defines `{name}`")
    return namespace[name]


def run_step(step_id: str, notebook: Path | None = None, *,
             timeout: float = DEFAULT_TIMEOUT, record: bool = True) -> CheckResult:
    """Check a step against the learner's notebook, as the TUI and `labkit check` do.

    The setup and exercise cells of the notebook are executed in the check's
    child; the step's answer is taken from what they define.
    """
    from kernel_helpers.course import notebook_text, progress
    from kernel_helpers.course.catalog import load_course
    course = load_course()
    step = course.step(step_id)
    if step.slot:  # a runtime step: the harness judges myruntime.py, never the notebook
        result = _runtime_step(step)
        if record:
            progress.record(step, result.passed)
        return result
    path = notebook or course.lab_of(step).notebook
    code = notebook_text.answer_code(path)
    result = _evaluate_check(step.check, lambda: _answer_from(code, step.answer, str(path)),
                             timeout, step.hints[0])
    if record:
        progress.record(step, result.passed)
    return result


def _runtime_step(step: Any) -> CheckResult:
    from kernel_helpers.course.runtime_check import check_step
    try:
        verdict, notes = check_step(step)
    except LabkitError as err:
        return CheckResult(step.check, False, str(err), step.hints[0])
    message = verdict.message + "".join(f" [{note}]" for note in notes)
    return CheckResult(step.check, verdict.passed, message, verdict.hint)


def check_runtime(lab: str) -> None:
    """A notebook check cell of a runtime lab: judge myruntime.py from the host, print, record.

    Prints the stand-in notes, one PASS/FAIL line per step with its hint, and both scores;
    raises (failing the cell, which is how nbval grades) unless every step passed.
    """
    from kernel_helpers.course import progress
    from kernel_helpers.course.catalog import load_course
    from kernel_helpers.course.runtime_check import report
    passed, text = report(lab)
    print(text)
    course = load_course()
    for step in course.lab(lab).steps:
        if step.slot:
            progress.record(step, passed or f"PASS {step.id}:" in text)
    if not passed:
        raise CheckFailed(f"lab {lab}", "a step of your runtime does not pass yet",
                          "read the FAIL lines above: each names the mistake and a hint")


def verify(step_id: str, answer: Any, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """A notebook check cell: run the step's check, record progress, print, fail the cell if wrong.

    Raising makes the cell fail, which is how nbval (``--nbval-lax``) grades it.
    """
    from kernel_helpers.course import progress
    from kernel_helpers.course.catalog import load_course
    step = load_course().step(step_id)
    result = run_check(step.check, answer, timeout=timeout, hint=step.hints[0])
    progress.record(step, result.passed)
    print(result.line().replace(result.check_id, f"{step.id} ({step.points} pts)", 1))
    if not result.passed:
        raise CheckFailed(step.id, result.message, result.hint or step.hints[0]) from None
