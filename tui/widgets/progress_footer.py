"""The pinned progress line (rustlings' bottom bar): where you are, how far, and watch state."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar


class ProgressFooter(Horizontal):
    """"Step 2/4 · Set the hostname  ████░░░░ 1/4 done · watching" above the key footer."""

    def compose(self) -> ComposeResult:
        yield Label(id="where")
        yield ProgressBar(show_eta=False, show_percentage=False, id="bar")
        yield Label(id="count")

    def show(self, where: str, done: int, total: int, note: str = "") -> None:
        """Update every part at once, so the line never shows a half-updated state."""
        self.query_one("#where", Label).update(where)
        self.query_one("#bar", ProgressBar).update(total=max(total, 1), progress=done)
        self.query_one("#count", Label).update(f"{done}/{total} done" + (f" · {note}" if note else ""))
