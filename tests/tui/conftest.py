"""Fixtures for the TUI tests: a private copy of a small course, its own progress file.

The course (fixtures/labs) is the tests' own, but its checks are the kit's real
ones and run against the real kernel, so the tests need root.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


FIXTURE_LABS = Path(__file__).parent / "fixtures" / "labs"


@pytest.fixture
def labs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, root: None) -> Path:
    """A copy of the fixture course the test may edit, and an empty progress file for it."""
    copy = tmp_path / "labs"
    shutil.copytree(FIXTURE_LABS, copy)
    monkeypatch.setenv("LABKIT_PROGRESS", str(tmp_path / "progress.json"))
    return copy
