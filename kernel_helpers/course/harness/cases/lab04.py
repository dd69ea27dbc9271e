"""Lab 04's cases: a user namespace whose root is the asked unprivileged uid on the host.

Each run asks for different ids (outside uid and gid, counts), so a map tuned to the
notebook's 100000 fails. The judge reads, while the probe holds the container:
/proc/PID/uid_map, gid_map and setgroups (the namespace's maps, from the host), the
Uid/Gid lines of /proc/PID/status (the host's view of the probe's ids), and the same
status file read by a child that joined the container's user namespace (the kernel's
view from inside: it translates the ids through the maps itself).

The probe is the command the runtime exec'd, so what these show is what the container
runs with: a child that exec'd before the parent wrote its maps is still host root.

Taught in: lab 04.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from kernel_helpers._sys import LINUX
from kernel_helpers.course.harness import observe
from kernel_helpers.course.harness.cases.base import Case, Fail
from kernel_helpers.course.harness.cases.common import (no_leftovers, shares_namespace,
                                                       started)
from kernel_helpers.course.harness.judge import Run
from kernel_helpers.errors import LabkitError
from kernel_helpers.namespaces import Namespace
from kernel_helpers.process import run_in_child

Row = tuple[int, int, int]


def _ids_asked() -> dict[str, Any]:
    """Root inside, mapped to a different unprivileged uid and gid on every run."""
    uid = 65536 * (2 + secrets.randbelow(200)) + secrets.randbelow(1000)
    gid = uid + 65536 * (1 + secrets.randbelow(8))
    return {"uid_map": [0, uid, 1000 + secrets.randbelow(60000)],
            "gid_map": [0, gid, 1000 + secrets.randbelow(60000)]}


def _rows(text: str | None) -> list[Row]:
    """A map's lines, with lines that continue each other merged: "0 X 1" and "1 X+1 N-1"
    map exactly what "0 X N" maps, so both are right."""
    rows = sorted((int(a), int(b), int(c)) for a, b, c in
                  (line.split() for line in (text or "").splitlines() if line.strip()))
    merged: list[Row] = []
    for inside, outside, count in rows:
        if merged and merged[-1][0] + merged[-1][2] == inside and \
                merged[-1][1] + merged[-1][2] == outside:
            merged[-1] = (merged[-1][0], merged[-1][1], merged[-1][2] + count)
        else:
            merged.append((inside, outside, count))
    return merged


def _status_inside(pid: int) -> dict[str, str]:
    """In a forked child of the judge: join the container's user namespace, read its status."""
    fd = os.open(f"/proc/{pid}/ns/user", os.O_RDONLY)
    LINUX.setns(fd, Namespace.USER.flag)
    os.close(fd)
    return observe.status(pid)


def look(pid: int, run: Run) -> dict[str, Any]:
    seen: dict[str, Any] = {name: observe.read(f"/proc/{pid}/{name}")
                            for name in ("uid_map", "gid_map", "setgroups")}
    seen["status"] = observe.status(pid)
    try:
        seen["inside"] = run_in_child(_status_inside, pid, timeout=5)
    except LabkitError:
        seen["inside"] = {}
    return seen


def own_userns(run: Run) -> Fail | None:
    if shares_namespace(run, "user"):
        return Fail("the container runs in the host's user namespace: its root is the host's "
                    "root", "in enter_userns, lk.unshare(lk.CLONE_NEWUSER), called in run's "
                    "child when spec.uid_map is set")
    return None


def _map_fail(kind: str, asked: Row, got: list[Row]) -> Fail | None:
    field = "uid_map" if kind == "uid" else "gid_map"
    if got == [asked]:
        return None
    if not got:
        return Fail(f"the container's {field} is empty: no {kind} is mapped, so root inside is "
                    "nobody", f"in write_id_maps, write one line to /proc/PID/{field}, from "
                    "the parent, before releasing the child")
    if len(got) == 1 and got[0][:2] == asked[:2]:
        many = "1 id" if got[0][2] == 1 else "another number of ids"  # never this run's numbers
        return Fail(f"the container's {field} maps {many}, not the count spec.{field} "
                    "asked for", f"write all three numbers of spec.{field}: 'inside outside "
                    "count'")
    if len(got) == 1 and got[0][1] != asked[1]:
        return Fail(f"the container's {field} maps root to another outside {kind} than "
                    f"spec.{field} asked for (this run asked for a different one than the "
                    "notebook's)", f"write the numbers of spec.{field} (inside, outside, "
                                   "count), not fixed ones")
    return Fail(f"the container's {field} is not the one line spec.{field} asked for",
                f"write exactly one line, 'inside outside count' of spec.{field}, to "
                f"/proc/PID/{field}")


def maps_asked(run: Run) -> Fail | None:
    uid: Row = tuple(run.spec["uid_map"])
    gid: Row = tuple(run.spec["gid_map"])
    return (_map_fail("uid", uid, _rows(run.seen.get("uid_map")))
            or _map_fail("gid", gid, _rows(run.seen.get("gid_map"))))


def setgroups_denied(run: Run) -> Fail | None:
    if (run.seen.get("setgroups") or "").strip() != "deny":
        return Fail("/proc/PID/setgroups of the container is 'allow': root inside could drop "
                    "supplementary groups that deny it access (CVE-2014-8989)",
                    "write 'deny' to /proc/PID/setgroups first: once gid_map is written the "
                    "kernel refuses the change")
    return None


def _ids(status: dict[str, str], key: str) -> list[int]:
    return [int(x) for x in status.get(key, "").split()]


def root_inside(run: Run) -> Fail | None:
    """The probe's ids: the asked outside ids from the host, 0 from inside its namespace."""
    uid, gid = run.spec["uid_map"][1], run.spec["gid_map"][1]
    host, inside = run.seen.get("status", {}), run.seen.get("inside", {})
    host_uids, host_gids = _ids(host, "Uid"), _ids(host, "Gid")
    if host_uids[:1] == [0]:
        return Fail("the container's command runs as the host's root: it exec'd still holding "
                    "the host's uid 0", "after mapped.wait(), os.setresuid(0, 0, 0) inside the "
                    "new user namespace: uid 0 there is spec.uid_map's outside uid")
    if host_uids != [uid] * 4 or _ids(inside, "Uid") != [0] * 4:
        return Fail("the container's command is not root inside its user namespace, mapped to "
                    "spec.uid_map's outside uid on the host",
                    "wait until the parent wrote the maps, then os.setresuid(0, 0, 0)")
    if host_gids != [gid] * 4 or _ids(inside, "Gid") != [0] * 4:
        return Fail("the container's command keeps a host group: its gid is not gid 0 inside "
                    "(spec.gid_map's outside gid on the host)",
                    "after mapped.wait(), os.setresgid(0, 0, 0) as well as os.setresuid(0, 0, 0)")
    _, first, count = run.spec["gid_map"]
    if any(not first <= g < first + count for g in _ids(host, "Groups")):
        return Fail("the container's command keeps the runtime's supplementary groups (group 0 "
                    "on the host): setgroups is denied inside, so it can never drop them",
                    "os.setgroups([]) in enter_userns, before lk.unshare(lk.CLONE_NEWUSER)")
    return None


CASES = (
    Case("userns", 0, True, (started, own_userns, no_leftovers), extra=_ids_asked, look=look),
    Case("id-maps", 0, True, (started, own_userns, maps_asked, no_leftovers),
         extra=_ids_asked, look=look),
    Case("setgroups", 0, True, (started, own_userns, setgroups_denied, no_leftovers),
         extra=_ids_asked, look=look),
    Case("root-inside", 0, True, (started, own_userns, root_inside, no_leftovers),
         extra=_ids_asked, look=look),
)
