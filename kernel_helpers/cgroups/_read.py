"""Reading cgroup accounting files; a missing file (controller absent) reads as None."""

from __future__ import annotations

import os

V1_UNLIMITED = 1 << 62
"""v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX * page size); treat >= this as max."""


def read_text(folder: str | None, name: str) -> str | None:
    if folder is None:
        return None
    try:
        with open(os.path.join(folder, name), encoding="ascii") as f:
            return f.read().strip()
    except (FileNotFoundError, NotADirectoryError):
        return None


def read_int(folder: str | None, name: str) -> int | None:
    """An integer file; "max" and v1's huge "unlimited" values read as None."""
    text = read_text(folder, name)
    if text is None or text == "max":
        return None
    value = int(text.split()[0])
    return None if value >= V1_UNLIMITED else value


def read_keyed(folder: str | None, name: str) -> dict[str, int]:
    """A flat keyed file ("key value" per line), as memory.events and cpu.stat are."""
    text = read_text(folder, name)
    pairs = (line.split() for line in (text or "").splitlines())
    return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].lstrip("-").isdigit()}
