"""LabKitApp: the course for people working over ssh, one key per action, usable at 80x24.

Taught in: lab 00 (how the notebooks, the checks and the TUI fit together).
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Header, Static

from kernel_helpers.errors import LabkitError


class LabKitApp(App[None]):
    """The lab list first; Enter opens a lab as a walkthrough; progress is the notebooks' own."""

    CSS_PATH = "labkit.tcss"
    TITLE = "labkit"
    ENABLE_COMMAND_PALETTE = False  # every key is in the footer; the palette costs a footer slot
    BINDINGS = [Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
                Binding("q", "quit", "Quit", show=False)]  # shown on the lab list

    def __init__(self, labs_root: Path | None = None) -> None:
        super().__init__()
        self.labs_root = labs_root
        """Where labs/course.toml is; None for the kit's own labs."""

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Loading the course…", id="loading")

    def on_mount(self) -> None:
        # kernel_helpers.course imports nbformat (~0.8 s here): draw the first frame,
        # then load the course in a thread.
        self.call_after_refresh(self.run_worker, self._load, thread=True, name="load the course")

    def _load(self) -> None:
        from kernel_helpers.course import LABS_ROOT, load_course
        from tui.screens.catalog import CatalogScreen
        root = self.labs_root or LABS_ROOT
        try:
            course = load_course(root)
        except LabkitError as err:  # a broken course.toml: one sentence, then leave
            self.call_from_thread(self.exit, None, 2, f"labkit: {err}")
            return
        self.call_from_thread(self.push_screen, CatalogScreen(course, root))
