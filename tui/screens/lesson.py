"""One lab as a step-by-step walkthrough: lesson text, live output, check verdict, progress.

Keys follow rustlings: `e` edits the exercise in $EDITOR, `c` checks, `n` moves on only once the check passed,
`h` shows hints in tiers, `s` the reference solution once the step is done,
`x` resets, `l` lists the labs. Watch mode re-checks whenever the learner
saves the notebook (polled, so it also works where inotify does not).
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Footer, Header, Markdown

from kernel_helpers.course import Course, Lab, Step, progress
from tui import lessons
from tui.boundary import notifying
from tui.child import python_argv
from kernel_helpers.course import workfile
from tui.editor import edit_file_at, edit_in_editor
from tui.screens.confirm import confirm_reset
from tui.screens.hint import HintScreen, solution_screen
from tui.widgets.check_panel import CheckPanel
from tui.widgets.progress_footer import ProgressFooter
from tui.widgets.step_output import StepOutput

WATCH_INTERVAL_S = 1.0
"""How often watch mode looks at the notebook's mtime (rustlings' polling fallback, #417)."""


class LessonScreen(Screen[None]):
    """The steps of one lab, one at a time."""

    BINDINGS = [
        Binding("e", "edit", "Edit"),
        Binding("r", "run", "Run"),
        Binding("c", "check", "Check"),
        Binding("h", "hint", "Hint"),
        Binding("n", "next", "Next"),
        Binding("p", "previous", "Prev"),
        Binding("s", "solution", "Solution"),
        Binding("o", "toggle_output", "Output"),
        Binding("w", "toggle_watch", "Watch", show=False),  # its state and key are in the progress line
        Binding("x", "reset", "Reset"),
        Binding("l,escape", "list", "List"),
    ]

    ALLOW_IN_MAXIMIZED_VIEW = "CheckPanel, ProgressFooter, Footer"

    index: reactive[int] = reactive(0, init=False)
    done: reactive[bool] = reactive(False, bindings=True)
    runnable: reactive[bool] = reactive(False, bindings=True)
    """The step has a demo cell (its real operation) for `r` to run."""

    def __init__(self, course: Course, labs_root: Path, lab: Lab, step: Step) -> None:
        super().__init__()
        self.course = course
        self.labs_root = labs_root
        """Told to the children that run checks and demos, so they load the same course."""
        self.lab = lab
        self.watching = True
        """Watch mode: re-check whenever the notebook file changes."""
        self.set_reactive(LessonScreen.index, lab.steps.index(step))
        self._mtime = self._notebook_mtime()

    @property
    def step(self) -> Step:
        return self.lab.steps[self.index]

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="lesson"):
            yield Markdown(id="text")
        yield StepOutput(id="output")
        yield CheckPanel(id="verdict")
        yield ProgressFooter()
        yield Footer(compact=True)  # eleven keys in 80 columns

    def on_mount(self) -> None:
        self.query_one("#output").border_title = "output"
        self.set_interval(WATCH_INTERVAL_S, self._poll_notebook)
        self._show_step()

    def watch_index(self) -> None:
        self._show_step()

    @notifying
    def _show_step(self) -> None:
        """Show the current step's lesson text and stored state; nothing runs until a key."""
        step = self.step
        output, verdict = self.query_one(StepOutput), self.query_one(CheckPanel)
        self.workers.cancel_node(output)  # the previous step's run or check stops with it
        self.workers.cancel_node(verdict)
        self.done = progress.get(step.id).done
        self.runnable = lessons.has_demo(self.lab, step)
        self.sub_title = f"{self.lab.title} · step {self.index + 1}/{len(self.lab.steps)}"
        self.query_one(Markdown).update(self._markdown(step))
        self.query_one("#lesson").scroll_home(animate=False)
        output.clear()
        verdict.clear(
            "✓ done earlier: n for the next step, s for the solution" if self.done
            else f"Write `{step.slot}` in {workfile.default_path()} (e here opens it at the slot, "
                 "or the lab's notebook); each save is checked." if step.slot
            else f"Write `{step.answer}` (e here, or {self.lab.notebook.name} in JupyterLab); "
                 "each save is checked.")
        self._update_footer()

    def _markdown(self, step: Step) -> str:
        # The notebook's own headings open the text; the first step follows the lab's
        # introduction ("The idea"), as in the notebook.
        text = lessons.step_text(self.lab, step) or f"## {step.title}"
        return f"{lessons.intro_text(self.lab)}\n\n{text}" if self.index == 0 else text

    def _update_footer(self) -> None:
        states = progress.summary(self.course)
        done = sum(states[s.id].done for s in self.lab.steps)
        mark = "✓" if self.done else "·"
        self.query_one(ProgressFooter).show(
            f"{mark} {self.index + 1}/{len(self.lab.steps)} {self.step.title}", done,
            len(self.lab.steps), "w: watching" if self.watching else "w: watch off")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # None greys the key out in the footer: visible, but not yet available.
        if action in ("next", "solution"):
            return True if self.done else None
        if action == "run":
            return True if self.runnable else None
        if action == "previous":
            return True if self.index > 0 else None
        return True

    def action_edit(self) -> None:
        """Edit the step's exercise cells in $EDITOR (rustlings opens your editor too)."""
        self._edit(self.step)

    @notifying
    def _edit(self, step: Step) -> None:
        if step.slot:  # the runtime file itself, at the slot: the one copy of the learner's code
            workfile.init()
            edit_file_at(self.app, workfile.default_path(), workfile.slot_line(step.slot))
            return  # watch mode sees the file change and checks it
        text = lessons.exercise_file(self.lab, step)
        if not text:
            self.notify("This step has no exercise cell to edit.", timeout=4)
            return
        edited = edit_in_editor(self.app, text, f"{step.answer}.py")
        if lessons.save_exercise_file(self.lab, edited):
            self.notify(f"Saved to {self.lab.notebook.name}.", timeout=3)  # watch mode checks it

    def action_run(self) -> None:
        self.query_one(StepOutput).stream(python_argv("tui.run_demo", self.step.id),
                                          f"run the demo of {self.step.id}", self.labs_root)

    def action_check(self) -> None:
        output = self.query_one(StepOutput)
        self.query_one(CheckPanel).run_check(self.step.id, self.labs_root,
                                             lambda line: output.write(Text.from_ansi(line)))

    @on(CheckPanel.Checked)
    def _checked(self, event: CheckPanel.Checked) -> None:
        if event.step_id != self.step.id:
            return
        self.done = progress.get(self.step.id).done
        self._update_footer()
        if event.result.passed:
            last = self.index == len(self.lab.steps) - 1
            self.notify("Lab complete: l for the list of labs." if last
                        else "Passed: n for the next step.", timeout=4)

    def action_next(self) -> None:
        if self.index < len(self.lab.steps) - 1:
            self.index += 1
        else:
            self.action_list()

    def action_previous(self) -> None:
        self.index = max(0, self.index - 1)

    def action_hint(self) -> None:
        step = self.step
        seen = progress.get(step.id).hints_seen

        def remember(tiers: int | None) -> None:
            if tiers and tiers > seen:
                progress.hint_seen(step, tiers)

        self.app.push_screen(HintScreen(f"Hints: {step.title}", step.hints, max(seen, 1)), remember)

    def action_solution(self) -> None:
        self.run_worker(self._open_solution(self.step), group="solution", exclusive=True)

    @notifying
    async def _open_solution(self, step: Step) -> None:
        code = lessons.solution_code(self.lab, step)
        await self.app.push_screen(solution_screen(f"Reference solution: {step.title}", code))

    def action_toggle_watch(self) -> None:
        self.watching = not self.watching
        self._mtime = self._notebook_mtime()
        self._update_footer()
        self.notify("Watch on: saving the notebook re-runs the check." if self.watching
                    else "Watch off: c checks by hand.", timeout=3)

    def action_reset(self) -> None:
        confirm_reset(self, self.lab, self.step, self._after_reset)

    def _after_reset(self) -> None:
        self._mtime = self._notebook_mtime()
        self._show_step()

    def action_toggle_output(self) -> None:
        """Give the output the whole screen (80x24 leaves it four lines), and back."""
        if self.maximized is None:
            self.maximize(self.query_one(StepOutput), container=False)
        else:
            self.minimize()

    def action_list(self) -> None:
        if self.maximized is not None:  # Escape first leaves the full-screen output
            self.minimize()
            return
        self.dismiss()

    def _notebook_mtime(self) -> float:
        """The newest of the notebook's and (for runtime steps) myruntime.py's modification times."""
        paths = [self.lab.notebook] + ([workfile.default_path()] if self.step.slot else [])
        times = []
        for path in paths:
            try:
                times.append(path.stat().st_mtime)
            except FileNotFoundError:
                times.append(0.0)
        return max(times)

    def _poll_notebook(self) -> None:
        mtime, before = self._notebook_mtime(), self._mtime
        self._mtime = mtime
        if self.watching and mtime != before:
            self.action_check()
