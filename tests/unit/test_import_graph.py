"""The engine's import graph: no cycle and no upward arrow, counting imports inside functions.

Imports inside functions are allowed (they keep `labkit run` from loading what it does not
use), but they count here as edges: so none can exist to dodge a cycle or to reach up a layer.
"""

from __future__ import annotations

import ast
from fnmatch import fnmatch
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "kernel_helpers"

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("the seam and basics", ("_sys", "_sys.*", "_lazy", "errors", "naming", "units", "files", "outcome",
                             "procfs", "process", "namespaces", "cleanup", "ipc", "validate", "sysctl")),
    ("container records and the root filesystem", ("spec", "state", "rootfs", "rootfs.*")),
    ("the stage protocol", ("stage",)),
    ("mechanisms", ("cgroups", "cgroups.*", "images", "images.*", "net", "net.*",
                    "security", "security.*")),
    ("the learner's syscalls and runtime contract", ("learn", "learn.*")),  # over the engine
    ("the runtime", ("runtime", "runtime.*")),
    ("judging a runtime from inside", ("audit", "audit.*")),
    ("faces: commands, checks, course", ("*.cli", "cli", "__main__", "__init__", "doctor", "vm",
                                          "testing", "checks", "checks.*", "course", "course.*")),
)
"""Lowest first; a module may import its own layer or any below, never one above."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    name = ".".join(parts[1:-1] if parts[-1] == "__init__" else parts[1:])
    return name or "__init__"


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every kit module `name` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([PACKAGE, *[b for b in base if b], *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            submodules = [f"{module}.{alias.name}" for alias in node.names]
            is_module = [t for t in submodules if t.removeprefix(PACKAGE + ".") in known]
            targets = is_module or [module]  # `from pkg import mod` or `from mod import name`
        else:
            continue
        for target in targets:
            short = target.removeprefix(PACKAGE + ".")
            if target.startswith(PACKAGE + ".") and short in known and short != name:
                found.add(short)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def _layer(name: str) -> int:
    for rank, (_, patterns) in reversed(list(enumerate(LAYERS))):
        if any(fnmatch(name, pattern) for pattern in patterns):
            return rank
    raise AssertionError(f"module {name} is in no layer: add it to LAYERS")


def test_every_module_has_a_layer() -> None:
    for name in _modules():
        _layer(name)


def test_no_upward_imports() -> None:
    upward = sorted(f"{a} ({LAYERS[_layer(a)][0]}) imports {b} ({LAYERS[_layer(b)][0]})"
                    for a, targets in _graph().items() for b in targets
                    if _layer(b) > _layer(a) and not a.startswith(b + ".") and a != "__init__")
    assert upward == []


def test_no_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_graph_is_read() -> None:
    """Guard against a parser that finds nothing (a test that cannot fail)."""
    graph = _graph()
    assert "stage" in graph["runtime.launch"] and "state" in graph["runtime.manage"]
    assert "runtime.run_options" in graph["cli"]  # an import inside a function counts
