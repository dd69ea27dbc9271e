"""`labkit course grade` on the real kernel: honest submissions, attacks and bad files.

Every attack is a learner's notebook of lab 00 (two notebook-answer steps, a few seconds each).
None may change a verdict or the gradebook, and nothing may be left on the
machine after grading: no process, no cgroup, no kit resource.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import nbformat
import pytest

from kernel_helpers.cgroups import detect_layout
from kernel_helpers.course import build, load_course
from kernel_helpers.course.grade import Row, grade_batch
from kernel_helpers.course.sandbox import SUFFIX
from kernel_helpers.course.notebook_text import labkit_meta
from kernel_helpers.course.submission import definitions, reaches_in

LAB = load_course().lab("00")
FIRST, SECOND = "setup.missing-features", "setup.my-namespaces"
CORRECT = {FIRST: ("pass", 1), SECOND: ("pass", 1)}
STUBS = {FIRST: ("fail", 0), SECOND: ("fail", 0)}
WRONG_FILTER = '''def missing_features(findings):
    return [finding.name for finding in findings]  # forgets to keep only the missing ones
'''


def _cells(nb: nbformat.NotebookNode, kind: str) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if labkit_meta(c).get("kind") == kind]


def _submission(folder: Path, variant: str,
                edit: Callable[[nbformat.NotebookNode], None] | None = None) -> Path:
    nb = build.build(LAB.source, variant)
    if edit:
        edit(nb)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LAB.notebook.name
    nbformat.write(nb, str(path))
    return path


def _verdicts(rows: list[Row]) -> dict[str, tuple[str, int]]:
    return {r.step: (r.status, r.points) for r in rows}


def _kit_cgroups() -> set[str]:
    layout = detect_layout()
    roots = [*layout.v1.values(), *([layout.v2_root] if layout.v2_root else [])]
    return {os.path.join(r, "labkit", e) for r in roots if os.path.isdir(os.path.join(r, "labkit"))
            for e in os.listdir(os.path.join(r, "labkit")) if e.startswith("lk") and e.endswith(SUFFIX)}


def _processes_with(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.fixture
def book(tmp_path: Path) -> Path:
    return tmp_path / "book.csv"


def _grade(paths: list[Path], book: Path, **options: float) -> list[Row]:
    """The notebooks' rows (these learners hand in no myruntime.py: a row says so, checked)."""
    rows = grade_batch(paths, book, book.parent / "reports", say=open(os.devnull, "w"), **options)
    assert _kit_cgroups() == set(), "the sandbox's cgroups must be gone"
    runtime = [r for r in rows if r.step == "myruntime.py"]
    assert [r.status for r in runtime] == ["missing"] * len(runtime)
    return [r for r in rows if r.step != "myruntime.py"]


def test_correct_and_stub_submissions(root: None, tmp_path: Path, book: Path) -> None:
    rows = _grade([_submission(tmp_path / "alice", "solution"),
                   _submission(tmp_path / "bob", "learner")], book)
    assert _verdicts([r for r in rows if r.learner == "alice"]) == CORRECT
    assert _verdicts([r for r in rows if r.learner == "bob"]) == STUBS
    table = [r for r in csv.DictReader(book.open()) if r["step"] != "myruntime.py"]
    assert [(r["learner"], r["step"], r["status"]) for r in table] == [
        ("alice", FIRST, "pass"), ("alice", SECOND, "pass"),
        ("bob", FIRST, "fail"), ("bob", SECOND, "fail")]
    assert "still the stub" in table[2]["reason"] and "hint:" in table[2]["reason"]
    report = (tmp_path / "reports" / "bob.md").read_text()
    assert "Total: 0/2" in report and "still the stub" in report


def test_wrong_answer_fails_that_step_only_and_says_why(root: None, tmp_path: Path,
                                                        book: Path) -> None:
    def wrong(nb: nbformat.NotebookNode) -> None:
        _cells(nb, "exercise")[0].source = WRONG_FILTER
    rows = _grade([_submission(tmp_path / "carol", "solution", wrong)], book)
    assert _verdicts(rows) == {FIRST: ("fail", 0), SECOND: ("pass", 1)}
    assert "missing features where the report has" in rows[0].reason


ATTACKS_ON_STUBS = {
    "verify through globals()": "globals()['verify'] = lambda *a, **k: print('PASS')\n",
    "patched run_in_child": ("import kernel_helpers.process\n"
                             "kernel_helpers.process.run_in_child = lambda fn, *a, **k: None\n"),
    "check registry replaced": ("from kernel_helpers.course import checks\n"
                                "checks._evaluate_check = lambda *a: None\n"),
    "dying kernel": "import os\nos._exit(0)\n",
    "hanging cell": "while True:\n    pass\n",
    "exec'd patch": "exec('import kernel_helpers.process as p; p.run_in_child = print')\n",
}
"""Added to each exercise cell of the *learner* build: a stub must still score nothing."""


@pytest.mark.parametrize("attack", sorted(ATTACKS_ON_STUBS))
def test_kernel_side_attacks_score_nothing(root: None, tmp_path: Path, book: Path,
                                           attack: str) -> None:
    def add(nb: nbformat.NotebookNode) -> None:
        for cell in _cells(nb, "exercise"):
            cell.source = ATTACKS_ON_STUBS[attack] + cell.source
        for cell in _cells(nb, "check"):
            cell.source = f"print('PASS {FIRST} (1 pts)')"
    rows = _grade([_submission(tmp_path / "mallory", "learner", add)], book)
    assert all(r.points == 0 and r.status in ("fail", "tampered") for r in rows), rows


def test_a_correct_answer_with_a_dying_or_hanging_cell_still_passes(root: None, tmp_path: Path,
                                                                    book: Path) -> None:
    """Top-level statements of the learner's are not run by the grader: only definitions."""
    def add(nb: nbformat.NotebookNode) -> None:
        first, second = _cells(nb, "exercise")
        first.source += "\nimport os\nos._exit(1)\n"
        second.source += "\nwhile True:\n    pass\n"
    assert _verdicts(_grade([_submission(tmp_path / "erin", "solution", add)], book)) == CORRECT


def test_an_answer_that_hangs_times_out_and_the_next_step_runs(root: None, tmp_path: Path,
                                                               book: Path) -> None:
    def hang(nb: nbformat.NotebookNode) -> None:
        _cells(nb, "exercise")[0].source = ("def missing_features(findings):\n"
                                            "    while True:\n        pass\n")
    rows = _grade([_submission(tmp_path / "frank", "solution", hang)], book, step_timeout=3)
    assert _verdicts(rows) == {FIRST: ("timeout", 0), SECOND: ("pass", 1)}


def _leaving(code: str) -> Callable[[nbformat.NotebookNode], None]:
    """A correct first answer that also runs `code` (after its real work) when the check calls it.

    The leftovers close the descriptors they inherit: one that kept the check's result pipe
    open would only make its own step time out, which is no gain for the learner.
    """
    def edit(nb: nbformat.NotebookNode) -> None:
        body = "".join(f"    {line}\n" for line in code.splitlines())
        _cells(nb, "exercise")[0].source = (
            "import os, subprocess\n"
            "def missing_features(findings):\n"
            "    missing = [finding.name for finding in findings if not finding.ok]\n"
            + body + "    return missing\n")
    return edit


def test_leftover_processes_cannot_touch_the_gradebook_and_die(root: None, tmp_path: Path,
                                                               book: Path) -> None:
    """A background writer, a setsid'd sleeper and a detached container: all gone after grading."""
    target = str(book)
    code = (f"subprocess.Popen(['sh', '-c', 'sleep 2; echo forged,row >> {target}; sleep 4711'],"
            " start_new_session=True)\n"
            "subprocess.Popen(['setsid', 'sleep', '4712'])\n"
            "if os.fork() == 0:\n    os.setsid()\n    os.closerange(3, 4096)\n"
            "    if os.fork() == 0:\n        os.execvp('sleep', ['sleep', '4713'])\n    os._exit(0)\n"
            "if os.fork() == 0:\n    os.closerange(3, 4096)\n"
            "    from kernel_helpers.runtime.detach import run_detached\n"
            "    from kernel_helpers.spec import ContainerSpec\n"
            "    from kernel_helpers.rootfs import busybox_rootfs\n"
            "    run_detached(ContainerSpec(('sleep', '4714'), rootfs=str(busybox_rootfs())), ())\n"
            "    os._exit(0)\n")
    rows = _grade([_submission(tmp_path / "grace", "solution", _leaving(code))], book)
    assert _verdicts(rows) == CORRECT
    time.sleep(4)  # the writer would have written by now, had it survived
    assert "forged" not in book.read_text()
    assert [r["status"] for r in csv.DictReader(book.open())] == ["pass", "pass"]
    for marker in ("4711", "4712", "4713", "4714"):
        assert _processes_with(f"sleep\0{marker}") == [], f"sleep {marker} survived grading"


def test_a_batch_with_bad_files_grades_everyone_else(root: None, tmp_path: Path,
                                                     book: Path) -> None:
    good = _submission(tmp_path / "heidi", "solution")
    (tmp_path / "ivan").mkdir()
    (tmp_path / "ivan" / LAB.notebook.name).symlink_to(tmp_path / "nowhere")  # unreadable
    (tmp_path / "judy").mkdir()
    (tmp_path / "judy" / "lab2-final.ipynb").write_text("{}")  # misnamed
    (tmp_path / "ken").mkdir()
    (tmp_path / "ken" / LAB.notebook.name).write_bytes(b"\x89PNG not a notebook")
    other = build.build(load_course().lab("01").source, "solution")
    (tmp_path / "leo").mkdir()
    nbformat.write(other, str(tmp_path / "leo" / LAB.notebook.name))  # lab 01 under lab 00's name
    stub = _submission(tmp_path / "mia", "learner")
    folders = [tmp_path / n for n in ("heidi", "ivan", "judy", "ken", "leo", "mia")]
    proc = subprocess.Popen([sys.executable, "-m", "kernel_helpers", "course", "grade",
                             *map(str, folders), "--csv", str(book)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert proc.poll() is None, "the first progress line must arrive while grading goes on"
    assert first.startswith("[1/") and "heidi" in first and "00-setup" in first, first
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    rows = {(r["learner"], r["step"]): r for r in csv.DictReader(book.open())}
    assert rows[("heidi", FIRST)]["status"] == "pass"
    assert rows[("mia", SECOND)]["status"] == "fail"
    assert rows[("ivan", "-")]["status"] == "unreadable"
    assert rows[("judy", "-")]["status"] == "misnamed"
    assert rows[("ken", "-")]["status"] == "not-a-notebook"
    assert rows[("leo", "-")]["status"] == "wrong-lab"
    assert f"not graded: {tmp_path / 'ivan' / LAB.notebook.name}: unreadable" in out
    assert good.exists() and stub.exists()


def test_the_screen_flags_reaching_into_the_checker() -> None:
    for code in ("import sys\ndef f():\n    sys.modules['x'] = 1\n",
                 "def f():\n    return globals()\n",
                 "def f():\n    __import__('kernel_helpers.process')\n",
                 "def f():\n    exec('print(1)')\n"):
        assert reaches_in(definitions(code)), code
    assert reaches_in(definitions("import os\ndef f(pid):\n    return os.getppid()\n")) == ""


NBVAL_CONFTEST = """
def pytest_collection_modifyitems(items):
    for item in items:
        source = getattr(item, "cell", {}).get("source", "")
        step = source.split('verify("', 1)[1].split('"', 1)[0] if 'verify("' in source else ""
        item.user_properties.append(("step", step))
"""
"""Tags each nbval item with the step its check cell verifies."""


def _nbval_verdicts(folder: Path) -> dict[str, str]:
    """pytest --nbval-lax over a learner's folder, as an instructor would: {step: pass|fail}."""
    import xml.etree.ElementTree as ET
    from kernel_helpers.course.release import KIT_ROOT
    (folder / "conftest.py").write_text(NBVAL_CONFTEST)
    junit = folder / "junit.xml"
    env = dict(os.environ, PYTHONPATH=str(KIT_ROOT), LABKIT_PROGRESS=str(folder / "p.json"))
    subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                    f"--junitxml={junit}", "--rootdir", str(folder), str(folder / LAB.notebook.name)],
                   capture_output=True, text=True, env=env, timeout=600)
    verdicts = {}
    for case in ET.parse(junit).iter("testcase"):
        step = next((p.get("value") for p in case.iter("property") if p.get("name") == "step"), "")
        if step:
            failed = case.find("failure") is not None or case.find("error") is not None
            verdicts[step] = "fail" if failed else "pass"
    return verdicts


def test_nbval_and_grade_agree(root: None, tmp_path: Path, book: Path) -> None:
    """The instructor's nbval run over a learner's notebook gives grade's verdicts."""
    def wrong(nb: nbformat.NotebookNode) -> None:
        _cells(nb, "exercise")[0].source = WRONG_FILTER
    for learner, edit in (("olga", None), ("pete", wrong)):
        path = _submission(tmp_path / learner, "solution", edit)
        graded = {r.step: r.status for r in _grade([path], book)}
        assert _nbval_verdicts(path.parent) == graded
    assert graded == {FIRST: "fail", SECOND: "pass"}
