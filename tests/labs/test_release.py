"""`labkit course release`: the learners' tree holds no solution text, and its notebooks still work.

The grep is line by line: every line inside a ``### BEGIN SOLUTION`` block of
every lab source must be absent from every file of the release, unless that
same line is already in the same kit file of the instructor's tree (kit code
such as ``pid = os.fork()`` is not a solution) or, for the labs' files, in the
lesson text outside every solution block (a demo cell's ``for line in f:``). The release's notebooks then
run under nbval as a learner's would: every check fails, everything else runs.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_helpers.course import load_course
from kernel_helpers.course.release import KIT_ROOT, MARKER, release
from kernel_helpers.errors import LabkitError
from kernel_helpers.testing import labkit
from test_notebooks import CHECK_CELLS, _nbval

COURSE = load_course()
_BLOCK = re.compile(r"^\s*### BEGIN SOLUTION\s*\n(.*?)^\s*### END SOLUTION\s*$", re.M | re.S)


def _solution_blocks() -> list[tuple[str, list[str]]]:
    """(lab source, [body lines, stripped]) for every solution block of every lab."""
    blocks = []
    for lab in COURSE.labs:
        for body in _BLOCK.findall(lab.source.read_text(encoding="utf-8")):
            lines = [line.strip() for line in body.splitlines() if line.strip()]
            blocks.append((lab.source.name, lines))
    return blocks


def _reference_slots() -> list[tuple[str, list[str]]]:
    """The runtime labs' answers: every slot of the reference runtime (shipped as bytecode only)."""
    from kernel_helpers.course.standins import reference_slot
    return [("kernel_helpers/learn/reference.py",
             [line.strip() for line in reference_slot(slot.name).splitlines()
              if line.strip() and not line.strip().startswith(('"""', "def "))])
            for slot in COURSE.slots]


def _lesson_text() -> str:
    """Every lab source with its solution blocks cut out: what learners are meant to read."""
    return "\n".join(_BLOCK.sub("", lab.source.read_text(encoding="utf-8")) for lab in COURSE.labs)


def _text(path: Path) -> str:
    """A file's text as a reader sees it; a notebook's cells joined as plain source."""
    raw = path.read_bytes().decode("utf-8", errors="replace")
    if path.suffix == ".ipynb":
        cells = json.loads(raw)["cells"]
        return "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                         for c in cells)
    return raw


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("release") / "labkit-course"
    result = labkit("course", "release", str(dest), timeout=300)
    assert result.returncode == 0, result.stderr
    assert "12 learner notebooks" in result.stdout
    return dest


def test_no_solution_line_anywhere_in_the_release(tree: Path) -> None:
    blocks = _solution_blocks()
    assert len(blocks) >= len([s for s in COURSE.steps if not s.slot]), \
        "every notebook-answer step has at least one solution block"
    blocks += _reference_slots()  # the runtime steps' answers
    files = [p for p in tree.rglob("*") if p.is_file()]
    texts = {p: _text(p) for p in files}
    lesson = _lesson_text()
    leaks = []
    for source, lines in blocks:
        for line in lines:
            for path, text in texts.items():
                rel = path.relative_to(tree)
                original = KIT_ROOT / rel
                if path.suffix == ".ipynb":  # built here: the lesson itself may use the line
                    known = line in lesson
                else:  # kit code, or the catalogue's hints, with the line are no solution
                    known = original.is_file() and line in original.read_text(
                        encoding="utf-8", errors="replace")
                if line in text and not known:
                    leaks.append(f"{source}: {line!r} in {rel}")
    assert leaks == []
    markers = [p for p, text in texts.items() if re.search(r"^\s*### BEGIN SOLUTION\s*$", text, re.M)]
    assert markers == []


def test_the_release_holds_no_lab_source_and_says_what_it_held_back(tree: Path) -> None:
    for lab in COURSE.labs:
        folder = tree / "labs" / lab.folder.name
        assert sorted(p.name for p in folder.iterdir()) == [lab.notebook.name]
    assert not (tree / "tests").exists() and not (tree / "labs" / "STYLE.md").exists()
    record = json.loads((tree / MARKER).read_text())
    assert len(record["held_back"]) == len(COURSE.labs)
    assert (tree / "vagrant" / "provision.sh").is_file() and (tree / "Vagrantfile").is_file()


def test_reference_runtime_ships_as_bytecode_only(tmp_path: Path) -> None:
    """A reference module under the REFERENCE pattern is importable, but not as plain text."""
    root = tmp_path / "kit"
    for rel in ("labs", "kernel_helpers/learn"):
        (root / rel).mkdir(parents=True)
    (root / "labs" / "course.toml").write_text(
        'format_version = 1\ntitle = "t"\nwelcome = "w"\nfinal = "f"\n')
    for pkg in ("kernel_helpers", "kernel_helpers/learn"):
        (root / pkg / "__init__.py").write_text("")
    secret = "return sorted(os.listdir(f'/proc/{pid}/task'))  # the reference's own line"
    (root / "kernel_helpers/learn/reference.py").write_text(
        f'"""The reference runtime."""\nimport os\n\ndef threads(pid):\n    {secret}\n')
    dest = tmp_path / "out"
    shipped = release(dest, root)
    assert shipped["bytecode"] == ["kernel_helpers/learn/reference.py"]
    assert not (dest / "kernel_helpers/learn/reference.py").exists()
    pyc = dest / "kernel_helpers/learn/reference.pyc"
    assert secret.encode() not in pyc.read_bytes() and b"The reference runtime" not in pyc.read_bytes()
    probe = subprocess.run([sys.executable, "-c", "import os\nfrom kernel_helpers.learn import reference\n"
                            "print(reference.threads(os.getpid()) != [])"],
                           cwd=dest, capture_output=True, text=True, timeout=30)
    assert probe.stdout.strip() == "True", probe.stderr
    (root / "kernel_helpers" / "leaky.py").write_text("def f():\n    ### BEGIN SOLUTION\n    pass\n")
    with pytest.raises(LabkitError, match="holds a solution marker line"):
        release(dest, root)
    assert (dest / MARKER).exists(), "a refused release leaves the earlier one in place"


def test_release_refuses_a_folder_that_is_not_a_release(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    result = labkit("course", "release", str(tmp_path))
    assert result.returncode != 0
    assert "is not empty and is no earlier release" in result.stderr + result.stdout
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_release_notebooks_work_as_a_learners(root: None, tree: Path) -> None:
    """nbval over the release itself, importing the release's own kit: checks fail, the rest runs."""
    folder = tree / "labs"
    outcomes = _nbval(folder, "release", PYTHONPATH=str(tree))
    assert outcomes["check"] == ["failed"] * CHECK_CELLS
    for kind in ("setup", "demo", "exercise", "slot"):
        assert set(outcomes[kind]) == {"passed"}, f"{kind} cells must run in the release"
