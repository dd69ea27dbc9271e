"""Sizes, CPU amounts, counts and CPU lists as the learner types them ("64M", "0.5", "max", "0-1").

Each parser takes `what` (e.g. "memory limit") so the one-sentence error names
the option, the bad value and the valid form. "max" means "no limit" and parses
to None everywhere, as in cgroup v2's own files.

Taught in: lab 05.
"""

from __future__ import annotations

import re

from kernel_helpers.errors import InvalidValue

UNLIMITED = "max"
"""The word cgroup v2 files use for "no limit"; accepted by every parser here."""

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?$", re.IGNORECASE)
_MULTIPLIER = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_CPU_LIST = re.compile(r"^\d+(-\d+)?(,\d+(-\d+)?)*$")


def parse_size(text: str | int, what: str = "size") -> int | None:
    """Bytes from "64M", "1.5G", "512k", "4096" (binary multiples, like docker); None for "max".

    Taught in: lab 05.
    """
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        return text
    word = str(text).strip()
    if word.lower() == UNLIMITED:
        return None
    match = _SIZE.match(word)
    if not match:
        raise InvalidValue(f"{what} '{text}'", "is not a size",
                           "use a number with K, M or G, e.g. 64M, or max for no limit")
    number, unit = match.groups()
    value = float(number) * _MULTIPLIER[unit.upper()]
    if unit == "" and "." in number:
        raise InvalidValue(f"{what} '{text}'", "is not a whole number of bytes",
                           "use a whole number, or a unit, e.g. 1.5G")
    return int(value)


def parse_cpus(text: str | float, what: str = "CPU limit") -> float | None:
    """CPUs as a decimal ("0.5" = half of one CPU's time); None for "max".

    Taught in: lab 05.
    """
    word = str(text).strip()
    if word.lower() == UNLIMITED:
        return None
    try:
        value = float(word)
    except ValueError:
        value = -1.0
    if not 0.01 <= value <= 1024 or word.lower() in ("nan", "inf"):
        raise InvalidValue(f"{what} '{text}'", "is not an amount of CPUs",
                           "use a decimal number of CPUs of at least 0.01, e.g. 0.5, or max")
    return value


def parse_count(text: str | int, what: str = "count", minimum: int = 1) -> int | None:
    """A whole number such as a pids limit ("20"); None for "max".

    Taught in: lab 05.
    """
    word = str(text).strip()
    if word.lower() == UNLIMITED:
        return None
    if not word.isdigit() or int(word) < minimum:
        raise InvalidValue(f"{what} '{text}'", "is not a whole number",
                           f"use a whole number of at least {minimum}, e.g. 20, or max")
    return int(word)


def parse_cpu_list(text: str, what: str = "CPU list") -> tuple[int, ...]:
    """CPU numbers from the kernel's list form "0-2,5" (as in cpuset.cpus); sorted, no repeats.

    Taught in: lab 05.
    """
    word = str(text).strip()
    ranges = [part.split("-") for part in word.split(",")] if _CPU_LIST.match(word) else []
    if not ranges or any(len(r) == 2 and int(r[0]) > int(r[1]) for r in ranges):
        raise InvalidValue(f"{what} '{text}'", "is not a list of CPU numbers",
                           "use numbers and ranges separated by commas, e.g. 0 or 0-1,3")
    cpus = {n for r in ranges for n in range(int(r[0]), int(r[-1]) + 1)}
    return tuple(sorted(cpus))


def format_cpu_list(cpus: tuple[int, ...] | list[int]) -> str:
    """The kernel's list form back from numbers: (0, 1, 2, 5) -> "0-2,5"."""
    parts: list[str] = []
    for cpu in sorted(set(cpus)):
        if parts and cpu == int(parts[-1].split("-")[-1]) + 1:
            parts[-1] = f"{parts[-1].split('-')[0]}-{cpu}"
        else:
            parts.append(str(cpu))
    return ",".join(parts)


def format_size(value: int | None) -> str:
    """"64M"-style text for a byte count (for plots and the TUI); "max" for None."""
    if value is None:
        return UNLIMITED
    for unit in ("T", "G", "M", "K"):
        if value >= _MULTIPLIER[unit] and value % _MULTIPLIER[unit] == 0:
            return f"{value // _MULTIPLIER[unit]}{unit}"
    return str(value)
