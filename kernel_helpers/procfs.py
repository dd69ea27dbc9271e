"""Readers of /proc/PID/*: the kernel's own account of a process, parsed in one place.

The checks, the sweepers, exec and the harness judge a container by these files, never by
what the code under test says, so each format is parsed once, here, with its quirks
(a command name with spaces in `stat`, octal escapes in `mountinfo`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
Pid = int | str
"""A pid, or "self"."""


def read(pid: Pid, name: str) -> str:
    """The text of /proc/PID/NAME."""
    return (PROC / str(pid) / name).read_text(encoding="utf-8")


def stat_fields(pid: Pid) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces), [] if the process is gone.

    Field 0 is the state (R, S, Z...), field 19 the start time in clock ticks since boot.
    """
    try:
        return read(pid, "stat").rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return []


def status(pid: Pid) -> dict[str, str]:
    """/proc/PID/status as key -> value text, e.g. "NSpid" -> "4242\\t1"."""
    result = {}
    for line in read(pid, "status").splitlines():
        key, _, value = line.partition(":")
        result[key] = value.strip()
    return result


def status_field(pid: Pid, name: str) -> list[str]:
    """The values of one /proc/PID/status line, e.g. ``NSpid`` -> ["4242", "1"]."""
    return status(pid).get(name, "").split()


@dataclass(frozen=True)
class Mount:
    """One line of /proc/PID/mountinfo (proc(5)), paths unescaped."""

    mount_id: int
    parent_id: int
    root: str
    target: str
    options: str
    optional: tuple[str, ...]
    """Propagation tags such as ``shared:12`` or ``master:3``."""
    fstype: str
    source: str
    super_options: str
    dev: str = ""
    """major:minor of the filesystem: with `root`, which mount of which filesystem this is."""

    @property
    def read_only(self) -> bool:
        return "ro" in self.options.split(",")


def unescape(path: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040 ...)."""
    return path.encode().decode("unicode_escape") if "\\" in path else path


def parse_mountinfo(text: str) -> list[Mount]:
    """Parse mountinfo text (a file of another process or a test's own)."""
    mounts = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), (right.split() + ["", "", ""])[:3]
        mounts.append(Mount(int(fields[0]), int(fields[1]), unescape(fields[3]), unescape(fields[4]),
                            fields[5], tuple(fields[6:]), tail[0], unescape(tail[1]), tail[2],
                            fields[2]))
    return mounts


def mounts(pid: Pid = "self") -> list[Mount]:
    """The mounts `pid` sees, in mount order."""
    return parse_mountinfo(read(pid, "mountinfo"))


def cgroups(pid: Pid = "self") -> list[tuple[str, str]]:
    """(controllers, path) per line of /proc/PID/cgroup; controllers "" is the v2 tree."""
    lines = []
    for line in read(pid, "cgroup").splitlines():
        _, controllers, path = line.split(":", 2)
        lines.append((controllers, path))
    return lines
