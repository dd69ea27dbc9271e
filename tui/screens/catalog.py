"""The list of labs and their steps with done/pending marks (rustlings' `l` view).

Enter opens a lab at its first pending step, or a step directly ("continue
here"); `c` continues wherever the course is unfinished; `x` resets a step.
"""

from __future__ import annotations

from pathlib import Path

from rich.markdown import Markdown as RichMarkdown
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, Tree
from textual.widgets.tree import TreeNode

from kernel_helpers.course import Course, Lab, Step, progress
from tui.screens.confirm import confirm_reset
from tui.screens.hint import TextScreen
from tui.screens.lesson import LessonScreen
from tui.widgets.progress_footer import ProgressFooter

Node = Lab | Step


class CatalogScreen(Screen[None]):
    """Every lab with its progress; a lab expands into its steps."""

    BINDINGS = [
        Binding("enter", "open", "Open", priority=True),
        Binding("space", "toggle", "Steps", priority=True),  # over the tree's own, unnamed one
        Binding("c", "continue", "Continue"),
        Binding("x", "reset", "Reset step"),
        Binding("q", "app.quit", "Quit"),  # also bound app-wide, where the footer has no room
    ]

    def __init__(self, course: Course, labs_root: Path) -> None:
        super().__init__()
        self.course = course
        self.labs_root = labs_root

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tree[Node](self.course.title, id="labs")
        yield Static(id="summary")
        yield ProgressFooter()
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "labs"
        tree = self.query_one(Tree)
        tree.show_root = False
        tree.guide_depth = 2
        self.refresh_marks()
        tree.focus()
        if not any(p.done or p.attempts for p in progress.summary(self.course).values()):
            self.app.push_screen(TextScreen(self.course.title, RichMarkdown(self.course.welcome)))

    def on_screen_resume(self) -> None:
        self.refresh_marks()

    def refresh_marks(self) -> None:
        """Rebuild the labels from the progress file (the notebooks may have changed it).

        The first time, the lab with the next pending step is open at that step.
        """
        states = progress.summary(self.course)
        upcoming = progress.next_step(self.course)
        tree = self.query_one(Tree)
        if tree.root.children:
            expanded = {n.data.id for n in tree.root.children if n.is_expanded and n.data}
            cursor = tree.cursor_node.data.id if tree.cursor_node and tree.cursor_node.data else None
        else:
            expanded = {upcoming.lab_id} if upcoming else set()
            cursor = upcoming.id if upcoming else None
        tree.clear()
        for lab in self.course.labs:
            done = sum(states[s.id].done for s in lab.steps)
            mark = "✓" if lab.steps and done == len(lab.steps) else " "
            node = tree.root.add(f"{mark} {lab.number:02d} {lab.title}  [dim]{done}/{len(lab.steps)}[/]",
                                 data=lab, expand=lab.id in expanded)
            for step in lab.steps:
                node.add_leaf(("✓ " if states[step.id].done else "· ") + step.title, data=step)
        self.query_one(ProgressFooter).show(
            f"next: {upcoming.title}" if upcoming else "course complete",
            sum(p.done for p in states.values()), len(states))
        self._select(cursor)

    def _select(self, node_id: str | None) -> None:
        tree = self.query_one(Tree)
        for line in range(tree.last_line + 1):
            node = tree.get_node_at_line(line)
            if node is not None and node.data is not None and node.data.id == node_id:
                tree.move_cursor(node)
                break
        self._describe(tree.cursor_node)

    @on(Tree.NodeHighlighted)
    def _highlighted(self, event: Tree.NodeHighlighted[Node]) -> None:
        self._describe(event.node)
        self.refresh_bindings()

    def _describe(self, node: TreeNode[Node] | None) -> None:
        item = node.data if node else None
        text = " ".join(item.summary.split()) if isinstance(item, Lab) else (
            f"{item.title} · {item.points} pt(s) · you write `{item.answer}`" if item else "")
        self.query_one("#summary", Static).update(text)

    def action_open(self) -> None:
        node = self.query_one(Tree).cursor_node
        if node is None or node.data is None:
            return
        item = node.data
        if isinstance(item, Step):
            self._open(self.course.lab_of(item), item)
            return
        states = progress.summary(self.course)
        pending = [s for s in item.steps if not states[s.id].done]
        if item.steps:
            self._open(item, pending[0] if pending else item.steps[0])

    def action_toggle(self) -> None:
        """Show or hide a lab's steps (the tree's own space key, named in the footer)."""
        self.query_one(Tree).action_toggle_node()

    def action_continue(self) -> None:
        upcoming = progress.next_step(self.course)
        if upcoming is None:
            self.app.push_screen(TextScreen("Course complete", RichMarkdown(self.course.final)))
            return
        self._open(self.course.lab_of(upcoming), upcoming)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "reset":
            node = self.query_one(Tree).cursor_node
            return True if node is not None and isinstance(node.data, Step) else None
        return True

    def action_reset(self) -> None:
        step = self.query_one(Tree).cursor_node.data  # type: ignore[union-attr]
        confirm_reset(self, self.course.lab_of(step), step, self.refresh_marks)

    def _open(self, lab: Lab, step: Step) -> None:
        self.app.push_screen(LessonScreen(self.course, self.labs_root, lab, step))
