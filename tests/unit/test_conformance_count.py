"""The conformance runner counts REAL passes: TAP as tapcount.py counts it, and no ok on empty output."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SPEC = importlib.util.spec_from_file_location(
    "conformance", Path(__file__).resolve().parents[2] / "bench" / "conformance.py")
assert SPEC is not None and SPEC.loader is not None
conformance = importlib.util.module_from_spec(SPEC)
sys.modules["conformance"] = conformance  # dataclasses look their module up there
SPEC.loader.exec_module(conformance)

INSIDE_OK = 'TAP version 13\n  ---\n  {\n    "stderr": "",\n    "stdout": "ok 1 - x\\n"\n  }\n  ...\nok 1 - t\n1..1\n'
INSIDE_EMPTY = INSIDE_OK.replace('"stdout": "ok 1 - x\\n"', '"stdout": ""')


def test_an_ok_on_empty_in_container_output_is_not_a_pass() -> None:
    assert conformance.verdict(INSIDE_OK, 0, "hostname") == "PASS"
    assert conformance.verdict(INSIDE_EMPTY, 0, "hostname") == "EMPTY"


def test_a_not_ok_a_crash_or_a_short_plan_fails() -> None:
    assert conformance.verdict("ok 1 - a\nnot ok 2 - b\n1..2\n", 0, "x") == "FAIL"
    assert conformance.verdict("ok 1 - a\n1..1\n", 1, "x") == "FAIL"
    assert conformance.verdict("ok 1 - a\n1..3\n", 0, "x") == "FAIL"
    assert conformance.verdict("", 0, "x") == "FAIL"


def test_inner_tap_quoted_in_yaml_is_not_counted() -> None:
    assert conformance.verdict("ok 1 - a\n  ---\n  not ok 5 - inner\n  ...\n1..1\n", 0, "x") == "PASS"


def test_hook_tests_pass_on_an_empty_plan_unless_they_report_an_error() -> None:
    assert conformance.verdict("TAP version 13\n1..0\n", 0, "poststart") == "PASS"
    errored = 'TAP version 13\n  ---\n  {\n    "error": "boom"\n  }\n  ...\n1..0\n'
    assert conformance.verdict(errored, 0, "poststart") == "FAIL"


def test_the_fail_tests_pass_by_exiting_zero_once_the_config_was_refused() -> None:
    assert conformance.verdict("", 0, "process_rlimits_fail") == "PASS"
    assert conformance.verdict("ok 1 - x\n1..1\n", 1, "process_capabilities_fail") == "FAIL"
