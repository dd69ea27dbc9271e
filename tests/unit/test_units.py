"""Sizes, CPU amounts, counts and CPU lists: good values parse, bad ones get one sentence."""

from __future__ import annotations

import pytest

from kernel_helpers.errors import InvalidValue
from kernel_helpers.units import (format_cpu_list, format_size, parse_count, parse_cpu_list,
                                  parse_cpus, parse_size)


@pytest.mark.parametrize(("text", "expected"), [
    ("64M", 64 << 20), ("64m", 64 << 20), ("64MB", 64 << 20), ("64MiB", 64 << 20),
    ("1.5G", 3 << 29), ("512k", 512 << 10), ("4096", 4096), ("1T", 1 << 40), (" 2G ", 2 << 30),
    ("max", None), ("MAX", None), (100, 100),
])
def test_parse_size(text: str, expected: int | None) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["64X", "", "M", "-1M", "1.5", "64 M B", "sixty", "1e6"])
def test_bad_size_is_one_sentence_naming_value_and_form(text: str) -> None:
    with pytest.raises(InvalidValue) as err:
        parse_size(text, "memory limit")
    message = str(err.value)
    assert message.startswith(f"memory limit '{text}': ")
    assert "\n" not in message and "e.g." in message and message.endswith(".")


def test_the_design_example_message() -> None:
    with pytest.raises(InvalidValue, match=r"^memory limit '64X': is not a size\. Use a number "
                                           r"with K, M or G, e\.g\. 64M, or max for no limit\.$"):
        parse_size("64X", "memory limit")


@pytest.mark.parametrize(("text", "expected"), [("0.5", 0.5), ("2", 2.0), ("0.01", 0.01),
                                                ("max", None), (1.5, 1.5)])
def test_parse_cpus(text: str, expected: float | None) -> None:
    assert parse_cpus(text) == expected


@pytest.mark.parametrize("text", ["half", "0", "-1", "0.001", "nan", "inf", "", "2000"])
def test_bad_cpus(text: str) -> None:
    with pytest.raises(InvalidValue, match=rf"^CPU limit '{text}': is not an amount of CPUs\."):
        parse_cpus(text)


def test_parse_count() -> None:
    assert parse_count("20") == 20
    assert parse_count("max") is None
    for bad in ("0", "-3", "2.5", "many", ""):
        with pytest.raises(InvalidValue, match=rf"^pids limit '{bad}': is not a whole number\."):
            parse_count(bad, "pids limit")


@pytest.mark.parametrize(("text", "cpus"), [("0", (0,)), ("0-2,5", (0, 1, 2, 5)),
                                            ("3,1,1", (1, 3)), ("0-0", (0,))])
def test_cpu_lists_round_trip(text: str, cpus: tuple[int, ...]) -> None:
    assert parse_cpu_list(text) == cpus
    assert parse_cpu_list(format_cpu_list(cpus)) == cpus


def test_format_cpu_list_uses_ranges() -> None:
    assert format_cpu_list([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"


@pytest.mark.parametrize("text", ["", "a", "2-1", "0,", "1--2", "0.5"])
def test_bad_cpu_lists(text: str) -> None:
    with pytest.raises(InvalidValue, match="is not a list of CPU numbers"):
        parse_cpu_list(text, "cpuset")


def test_format_size() -> None:
    assert [format_size(v) for v in (64 << 20, 3 << 29, 1000, None)] == ["64M", "1536M", "1000",
                                                                        "max"]
