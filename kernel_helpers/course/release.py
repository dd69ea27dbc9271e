"""`labkit course release DIR`: the learners' tree, with no solution text in it.

The instructor's repository holds each lab's source (labs/NN_topic/NN_topic.py,
with every ``### BEGIN SOLUTION`` block), the tests and their wrong answers.
Learners get a different tree: the kit's code, the catalogue and the learner
build of every notebook, made fresh from the sources. It is a complete kit on
its own (README quick start, Vagrantfile, vagrant/provision.sh), so learners
clone or receive it and never see the source.

The reference runtime the harness swaps in for unsolved slots (`REFERENCE`) is
shipped only as bytecode (``.pyc`` with docstrings stripped): the harness can
import it, a learner cannot casually open it. That is *not* secrecy: a
determined learner can disassemble bytecode (``python -m dis``) or decompile
it. It removes the one-double-click solution, no more. The release refuses to
ship any other file holding a solution marker line.

Taught in: lab 00 (the instructor's side).
"""

from __future__ import annotations

import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

from kernel_helpers.course.build import build, render
from kernel_helpers.course.catalog import Course, load_course
from kernel_helpers.errors import InvalidValue

KIT_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("kernel_helpers", "tui", "labs", "docs", "vagrant", "Vagrantfile", "README.md",
           "pyproject.toml", ".gitignore")
"""What a learner's tree holds, relative to the kit's root; tests, bench and CI stay behind."""

LEFT_OUT = ("*/__pycache__/*", "*.pyc", "*.pyo", ".ipynb_checkpoints/*", "*/.ipynb_checkpoints/*",
            "labs/STYLE.md", "labs/*/*.py", "labs/*/*.ipynb")
"""Never copied: caches, the authoring guide (it shows the markers), the lab sources, and the
committed notebooks (every notebook is rebuilt from its source instead)."""

REFERENCE = ("kernel_helpers/learn/reference*",)
"""The reference runtime and its stand-ins (issue 13): shipped as bytecode only."""

MARKER = "RELEASE.json"
"""Written at the top of a release: what made it, and what was held back."""

_SOLUTION_LINE = re.compile(r"^\s*#+\s*(BEGIN|END) SOLUTION\s*$", re.M)


def _matches(rel: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch(rel, p) or fnmatch(rel, p + "/*") for p in patterns)


def _files(root: Path) -> list[str]:
    """The shipped part of the kit, as paths relative to `root`, in a stable order."""
    found: list[str] = []
    for top in SHIPPED:
        path = root / top
        if path.is_file():
            found.append(top)
        elif path.is_dir():
            found += sorted(str(p.relative_to(root)) for p in path.rglob("*") if p.is_file())
    return [rel for rel in found if not _matches(rel, LEFT_OUT)]


def _bytecode(src: Path, dest: Path, rel: str) -> None:
    """Compile one reference module to a sourceless .pyc at the module's own place."""
    py_compile.compile(str(src), cfile=str(dest.with_suffix(".pyc")), dfile=rel,
                       doraise=True, optimize=2)


def _copy(root: Path, rel: str, dest: Path) -> str:
    """Copy one file into the release; returns how it was shipped."""
    src, out = root / rel, dest / rel
    out.parent.mkdir(parents=True, exist_ok=True)
    if _matches(rel, REFERENCE):
        if rel.endswith(".py"):
            _bytecode(src, out, rel)
            return "bytecode"
        return "left out"  # data next to the reference (e.g. a source template) stays behind
    if src.suffix in (".py", ".md", ".toml", ".sh", ".txt") or src.name == "Vagrantfile":
        text = src.read_text(encoding="utf-8", errors="replace")
        if _SOLUTION_LINE.search(text):
            raise InvalidValue(f"kit file '{rel}'", "holds a solution marker line",
                               "keep solutions in the lab sources or the reference module "
                               f"({', '.join(REFERENCE)}) only")
    shutil.copy2(src, out)
    return "copied"


def _notebooks(course: Course, root: Path, dest: Path) -> list[str]:
    written = []
    for lab in course.labs:
        rel = lab.notebook.relative_to(root)
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render(build(lab.source, "learner")), encoding="utf-8")
        written.append(str(rel))
    return written


def _commit(root: Path) -> str:
    try:
        return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10).stdout.strip()
    except OSError:
        return ""


def release(dest: Path, root: Path = KIT_ROOT) -> dict[str, list[str]]:
    """Write the learners' tree to `dest` (replacing an earlier release there); returns what went where.

    All or nothing: the tree is built next to `dest` and renamed into place.
    """
    dest = dest.resolve()
    if dest == root or root in dest.parents:
        raise InvalidValue(f"release folder '{dest}'", "is inside the kit's own source",
                           "choose a folder outside it, e.g. ../labkit-course")
    if dest.exists() and any(dest.iterdir()) and not (dest / MARKER).exists():
        raise InvalidValue(f"release folder '{dest}'", "is not empty and is no earlier release",
                           "give an empty or new folder")
    course = load_course(root / "labs")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = dest.parent / f".{dest.name}.new"
    shutil.rmtree(work, ignore_errors=True)
    shipped: dict[str, list[str]] = {"copied": [], "bytecode": [], "left out": []}
    try:
        for rel in _files(root):
            shipped[_copy(root, rel, work)].append(rel)
        shipped["notebooks"] = _notebooks(course, root, work)
        shipped["held back"] = [str(lab.source.relative_to(root)) for lab in course.labs]
        (work / MARKER).write_text(json.dumps(
            {"made_by": "labkit course release", "commit": _commit(root),
             "python": f"{sys.version_info.major}.{sys.version_info.minor}",
             "bytecode_only": shipped["bytecode"], "held_back": shipped["held back"]},
            indent=1) + "\n", encoding="utf-8")
        if dest.exists():
            old = dest.parent / f".{dest.name}.old"
            shutil.rmtree(old, ignore_errors=True)
            os.rename(dest, old)
            os.rename(work, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(work, dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return shipped
