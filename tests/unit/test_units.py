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
    for bad in ("-3", "2.5", "many", "", "²"):
        with pytest.raises(InvalidValue, match=rf"^pids limit '{bad}': is not a whole number\."):
            parse_count(bad, "pids limit")
    with pytest.raises(InvalidValue, match=r"^pids limit '0': is less than 1\. Use a whole"):
        parse_count("0", "pids limit")
    with pytest.raises(InvalidValue, match=r"^pids limit '9999999': is more than the kernel "):
        parse_count("9999999", "pids limit", maximum=4194304)


@pytest.mark.parametrize(("text", "problem"), [
    ("0", "is less than 6M"), ("1k", "is less than 6M"), ("99999T", "is more than 1024T"),
    ("-5M", "is not a size"), ("64P", "is not a size")])
def test_memory_limits_that_make_no_sense(text: str, problem: str) -> None:
    with pytest.raises(InvalidValue) as err:
        parse_size(text, "--memory", minimum=6 << 20)
    assert str(err.value).startswith(f"--memory '{text}': {problem}. Use ")
    assert parse_size("6M", "--memory", minimum=6 << 20) == 6 << 20


def test_cpus_and_cpu_lists_name_only_cpus_that_exist() -> None:
    with pytest.raises(InvalidValue, match=r"^--cpus '3': is more than the 2 CPUs this machine"):
        parse_cpus("3", "--cpus", available=2)
    assert parse_cpus("2", "--cpus", available=2) == 2.0
    with pytest.raises(InvalidValue, match=r"^--cpuset-cpus '0,7': names CPU 7, which this "
                                           r"machine does not have\. Use CPUs from 0-1\.$"):
        parse_cpu_list("0,7", "--cpuset-cpus", online=(0, 1))
    assert parse_cpu_list("1", online=(0, 1)) == (1,)


@pytest.mark.parametrize(("text", "cpus"), [("0", (0,)), ("0-2,5", (0, 1, 2, 5)),
                                            ("3,1,1", (1, 3)), ("0-0", (0,))])
def test_cpu_lists_round_trip(text: str, cpus: tuple[int, ...]) -> None:
    assert parse_cpu_list(text) == cpus
    assert parse_cpu_list(format_cpu_list(cpus)) == cpus


def test_format_cpu_list_uses_ranges() -> None:
    assert format_cpu_list([0, 1, 2, 5, 7, 8]) == "0-2,5,7-8"


@pytest.mark.parametrize("text", ["", "a", "2-1", "0,", "1--2", "0.5", "0\n1", "0-99999999"])
def test_bad_cpu_lists(text: str) -> None:
    with pytest.raises(InvalidValue, match="is not a list of CPU numbers"):
        parse_cpu_list(text, "cpuset")


def test_format_size() -> None:
    assert [format_size(v) for v in (64 << 20, 3 << 29, 1000, None)] == ["64M", "1536M", "1000",
                                                                        "max"]
