"""The cases of each runtime lab (one module per lab), and the checks that judge a case.

Each `labNN` module lists its `CASES`; a case id is unique across the course, and
course.toml names which cases grade which step. `judge` runs a case's checks in order.

Taught in: lab 01, lab 02, lab 03, lab 04, lab 05, lab 06, lab 08.
"""

from __future__ import annotations

from kernel_helpers.course.harness.cases import lab01, lab02, lab03, lab04, lab05, lab06, lab07, lab08
from kernel_helpers.course.harness.cases.base import Case, Check, Fail, judge

CASES: dict[str, Case] = {case.id: case
                          for module in (lab01, lab02, lab03, lab04, lab05, lab06, lab07, lab08)
                          for case in module.CASES}
"""Every case by id; course.toml lists which cases grade which step."""

__all__ = ["CASES", "Case", "Check", "Fail", "judge"]
