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
_CPU_LIST = re.compile(r"\d+(-\d+)?(,\d+(-\d+)?)*")
MOST_BYTES = 1 << 50
"""1024T: more than any machine the labs run on; a bigger size is a typo, not a limit."""
ONLINE_CPUS = "/sys/devices/system/cpu/online"


def parse_size(text: str | int, what: str = "size", minimum: int = 0) -> int | None:
    """Bytes from "64M", "1.5G", "512k", "4096" (binary multiples, like docker); None for "max".

    Args:
        minimum: the smallest size that makes sense (Docker's 6M for a memory limit).

    Taught in: lab 05.
    """
    if isinstance(text, int) and not isinstance(text, bool) and text >= 0:
        return _within(text, text, what, minimum)
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
    return _within(int(value), text, what, minimum)


def _within(value: int, text: str | int, what: str, minimum: int) -> int:
    if value < minimum:
        raise InvalidValue(f"{what} '{text}'", f"is less than {format_size(minimum)}",
                           f"use at least {format_size(minimum)}, e.g. 64M, or max for no limit")
    if value > MOST_BYTES:
        raise InvalidValue(f"{what} '{text}'", f"is more than {format_size(MOST_BYTES)}",
                           "use a size this machine could have, e.g. 64M, or max for no limit")
    return value


def parse_cpus(text: str | float, what: str = "CPU limit",
               available: int | None = None) -> float | None:
    """CPUs as a decimal ("0.5" = half of one CPU's time); None for "max".

    Args:
        available: how many CPUs there are; more than that is refused (as Docker does).

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
    if available is not None and value > available:
        raise InvalidValue(f"{what} '{text}'", f"is more than the {available} CPUs this machine has",
                           f"use at most {available}, e.g. 0.5, or max")
    return value


def parse_count(text: str | int, what: str = "count", minimum: int = 1,
                maximum: int | None = None) -> int | None:
    """A whole number such as a pids limit ("20"); None for "max".

    Taught in: lab 05.
    """
    word = str(text).strip()
    if word.lower() == UNLIMITED:
        return None
    if not word.isascii() or not word.isdigit():
        raise InvalidValue(f"{what} '{text}'", "is not a whole number",
                           f"use a whole number of at least {minimum}, e.g. 20, or max")
    if int(word) < minimum:
        raise InvalidValue(f"{what} '{text}'", f"is less than {minimum}",
                           f"use a whole number of at least {minimum}, e.g. 20, or max")
    if maximum is not None and int(word) > maximum:
        raise InvalidValue(f"{what} '{text}'", f"is more than the kernel allows ({maximum})",
                           "use a smaller number, e.g. 20, or max")
    return int(word)


def parse_cpu_list(text: str, what: str = "CPU list",
                   online: tuple[int, ...] | None = None) -> tuple[int, ...]:
    """CPU numbers from the kernel's list form "0-2,5" (as in cpuset.cpus); sorted, no repeats.

    Args:
        online: the CPUs there are (`online_cpus()`); any other is refused.

    Taught in: lab 05.
    """
    word = str(text).strip()
    ranges = [part.split("-") for part in word.split(",")] if _CPU_LIST.fullmatch(word) else []
    if not ranges or any(len(r) == 2 and int(r[0]) > int(r[1]) for r in ranges) \
            or any(int(r[-1]) > 4096 for r in ranges):
        raise InvalidValue(f"{what} '{text}'", "is not a list of CPU numbers",
                           "use numbers and ranges separated by commas, e.g. 0 or 0-1,3")
    cpus = {n for r in ranges for n in range(int(r[0]), int(r[-1]) + 1)}
    missing = sorted(cpus - set(online)) if online is not None else []
    if missing:
        raise InvalidValue(f"{what} '{text}'", f"names CPU {missing[0]}, which this machine "
                           "does not have", f"use CPUs from {format_cpu_list(online or ())}")
    return tuple(sorted(cpus))


def online_cpus(path: str = ONLINE_CPUS) -> tuple[int, ...]:
    """The CPUs the kernel has online, e.g. (0, 1) for "0-1"."""
    with open(path, encoding="ascii") as f:
        return parse_cpu_list(f.read(), path)


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
