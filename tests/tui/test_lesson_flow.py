"""The learner loop, driven headless with Pilot through a whole (small) lab on the real kernel.

Open the lab, run a step's real operation, fail the check, read the tiered
hints, fix the notebook (watch mode re-checks on save), pass, see the
solution, advance; then reset, progress shared with the notebook side, and
errors as one-sentence notifications.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from textual.widgets import Markdown, Static, Tree

from kernel_helpers.course import load_course, progress
from tui.app import LabKitApp
from tui.screens.catalog import CatalogScreen
from tui.screens.confirm import ConfirmScreen
from tui.screens.hint import HintScreen, TextScreen
from tui.screens.lesson import LessonScreen
from tui.widgets.check_panel import CheckPanel
from tui.widgets.step_output import StepOutput
from tui_helpers import exercise_source, notebook, started, until, write_answer

SIZE = (80, 24)


def verdict(app: LabKitApp) -> str:
    return str(app.screen.query_one(CheckPanel).render())


def output(app: LabKitApp) -> str:
    return "\n".join(line.text for line in app.screen.query_one(StepOutput).lines)


def lesson(app: LabKitApp) -> LessonScreen:
    assert isinstance(app.screen, LessonScreen), app.screen
    return app.screen


async def test_whole_lab(labs: Path) -> None:
    app = LabKitApp(labs)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        lab_node = app.screen.query_one(Tree).root.children[0]
        assert "0/2" in str(lab_node.label) and lab_node.is_expanded  # open at the next step
        await pilot.press("up", "space")  # space folds a lab's steps away
        assert not lab_node.is_expanded
        await pilot.press("enter")  # opens the lab at its next pending step
        assert lesson(app).step.id == "setup.my-namespaces"
        assert "/proc/self/ns" in app.screen.query_one(Markdown).source  # the notebook's own text

        # n is shown but greyed out until the check passes, and does nothing
        assert app.screen.check_action("next", ()) is None
        await pilot.press("n")
        assert lesson(app).step.id == "setup.my-namespaces"

        # r: the step's real operation, streamed: the uts namespace before and after unshare
        await pilot.press("r")
        await until(pilot, lambda: "[done]" in output(app))
        before, after = re.findall(r"uts:\[(\d+)\]", output(app))
        assert before != after

        # c: the stub fails, with the hint that fits the failure
        await pilot.press("c")
        await until(pilot, lambda: app.screen.query_one(CheckPanel).has_class("-failed"))
        assert "still the stub" in verdict(app) and "hint:" in verdict(app)

        # h: hints in tiers, one more per press, remembered in the shared progress file
        await pilot.press("h")
        assert isinstance(app.screen, HintScreen)
        shown = str(app.screen.query_one("#hints", Static).render())
        assert "1. Every namespace" in shown and "2." not in shown
        await pilot.press("h")
        assert "2. os.stat" in str(app.screen.query_one("#hints", Static).render())
        await pilot.press("escape")
        assert progress.get("setup.my-namespaces").hints_seen == 2

        # the solution stays locked until the step is done
        assert lesson(app).check_action("solution", ()) is None

        # a wrong answer fails on the real kernel, not just on the stub
        write_answer(labs, "setup.my-namespaces",
                     edit=lambda code: code.replace("st_ino", "st_dev"))
        await until(pilot, lambda: "wrong inode" in verdict(app))  # watch mode saw the save

        # the right answer passes; watch mode re-checks on save, no key needed
        write_answer(labs, "setup.my-namespaces")
        await until(pilot, lambda: app.screen.query_one(CheckPanel).has_class("-passed"))
        assert progress.get("setup.my-namespaces").done
        assert lesson(app).check_action("next", ()) is True

        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, TextScreen))
        assert "st_ino" in str(app.screen.body.code)
        await pilot.press("escape")

        await pilot.press("n")
        assert lesson(app).step.id == "uts.hostname"
        assert lesson(app).check_action("next", ()) is None
        write_answer(labs, "uts.hostname")
        await pilot.press("c")
        await until(pilot, lambda: app.screen.query_one(CheckPanel).has_class("-passed"))
        assert "nowhere else" in verdict(app)

        await pilot.press("n")  # past the last step: back to the list, all marked done
        assert isinstance(app.screen, CatalogScreen)
        assert "✓" in str(app.screen.query_one(Tree).root.children[0].label)
        assert all(p.done for p in progress.summary(load_course(labs)).values())
        await pilot.press("c")  # nothing left to continue: the course's closing words
        assert isinstance(app.screen, TextScreen)
        assert "You finished the TUI test course." in app.screen.body.markup


async def test_welcome_only_on_a_first_start(labs: Path) -> None:
    for first in (True, False):
        app = LabKitApp(labs)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: any(isinstance(s, CatalogScreen) for s in app.screen_stack))  # noqa: B023 - awaited now
            await pilot.pause()
            welcomed = isinstance(app.screen, TextScreen)
            assert welcomed == first
            if first:
                assert "Welcome to the TUI test course." in app.screen.body.markup
                await pilot.press("enter", "enter", "c")  # close it, open step 1, check once
                await until(pilot, lambda: app.screen.query_one(CheckPanel).has_class("-failed"))  # noqa: B023


async def test_progress_is_shared_with_the_notebook_side(labs: Path) -> None:
    """A step passed in JupyterLab (verify() in a check cell) shows as done; `c` continues after it."""
    course = load_course(labs)
    app = LabKitApp(labs)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        progress.record(course.step("setup.my-namespaces"), True)  # what verify() records
        await pilot.press("enter")
        await pilot.press("escape")  # back to the list, which re-reads the file
        assert "1/2" in str(app.screen.query_one(Tree).root.children[0].label)
        await pilot.press("c")
        assert lesson(app).step.id == "uts.hostname"
        await pilot.press("q")  # q quits from anywhere, as in rustlings
        await until(pilot, lambda: not app.is_running, timeout=5)


async def test_reset_restores_the_stub_and_forgets_progress(labs: Path) -> None:
    write_answer(labs, "setup.my-namespaces")
    app = LabKitApp(labs)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("enter", "c")
        await until(pilot, lambda: app.screen.query_one(CheckPanel).has_class("-passed"))
        await pilot.press("x")
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # keep: nothing changes
        assert progress.get("setup.my-namespaces").done
        await pilot.press("x", "y")
        await until(pilot, lambda: not progress.get("setup.my-namespaces").done)
        await until(pilot, lambda: "NotImplementedError" in exercise_source(labs, "setup.my-namespaces"))
        assert lesson(app).check_action("next", ()) is None


async def test_watch_off_waits_for_c(labs: Path) -> None:
    app = LabKitApp(labs)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("enter", "w")
        write_answer(labs, "setup.my-namespaces")
        await pilot.pause(2.5)  # more than two polls of the notebook
        assert not app.screen.query_one(CheckPanel).has_class("-passed")
        assert progress.get("setup.my-namespaces").attempts == 0
        await pilot.press("c")
        await until(pilot, lambda: app.screen.query_one(CheckPanel).has_class("-passed"))


async def test_reset_from_the_list(labs: Path) -> None:
    course = load_course(labs)
    progress.record(course.step("setup.my-namespaces"), True)
    app = LabKitApp(labs)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        tree = app.screen.query_one(Tree)
        tree.move_cursor(tree.root.children[0].children[0])  # the done step
        await pilot.press("x", "y")
        await until(pilot, lambda: not progress.get("setup.my-namespaces").done)
        await until(pilot, lambda: "0/2" in str(tree.root.children[0].label))


async def test_step_output_streams_and_the_app_stays_responsive(labs: Path) -> None:
    """While a step's operation runs (about 1.2 s), keys still answer at once; leaving the
    step stops it."""
    write_answer(labs, "uts.hostname")
    app = LabKitApp(labs)
    async with app.run_test(size=SIZE) as pilot:
        await started(pilot)
        await pilot.press("down", "enter")  # the second step, chosen in the list
        assert lesson(app).step.id == "uts.hostname"
        await pilot.press("r")
        await until(pilot, lambda: "inside: host-one" in output(app))
        assert "[done]" not in output(app)  # lines arrive while the child still runs
        pressed = time.monotonic()
        await pilot.press("h")
        assert isinstance(app.screen, HintScreen)
        latency = time.monotonic() - pressed
        await pilot.press("escape")
        await until(pilot, lambda: "[done]" in output(app))
        assert "inside: host-three" in output(app)
        assert latency < 0.3, f"a key took {latency:.2f}s while the step ran"

        await pilot.press("o")  # the output, full screen
        assert app.screen.maximized is app.screen.query_one(StepOutput)
        await pilot.press("escape")  # back to the lesson, not yet to the list
        assert lesson(app).maximized is None

        await pilot.press("r")
        await until(pilot, lambda: "inside: host-one" in output(app))
        assert _children_running("tui.run_demo")
        await pilot.press("escape")  # to the list, while the step runs
        await until(pilot, lambda: not _children_running("tui.run_demo"), timeout=5)


def _children_running(module: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except (FileNotFoundError, NotADirectoryError, ProcessLookupError, PermissionError):
            continue
        if module.encode() in cmdline and b"-m" in cmdline and (entry / "stat").read_text().split()[2] != "Z":
            found.append(int(entry.name))
    return found


async def test_errors_are_one_sentence_notifications(labs: Path) -> None:
    notebook(labs).unlink()  # e.g. the learner deleted the notebook
    app = LabKitApp(labs)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await started(pilot)
        await pilot.press("enter")
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert len(messages) == 1
        assert re.fullmatch(r"lab t1 notebook '.*t1_namespaces\.ipynb': does not exist\. Build "
                            r"it with the course tools, or pull the repository again\.", messages[0])
        assert "Traceback" not in messages[0]
        assert app.is_running
