"""A yes/no question before something that throws work away, and the reset it guards."""

from __future__ import annotations

from typing import Callable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Footer, Static

from kernel_helpers.course import Lab, Step
from tui import lessons
from tui.boundary import notifying


class ConfirmScreen(ModalScreen[bool]):
    """Dismisses with True on `y`, False on `n` or Escape."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question)
        yield Footer()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def confirm_reset(node: Widget | Screen, lab: Lab, step: Step, then: Callable[[], object]) -> None:
    """Ask, then reset `step` (progress and exercise cells) in a worker and call `then`."""
    def answered(yes: bool | None) -> None:
        if yes:
            node.run_worker(_reset(node, lab, step, then), group="reset", exclusive=True)

    node.app.push_screen(ConfirmScreen(
        f"Reset “{step.title}”? Its progress is forgotten and its exercise cells in "
        f"{lab.notebook.name} go back to the stub.\n\ny: reset   n: keep"), answered)


@notifying
async def _reset(node: Widget | Screen, lab: Lab, step: Step, then: Callable[[], object]) -> None:
    restored = lessons.reset(lab, step)
    node.notify(f"Reset {step.id}: {restored} exercise cell(s) restored.", timeout=4)
    then()
