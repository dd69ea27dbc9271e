"""Read learners' submissions as data: who, which lab, and the code of each answer.

Nothing here runs a learner's code. A submission is a notebook file; a folder
stands for one learner and holds their notebooks. The learner id is the folder's
name (``alice/01_processes_and_pid.ipynb`` is alice's). What a learner wrote is
taken only from their exercise cells, by the answer each defines, and only as
definitions: top-level imports, functions, classes and constant assignments
(a constant may call only builtin constructors). Any other statement (a call, a
loop, ``os._exit``) is dropped, so nothing of theirs runs when the answer is
loaded, only when a check calls it. The lab's
own setup cells come from the course source, never from the submission.

A learner's runtime, ``myruntime.py`` in the same folder, is graded apart
(`grade_runtime`): the steps on its slots are not read from the notebooks.

A file that cannot be graded (unreadable, not a notebook, misnamed, another
lab's notebook) becomes a `Submission` with a `problem`, never an exception.

Taught in: lab 00 (the instructor's side).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from kernel_helpers.course.build import build
from kernel_helpers.course.catalog import Course, Lab, Step
from kernel_helpers.course.notebook_text import labkit_meta
from kernel_helpers.course.workfile import FILE_NAME

REACHES_IN = ("globals", "locals", "vars", "__import__", "_getframe", "__globals__", "__builtins__",
              "builtins", "gc", "ctypes", "inspect", "importlib", "sys.modules", "__code__",
              "kernel_helpers.course", "kernel_helpers.checks", "kernel_helpers.process",
              "run_in_child", "verify", "run_check", "_REGISTRY", "exec", "eval", "compile")
"""Names an answer has no reason to touch: each reaches into the checker's own process."""

_KEPT = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_CONSTRUCTORS = frozenset({"frozenset", "set", "tuple", "list", "dict", "range", "int", "str",
                           "bytes", "float", "len", "sorted", "Path"})
"""The only calls a kept constant may make (``KEEP = frozenset({...})``)."""


@dataclass(frozen=True)
class Submission:
    """One notebook of one learner: the answers found, or why it cannot be graded."""

    learner: str
    path: Path
    lab: Lab | None
    answers: dict[str, str] = field(default_factory=dict)
    """{step id: the definitions (as source) that make the step's answer}."""
    notes: dict[str, str] = field(default_factory=dict)
    """{step id: "missing: ..." or "tampered: ..."}: steps scored 0 without running."""
    problem: str = ""
    """Why the whole file cannot be graded ('' if it can)."""
    status: str = ""
    """unreadable, not-a-notebook, misnamed or wrong-lab, with `problem`."""


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def reaches_in(tree: ast.AST) -> str:
    """The first name in `tree` that reaches into the checker, or ''."""
    for node in ast.walk(tree):
        names = [_dotted(node)] if isinstance(node, (ast.Name, ast.Attribute)) else []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            names = [node.value]
        for name in names:
            for bad in REACHES_IN:
                if name == bad or name.startswith(bad + ".") or (
                        isinstance(node, ast.Constant) and ("." in bad or "__" in bad)
                        and bad in name):
                    return bad
    return ""


def definitions(source: str) -> ast.Module:
    """Only the definitions of a cell: imports, functions, classes, constants."""
    tree = ast.parse(source)
    kept: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, _KEPT):
            kept.append(node)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and all(
                isinstance(call.func, ast.Name) and call.func.id in _CONSTRUCTORS
                for call in ast.walk(node.value) if isinstance(call, ast.Call)):
            kept.append(node)
    return ast.Module(body=kept, type_ignores=[])


def _defines(tree: ast.Module, name: str) -> bool:
    return any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and n.name == name
               or isinstance(n, ast.Assign) and any(getattr(t, "id", "") == name for t in n.targets)
               for n in tree.body)


def learner_of(path: Path) -> str:
    """The learner id: the name of the folder the notebook was handed in in."""
    return path.absolute().parent.name or "unknown"


def _lab_by_name(path: Path, course: Course) -> Lab | None:
    return next((lab for lab in course.labs if path.name == lab.notebook.name), None)


def _bad(path: Path, status: str, problem: str, lab: Lab | None = None) -> Submission:
    return Submission(learner_of(path), path, lab, problem=problem, status=status)


def read(path: Path, course: Course) -> Submission:
    """One submission file, read as data; never raises for a bad file."""
    lab = _lab_by_name(path, course)
    if lab is None:
        names = ", ".join(lab.notebook.name for lab in course.labs[:2])
        return _bad(path, "misnamed", f"'{path.name}' is no lab's notebook name (e.g. {names})")
    try:
        raw = json.loads(path.read_bytes())
    except OSError as err:
        return _bad(path, "unreadable", f"cannot be read ({err.strerror or err})", lab)
    except ValueError:
        return _bad(path, "not-a-notebook", "is not a notebook (not JSON)", lab)
    cells = raw.get("cells") if isinstance(raw, dict) else None
    if not isinstance(cells, list) or raw.get("nbformat") != 4:
        return _bad(path, "not-a-notebook", "is not a format-4 notebook", lab)
    recorded = str((raw.get("metadata") or {}).get("labkit", {}).get("source", "")) \
        if isinstance(raw.get("metadata"), dict) else ""
    if recorded and recorded != lab.source.name:
        return _bad(path, "wrong-lab", f"is named for lab {lab.id} but holds {recorded}", lab)
    sources = []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            text = cell.get("source", "")
            sources.append("".join(text) if isinstance(text, list) else str(text))
    return _answers(path, lab, sources)


def _answers(path: Path, lab: Lab, sources: list[str]) -> Submission:
    """Pick each step's cell (the last that defines its answer) and keep its definitions."""
    parsed: list[ast.Module] = []
    for text in sources:
        try:
            parsed.append(definitions(text))
        except SyntaxError:
            parsed.append(ast.Module(body=[], type_ignores=[]))
    answers, notes = {}, {}
    for step in notebook_steps(lab):
        found = [tree for tree in parsed if _defines(tree, step.answer)]
        if not found:
            notes[step.id] = f"missing: no cell defines `{step.answer}` (or it does not parse)"
            continue
        bad = reaches_in(found[-1])
        if bad:
            notes[step.id] = f"tampered: the answer's cell uses `{bad}`, which reaches into the checker"
            continue
        answers[step.id] = ast.unparse(found[-1])
    return Submission(learner_of(path), path, lab, answers, notes)


def notebook_steps(lab: Lab) -> list[Step]:
    """The steps a notebook answers: not the runtime's (those are judged on myruntime.py)."""
    return [step for step in lab.steps if not step.slot]


@lru_cache(maxsize=32)
def setup_code(lab: Lab) -> str:
    """The lab's own setup cells, from the course source (never the learner's copy)."""
    return "\n\n".join(c.source for c in build(lab.source, "learner").cells
                       if c.cell_type == "code" and labkit_meta(c).get("kind") == "setup")


def expand(paths: list[Path]) -> list[Path]:
    """Files stay; a folder stands for a learner and gives everything in it (bad entries too),
    and always its myruntime.py, even if missing (that is a row saying so)."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if not p.name.startswith("."))
            out += [p for p in found if p.name != FILE_NAME] + [path / FILE_NAME]
        else:
            out.append(path)
    return out
