"""The command line's wiring: every command word is registered by the module said to own it."""

from __future__ import annotations

import subprocess
import sys

import pytest

from kernel_helpers.cli import COMMAND_MODULES, build_parser


@pytest.mark.parametrize(("module", "word"), [(m, w) for m, ws in COMMAND_MODULES.items()
                                              for w in ws])
def test_each_word_is_registered_by_its_module(module: str, word: str) -> None:
    parser = build_parser(word)
    sub = next(a for a in parser._actions if a.dest == "command")
    assert word in sub.choices  # type: ignore[operator]


def test_run_loads_neither_the_tui_nor_the_notebook_libraries() -> None:
    code = ("import sys; from kernel_helpers.cli import build_parser; build_parser('run'); "
            "print(sorted(m for m in ('textual', 'nbformat', 'pyroute2', 'tui') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
