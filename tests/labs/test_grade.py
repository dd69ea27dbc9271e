"""`labkit course grade`: correct, wrong, tampered, dying and hanging submissions, graded on the real kernel."""

from __future__ import annotations

import csv
from pathlib import Path

import nbformat
import pytest

from kernel_helpers.course import build, load_course
from kernel_helpers.course.grade import grade
from kernel_helpers.course.notebook_text import labkit_meta
from kernel_helpers.testing import labkit

LAB = load_course().lab("02")
WRONG_HOSTNAME = '''def set_hostname_in_new_uts(name):
    kernel.sethostname(name)  # forgets unshare: the check's own uts namespace changes
'''


def _submission(tmp_path: Path, variant: str, edit=None) -> Path:  # type: ignore[no-untyped-def]
    nb = build.build(LAB.source, variant)
    if edit:
        edit(nb)
    path = tmp_path / variant / LAB.notebook.name
    path.parent.mkdir(exist_ok=True)
    nbformat.write(nb, str(path))
    return path


def _cells(nb: nbformat.NotebookNode, kind: str) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if labkit_meta(c).get("kind") == kind]


def _statuses(path: Path, **options: float) -> dict[str, tuple[str, int]]:
    return {s.step: (s.status, s.points) for s in grade(path, **options)}


@pytest.fixture(autouse=True)
def _own_progress(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABKIT_PROGRESS", str(tmp_path / "progress.json"))


def test_correct_submission_scores_full_points(root: None, tmp_path: Path) -> None:
    path = _submission(tmp_path, "solution")
    book = tmp_path / "book.csv"
    result = labkit("course", "grade", str(path), "--csv", str(book), "--cell-timeout", "60")
    assert result.returncode == 0, result.stderr
    assert f"{path.name}  total 2/2" in result.stdout
    rows = list(csv.DictReader(book.open()))
    assert [(r["step"], r["status"], r["points"]) for r in rows] == [
        ("uts.hostname", "pass", "1"), ("ipc.queue", "pass", "1")]


def test_wrong_answer_scores_zero_for_that_step_only(root: None, tmp_path: Path) -> None:
    def wrong(nb: nbformat.NotebookNode) -> None:
        _cells(nb, "exercise")[0].source = WRONG_HOSTNAME
    assert _statuses(_submission(tmp_path, "solution", wrong)) == {
        "uts.hostname": ("fail", 0), "ipc.queue": ("pass", 1)}


def test_tampered_submission_gets_the_checks_back(root: None, tmp_path: Path) -> None:
    """Stub answers, check cells replaced or deleted, verify redefined: no points."""
    def tamper(nb: nbformat.NotebookNode) -> None:
        first, second = _cells(nb, "check")
        first.source = 'print("PASS uts.hostname")'
        nb.cells.remove(second)
        _cells(nb, "exercise")[1].source = (
            "def verify(*args, **kwargs):\n    print('PASS')\n\n"
            "def queue_in_new_ipc(key):\n    return {key}\n")
        nb.metadata["labkit"]["variant"] = "solution"
    assert _statuses(_submission(tmp_path, "learner", tamper)) == {
        "uts.hostname": ("fail", 0), "ipc.queue": ("tampered", 0)}


def test_a_dead_kernel_fails_every_check_left(root: None, tmp_path: Path) -> None:
    def die(nb: nbformat.NotebookNode) -> None:
        _cells(nb, "exercise")[0].source += "\nimport os\nos._exit(1)\n"
    assert _statuses(_submission(tmp_path, "solution", die)) == {
        "uts.hostname": ("dead-kernel", 0), "ipc.queue": ("dead-kernel", 0)}


def test_a_cell_that_never_ends_times_out(root: None, tmp_path: Path) -> None:
    def hang(nb: nbformat.NotebookNode) -> None:
        _cells(nb, "exercise")[1].source += "\nwhile True:\n    pass\n"
    assert _statuses(_submission(tmp_path, "solution", hang), cell_timeout=3) == {
        "uts.hostname": ("pass", 1), "ipc.queue": ("timeout", 0)}
