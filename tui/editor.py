"""Hand the terminal to the learner's editor and take it back (App.suspend), for ssh-only learners."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from textual.app import App

from kernel_helpers.errors import NotFound


def editor_argv() -> list[str]:
    """$VISUAL, then $EDITOR, then the first of nano and vi that is installed."""
    for name in ("VISUAL", "EDITOR"):
        if os.environ.get(name, "").strip():
            return shlex.split(os.environ[name])
    for fallback in ("nano", "vi"):
        if shutil.which(fallback):
            return [fallback]
    raise NotFound("editor", "no $EDITOR is set and neither nano nor vi is installed",
                   "set one, e.g. `export EDITOR=nano`, and start labkit again")


def edit_in_editor(app: App[object], text: str, filename: str) -> str:
    """Open `text` as `filename` in the editor, with the app suspended; return what was saved."""
    argv = editor_argv()
    if not shutil.which(argv[0]):
        raise NotFound(f"editor '{argv[0]}'", "is not installed",
                       "set $EDITOR to an editor you have, e.g. `export EDITOR=nano`")
    with tempfile.TemporaryDirectory(prefix="labkit-edit-") as tmp:
        path = Path(tmp) / filename
        path.write_text(text, encoding="utf-8")
        with app.suspend():
            subprocess.run([*argv, str(path)], check=False)
        return path.read_text(encoding="utf-8")


def edit_file_at(app: App[object], path: Path, line: int) -> None:
    """Open `path` itself in the editor at `line` (``+LINE``: vi, vim, nano, emacs, micro)."""
    argv = editor_argv()
    if not shutil.which(argv[0]):
        raise NotFound(f"editor '{argv[0]}'", "is not installed",
                       "set $EDITOR to an editor you have, e.g. `export EDITOR=nano`")
    with app.suspend():
        subprocess.run([*argv, f"+{line}", str(path)], check=False)
