"""The lab notebooks themselves: executed with nbval on the real kernel, as root.

- The solution build of every lab runs clean under ``pytest --nbval-lax``.
- On the untouched learner build, every check cell fails (and only those).
- The committed learner notebooks are exactly the build of their source: no
  outputs, no solutions, no hidden checks.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kernel_helpers.course import build, load_course
from kernel_helpers.course.notebook_text import labkit_meta, read

COURSE = load_course()
CHECK_CELLS = (sum(1 for step in COURSE.steps if not step.slot)
               + sum(1 for lab in COURSE.labs if any(step.slot for step in lab.steps)))
"""One check cell per notebook-answer step, and one per runtime lab (the harness judges all its steps)."""
CONFTEST = '''
def pytest_collection_modifyitems(items):
    for item in items:
        meta = getattr(item, "cell", {}).get("metadata", {}).get("labkit", {})
        item.user_properties.append(("kind", meta.get("kind", "")))
'''
"""Tags each nbval item with its cell kind, so results are keyed on kinds, not positions."""


def _nbval(folder: Path, variant: str, **extra_env: str) -> dict[str, list[str]]:
    """Run nbval over folder's notebooks; return {cell kind: [outcomes]}."""
    (folder / "conftest.py").write_text(CONFTEST)
    junit = folder / "junit.xml"
    env = dict(os.environ, LABKIT_PROGRESS=str(folder / "progress.json"),
               LABKIT_WORK=str(folder / "work"), **extra_env)  # work: the runtime labs' myruntime.py
    proc = subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider",
                           "--nbval-cell-timeout=120", f"--junitxml={junit}", "-q",
                           "--rootdir", str(folder), str(folder)],
                          capture_output=True, text=True, env=env, timeout=900)
    outcomes: dict[str, list[str]] = {}
    for case in ET.parse(junit).iter("testcase"):
        kind = next((p.get("value") for p in case.iter("property") if p.get("name") == "kind"), "")
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped") is not None
        outcomes.setdefault(kind or "", []).append(
            "skipped" if skipped else "failed" if failed else "passed")
    assert outcomes, f"nbval collected nothing ({variant}):\n{proc.stdout[-3000:]}"
    return outcomes


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folders = {}
    for variant in build.VARIANTS:
        folder = tmp_path_factory.mktemp(variant)
        for lab in COURSE.labs:
            build.write(lab.source, variant, folder / lab.notebook.name)
        folders[variant] = folder
    return folders


def test_solution_build_passes_under_nbval(root: None, built: dict[str, Path]) -> None:
    outcomes = _nbval(built["solution"], "solution")
    assert set(outcomes) <= {"setup", "demo", "exercise", "slot", "check", "hidden-check"}
    bad = {kind: results for kind, results in outcomes.items() if set(results) != {"passed"}}
    assert bad == {}
    assert len(outcomes["check"]) == CHECK_CELLS


def test_every_check_cell_fails_on_the_learner_build(root: None, built: dict[str, Path]) -> None:
    outcomes = _nbval(built["learner"], "learner")
    assert outcomes["check"] == ["failed"] * CHECK_CELLS
    for kind in ("setup", "demo", "exercise", "slot"):
        assert set(outcomes[kind]) == {"passed"}, f"{kind} cells must run on the learner build"


@pytest.mark.parametrize("lab_id", [lab.id for lab in COURSE.labs])
def test_committed_notebook_is_the_learner_build(lab_id: str) -> None:
    lab = COURSE.lab(lab_id)
    committed = lab.notebook.read_text(encoding="utf-8")
    assert committed == build.render(build.build(lab.source, "learner")), \
        f"{lab.notebook.name} is stale: run `labkit course build`"
    raw = json.loads(committed)
    for cell in raw["cells"]:
        assert cell.get("outputs", []) == [] and cell.get("execution_count") is None
        assert "### BEGIN SOLUTION" not in "".join(cell["source"])
    nb = read(lab.notebook)
    kinds = [labkit_meta(c).get("kind") for c in nb.cells if c.cell_type == "code"]
    assert "hidden-check" not in kinds
    exercises = [c for c in nb.cells if labkit_meta(c).get("kind") == "exercise"]
    assert len(exercises) == len([step for step in lab.steps if not step.slot])
    assert all("raise NotImplementedError()" in c.source for c in exercises)
    slots = [c.source for c in nb.cells if labkit_meta(c).get("kind") == "slot"]
    assert all(source in {f"%slot {s.name}" for s in COURSE.slots} for source in slots), \
        "a slot cell holds no code: the learner's code lives in myruntime.py"
    assert {source.split()[1] for source in slots} >= {s.slot for s in lab.steps if s.slot}


PROCESS_CALLS = {"run", "Popen", "call", "check_call", "check_output", "system", "popen"}


@pytest.mark.parametrize("lab_id", [lab.id for lab in COURSE.labs])
def test_labs_run_no_host_program_but_the_kits_python(lab_id: str) -> None:
    # Provisioning guarantees the kit and busybox inside containers, not host tools: a host
    # `wget` worked on the dev machine and was missing on Debian 12.
    tree = ast.parse(COURSE.lab(lab_id).source.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in PROCESS_CALLS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id in ("subprocess", "os")):
            continue
        program = node.args[0].elts[0] if node.args and isinstance(node.args[0], ast.List) else None
        assert program is not None and ast.unparse(program) == "sys.executable", \
            f"line {node.lineno} runs a host program: {ast.unparse(node)[:80]}"
