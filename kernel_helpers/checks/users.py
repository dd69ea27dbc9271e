"""Checks of lab 04 that are not a piece of the learner's runtime: reading a multi-line uid map.

Writing the maps (setgroups first, from the parent) is the runtime's job and is judged on the
learner's myruntime.py (kernel_helpers/course/harness/cases/lab04.py).

Taught in: lab 04.
"""

from __future__ import annotations

import os
import tempfile

from kernel_helpers.checks._probe import two_phase
from kernel_helpers.course.checks import call, check, fail
from kernel_helpers.namespaces import Namespace, unshare

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
