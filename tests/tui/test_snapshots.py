"""Snapshots of the main screens at 80x24, the size of a plain `vagrant ssh` terminal.

Review a changed snapshot in the HTML report pytest prints, then accept it with
`pytest tests/tui/test_snapshots.py --snapshot-update`. Textual is pinned
(8.2.8) because snapshots change between releases.
"""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot

from tui.app import LabKitApp
from tui.widgets.check_panel import CheckPanel
from tui_helpers import started, until

SIZE = (80, 24)


async def _failed_check(pilot: Pilot) -> None:
    await started(pilot)
    await pilot.press("enter", "c")
    await until(pilot, lambda: pilot.app.screen.query_one(CheckPanel).has_class("-failed"))


def test_welcome_on_a_first_start(snap_compare, labs: Path) -> None:
    """A new learner's very first screen: the course's welcome (from course.toml) over the
    lab list, closed with Enter or Escape."""
    async def loaded(pilot: Pilot) -> None:
        from tui.screens.hint import TextScreen
        await until(pilot, lambda: isinstance(pilot.app.screen, TextScreen))

    assert snap_compare(LabKitApp(labs), terminal_size=SIZE, run_before=loaded)


def test_lab_list(snap_compare, labs: Path) -> None:
    """The lab list of a new learner: the labs, the next step open and highlighted,
    its one-line summary, the course progress bar at 0, and the keys in the footer."""
    assert snap_compare(LabKitApp(labs), terminal_size=SIZE, run_before=started)


def test_lesson_after_a_failed_check(snap_compare, labs: Path) -> None:
    """Step 1's text from the notebook (after the lab's introduction), an empty output box, the red verdict with its
    hint, the pinned progress line, and the footer with Next and Solution greyed out."""
    assert snap_compare(LabKitApp(labs), terminal_size=SIZE, run_before=_failed_check)


def test_hints_two_tiers(snap_compare, labs: Path) -> None:
    """`h` twice: the nudge and the syscall, and a note that one more tier is left."""
    async def hints(pilot: Pilot) -> None:
        await _failed_check(pilot)
        await pilot.press("h", "h")

    assert snap_compare(LabKitApp(labs), terminal_size=SIZE, run_before=hints)


def test_solution_after_passing(snap_compare, labs: Path) -> None:
    """Once the step passed (here: the learner's notebook holds the right answer),
    `s` shows the reference solution over the lesson."""
    from tui_helpers import write_answer
    write_answer(labs, "setup.my-namespaces")

    async def solution(pilot: Pilot) -> None:
        from tui.screens.hint import TextScreen
        await started(pilot)
        await pilot.press("enter", "c")
        await until(pilot, lambda: pilot.app.screen.done)  # set where "Passed" is notified
        pilot.app.clear_notifications()
        await pilot.press("s")
        await until(pilot, lambda: isinstance(pilot.app.screen, TextScreen))

    assert snap_compare(LabKitApp(labs), terminal_size=SIZE, run_before=solution)
