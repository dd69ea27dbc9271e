"""Runs a step's check against the learner's notebook in a worker and shows pass/fail and the hint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from rich.text import Text
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker

from kernel_helpers.course.checks import CheckResult
from kernel_helpers.errors import LabkitError
from tui.boundary import notifying
from tui.check_step import MARKER
from tui.child import python_argv, running


class CheckPanel(Static):
    """The latest verdict: ✓ or ✗, the check's message and, on failure, the hint that fits it."""

    class Checked(Message):
        """Posted after every finished check, so the lesson can unlock "next"."""

        def __init__(self, step_id: str, result: CheckResult) -> None:
            self.step_id = step_id
            self.result = result
            super().__init__()

    def run_check(self, step_id: str, labs_root: Path,
                  echo: Callable[[str], object]) -> Worker[CheckResult | None]:
        """Check `step_id` now (a check still running for an older save is cancelled).

        Lines the learner's code prints go to `echo`.
        """
        self.set_classes("-running")
        self.update(Text(f"… checking {step_id}", style="italic"))
        return self.run_worker(self._check(step_id, labs_root, echo), exclusive=True,
                               group="check", name=f"check {step_id}")

    @notifying
    async def _check(self, step_id: str, labs_root: Path,
                     echo: Callable[[str], object]) -> CheckResult:
        verdict: dict = {}
        try:
            async with running(python_argv("tui.check_step", step_id), labs_root) as proc:
                assert proc.stdout is not None
                while raw := await proc.stdout.readline():
                    line = raw.decode(errors="replace").rstrip("\n")
                    if line.startswith(MARKER):
                        verdict = json.loads(line[len(MARKER):])
                    else:
                        echo(line)
                await proc.wait()
        finally:
            self.remove_class("-running")
        if "error" in verdict:
            self.clear()
            raise LabkitError(*verdict["error"])
        if "result" not in verdict:
            self.clear()
            raise LabkitError(f"check {step_id}", "the checker stopped without a verdict",
                              "run `labkit doctor`, then try again")
        result = CheckResult(**verdict["result"])
        self.show(step_id, result)
        return result

    def show(self, step_id: str, result: CheckResult) -> None:
        """Show a verdict and tell the lesson about it."""
        self.set_classes("-passed" if result.passed else "-failed")
        line = Text.assemble(("✓ " if result.passed else "✗ ", "bold"), result.message)
        if not result.passed and result.hint:
            line.append(f"\nhint: {result.hint}", style="italic")
        self.update(line)
        self.post_message(self.Checked(step_id, result))

    def clear(self, text: str = "") -> None:
        """Forget the last verdict (another step is shown, or the step was reset)."""
        self.set_classes("")
        self.update(text)
