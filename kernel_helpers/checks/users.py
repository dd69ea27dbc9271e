"""Checks of lab 04: user namespaces and uid/gid maps.

Taught in: lab 04.
"""

from __future__ import annotations

import os
import tempfile

from kernel_helpers.checks._probe import two_phase
from kernel_helpers.course.checks import call, check, fail
from kernel_helpers.namespaces import Namespace, unshare

OUTSIDE, COUNT = 100000, 65536
MAP_LINES = "0 200000 1\n1 300001 1000\n"
"""The check's own two-range map: root alone, then uids 1-1000 somewhere else."""


def _read(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read()


def _become_root_inside() -> tuple[int, int]:
    os.setresgid(0, 0, 0)
    os.setresuid(0, 0, 0)
    return os.getuid(), os.getgid()


def _map_rows(text: str) -> list[tuple[int, int, int]]:
    return [tuple(int(x) for x in line.split()) for line in text.splitlines() if line.strip()]  # type: ignore[misc]


@check("user.id-maps")
def id_maps(answer: object) -> str:
    """A child makes a user namespace and waits; the learner's function maps it."""
    def between(pid: int) -> tuple[str, str, str]:
        call(answer, pid, OUTSIDE, COUNT)
        return (_read(f"/proc/{pid}/uid_map"), _read(f"/proc/{pid}/gid_map"),
                _read(f"/proc/{pid}/setgroups"))

    def after() -> tuple[int, int]:
        try:
            return _become_root_inside()
        except OSError:  # EINVAL: id 0 is not mapped; EPERM: setgroups not denied
            raise fail("the process could not become root inside its user namespace",
                       "write both uid_map and gid_map (and 'deny' to setgroups first)") from None

    (uid_map, gid_map, setgroups), ids = two_phase(
        lambda: unshare({Namespace.USER}), between, after)
    want = [(0, OUTSIDE, COUNT)]
    if _map_rows(uid_map) != want:
        raise fail("/proc/PID/uid_map does not map 0 to the outside uid",
                   "write the line '0 <outside> <count>' to /proc/PID/uid_map")
    if _map_rows(gid_map) != want:
        raise fail("/proc/PID/gid_map does not map 0 to the outside gid",
                   "write the same line to /proc/PID/gid_map, after 'deny' to setgroups")
    if setgroups.strip() != "deny":
        raise fail("/proc/PID/setgroups is not 'deny'",
                   "write 'deny' to /proc/PID/setgroups before gid_map")
    if ids != (0, 0):
        raise fail("the process is not uid 0 and gid 0 inside its namespace",
                   "map inside id 0 in both maps")
    return "the process is root inside its user namespace and uid 100000 outside"


@check("user.outside-uid")
def outside_uid(answer: object) -> str:
    """Files made inside a mapped user namespace show their owners' outside uids on the host."""
    work = tempfile.mkdtemp(prefix="labkit-check-")
    os.chmod(work, 0o777)
    inside_ids = (0, 1, 1000, 1001)

    def between(pid: int) -> str:
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(MAP_LINES)
        return _read(f"/proc/{pid}/uid_map")

    def after() -> None:
        for uid in inside_ids[:3]:  # 1001 is not mapped: no process can have it
            if os.fork() == 0:
                os.setresgid(0, 0, 0)
                os.setresuid(uid, uid, uid)
                open(os.path.join(work, f"made-by-{uid}"), "w").close()
                os._exit(0)
            os.wait()

    try:
        uid_map, _ = two_phase(lambda: unshare({Namespace.USER}), between, after)
        for uid in inside_ids:
            path = os.path.join(work, f"made-by-{uid}")
            truth = os.stat(path).st_uid if os.path.exists(path) else None
            if call(answer, uid_map, uid) != truth:
                shown = "None (unmapped)" if truth is None else "the host's owner of its file"
                raise fail(f"`outside_uid` is wrong for inside uid {uid}; the kernel says {shown}",
                           "find the line with inside <= uid < inside + count; "
                           "return outside + (uid - inside), or None if no line has it")
    finally:
        for name in os.listdir(work):
            os.unlink(os.path.join(work, name))
        os.rmdir(work)
    return "your translation agrees with the owners the kernel gave real files"
