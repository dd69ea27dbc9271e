"""The live output of a step's real operation, streamed line by line from a child process.

Taught in: every lab (the `r` key of a lesson step).
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import RichLog
from textual.worker import Worker

from tui.boundary import notifying
from tui.child import running


class StepOutput(RichLog):
    """A RichLog that runs one command at a time and streams its stdout and stderr into itself."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(wrap=True, markup=False, highlight=False, max_lines=2000, id=id)

    def stream(self, argv: list[str], title: str, labs_root: Path) -> Worker[int | None]:
        """Start `argv` (a run still going is stopped first); the worker's result is the exit code."""
        return self.run_worker(self._stream(argv, title, labs_root), group="step-output",
                               exclusive=True, name=f"run {title}")

    @notifying
    async def _stream(self, argv: list[str], title: str, labs_root: Path) -> int:
        self.clear()  # each run starts on a clean log, as rustlings clears the screen
        self.write(f"$ {title}")
        async with running(argv, labs_root) as proc:
            assert proc.stdout is not None
            while line := await proc.stdout.readline():
                self.write(line.decode(errors="replace").rstrip("\n"))
            code = await proc.wait()
        self.write(f"[exit status {code}]" if code else "[done]")
        return code
