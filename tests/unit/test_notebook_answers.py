"""A check reads its notebook's answers without nbformat, and reads what nbformat would.

`labkit check` and the TUI's check child used to import nbformat for this, which
imports jsonschema and builds a URI grammar: seconds per check. The answer code is a
few strings of the notebook's JSON; these tests hold both halves of that trade.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat

from kernel_helpers.course import load_course, notebook_text

ROOT = Path(__file__).resolve().parents[2]


def test_every_labs_answer_code_is_what_nbformat_reads() -> None:
    for lab in load_course().labs:
        nb = nbformat.read(str(lab.notebook), as_version=4)
        expected = "\n\n".join(c.source for c in notebook_text.cells_of_kind(
            nb, *notebook_text.ANSWER_KINDS))
        assert notebook_text.answer_code(lab.notebook) == expected, lab.id


def test_reading_the_answers_imports_no_notebook_library() -> None:
    code = ("import sys; from kernel_helpers.course import load_course, notebook_text; "
            "notebook_text.answer_code(load_course().labs[1].notebook); "
            "print(sorted(m for m in ('nbformat', 'jsonschema', 'jupytext') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=ROOT)
    assert out.stdout.strip() == "[]"
