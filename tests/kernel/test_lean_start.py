"""`labkit run` and `labkit exec` start lean: what they import, counted on real runs.

Most of a container start in Python is the interpreter and its imports (see the
README's Benchmarks), so the modules that only images' writers, the labs or the
TUI need must stay off these paths. The runs are real (as root, like every kernel
test); `python -X importtime` lists every module each one imported.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NEVER_ON_A_START = ("platform", "hashlib", "_hashlib", "tempfile", "subprocess", "tarfile",
                    "threading", "nbformat", "jsonschema", "textual", "pyroute2", "tui",
                    "kernel_helpers.images.tarsafe", "kernel_helpers.cgroups.readback",
                    "kernel_helpers.audit")
"""Modules a start never needs: imports and commits of images, labs, the TUI, the audit."""
NEVER_ON_AN_EXEC = ("kernel_helpers.runtime.launch", "kernel_helpers.runtime.manage",
                    "kernel_helpers.runtime.supervisor", "kernel_helpers.images",
                    "kernel_helpers.cgroups.group")
"""exec enters a running container: it starts nothing and manages nothing."""

pytestmark = pytest.mark.usefixtures("root")


def imported_by(*args: str) -> set[str]:
    """Every module `labkit ARGS` imported (it must succeed)."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "kernel_helpers", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)$", done.stderr, re.M))


def _heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


def test_a_start_and_an_exec_import_only_what_they_use() -> None:
    run = imported_by("run", "--rootfs", "busybox", "--", "/bin/true")
    assert "kernel_helpers.runtime.launch" in run  # the measurement sees the start path
    assert _heavy(run, NEVER_ON_A_START) == []
    name = f"lklean{ROOT.stat().st_ino % 10000}"
    started = subprocess.run([sys.executable, "-m", "kernel_helpers", "run", "-d", "--name", name,
                              "--", "/bin/sleep", "60"], capture_output=True, text=True, cwd=ROOT,
                             timeout=60)
    assert started.returncode == 0, started.stderr
    try:
        exec_ = imported_by("exec", name, "--", "/bin/true")
    finally:
        subprocess.run([sys.executable, "-m", "kernel_helpers", "rm", "-f", name],
                       capture_output=True, cwd=ROOT, timeout=60)
    assert "kernel_helpers.runtime.exec" in exec_
    assert _heavy(exec_, NEVER_ON_A_START + NEVER_ON_AN_EXEC) == []
