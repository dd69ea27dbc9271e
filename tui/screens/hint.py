"""Modal views: a step's tiered hints, and texts to read (the solution, welcome, the end)."""

from __future__ import annotations

from rich.console import RenderableType
from rich.syntax import Syntax
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Static


class HintScreen(ModalScreen[int]):
    """Hints in tiers (a nudge, then the syscall, then where to read): `h` reveals the next.

    Dismisses with how many tiers were shown, so the lesson opens at the same tier next time.
    """

    BINDINGS = [Binding("h", "more", "More hint"), Binding("escape,q", "close", "Close")]

    def __init__(self, title: str, hints: tuple[str, ...], shown: int = 1) -> None:
        super().__init__()
        self.hints = hints
        self.shown = max(1, min(shown, len(hints)))
        self.title_text = title

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            yield Static(id="hints")
        yield Footer()

    def on_mount(self) -> None:
        self._render_hints()

    def _render_hints(self) -> None:
        lines = [f"{n}. {hint}" for n, hint in enumerate(self.hints[:self.shown], 1)]
        if self.shown < len(self.hints):
            lines.append(f"(h: hint {self.shown + 1} of {len(self.hints)})")
        self.query_one("#hints", Static).update("\n\n".join(lines))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "more":
            return None if self.shown >= len(self.hints) else True
        return True

    def action_more(self) -> None:
        self.shown += 1
        self._render_hints()
        self.refresh_bindings()

    def action_close(self) -> None:
        self.dismiss(self.shown)


class TextScreen(ModalScreen[None]):
    """A text to read and close: the reference solution once a step is done (rustlings),
    the course's welcome on a first start, its closing words at the end."""

    BINDINGS = [Binding("escape,q,s,enter", "dismiss", "Close")]

    def __init__(self, title: str, body: RenderableType) -> None:
        super().__init__()
        self.title_text = title
        self.body = body

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static(self.title_text, classes="dialog-title")
            yield Static(self.body, id="body")
        yield Footer()


def solution_screen(title: str, source: str) -> TextScreen:
    """The reference answer, highlighted as Python."""
    return TextScreen(title, Syntax(source, "python", theme="ansi_dark", word_wrap=True))
