"""Lab 02's cases: the container's own uts namespace (and the hostname asked), its own ipc namespace.

Everything is read from the host side through the kernel: a child of the judge joins the
container's uts or ipc namespace with setns(2) and asks the kernel there (uname(2), a queue
made and listed in /proc/sysvipc). The judge itself runs in private uts and ipc namespaces
(sandbox.enter_judge_namespace), so a runtime that renames the wrong namespace renames only
the judge's copy: the case sees it and the judge restores it.

Taught in: lab 02.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

from kernel_helpers import ipc
from kernel_helpers._sys import LINUX
from kernel_helpers.course.harness.cases.base import Case, Fail
from kernel_helpers.course.harness.cases.common import (no_leftovers, shares_namespace,
                                                       started)
from kernel_helpers.course.harness.judge import Run
from kernel_helpers.errors import LabkitError
from kernel_helpers.namespaces import Namespace
from kernel_helpers.process import run_in_child

QUEUE_KEY_BASE = 0x4C4B0200
"""System V keys the judge's queues use ("LK", lab 02, then a random byte per run)."""


HOSTNAME_PREFIX = "box-"


def _hostname_asked() -> dict[str, Any]:
    return {"hostname": f"{HOSTNAME_PREFIX}{secrets.token_hex(3)}"}


def _in_namespace(pid: int, kind: Namespace) -> None:
    fd = os.open(f"/proc/{pid}/ns/{kind.proc_name}", os.O_RDONLY)
    try:
        LINUX.setns(fd, kind.flag)
    finally:
        os.close(fd)


def _uname_inside(pid: int) -> str:
    """In a forked child of the judge: join the container's uts namespace, ask uname(2)."""
    _in_namespace(pid, Namespace.UTS)
    return os.uname().nodename


def look_uts(pid: int, run: Run) -> dict[str, Any]:
    try:
        return {"hostname": run_in_child(_uname_inside, pid, timeout=5)}
    except LabkitError:
        return {}


def _queues_inside(pid: int, key: int) -> tuple[set[int], int]:
    """Join the container's ipc namespace: the message queue keys seen there; make queue `key`."""
    _in_namespace(pid, Namespace.IPC)
    seen = ipc.keys("msg")
    return seen, ipc.make("msg", key)


def look_ipc(pid: int, run: Run) -> dict[str, Any]:
    """A queue made in the judge's namespace must not be inside; one made inside not outside."""
    outside_key = QUEUE_KEY_BASE + secrets.randbelow(128)
    inside_key = outside_key + 128
    ident = ipc.make("msg", outside_key)
    try:
        inside, _ = run_in_child(_queues_inside, pid, inside_key, timeout=5)
        outside = ipc.keys("msg")
    except LabkitError:
        return {}
    finally:
        ipc.remove("msg", ident)
    return {"outside_key_inside": outside_key in inside,
            "inside_key_outside": inside_key in outside}


def own_uts(run: Run) -> Fail | None:
    if shares_namespace(run, "uts"):
        if run.hostnames[0] != run.hostnames[1]:
            return HOST_RENAMED
        return Fail("the container shares the host's uts namespace: a hostname set there "
                    "would rename the machine", "in enter_uts_ipc, lk.unshare(lk.CLONE_NEWUTS) "
                    "first (run's child calls it, before exec)")
    return None


HOST_RENAMED = Fail("the hostname changed outside the container too: sethostname ran in the "
                    "host's uts namespace, before (or without) the unshare",
                    "lk.unshare(lk.CLONE_NEWUTS | lk.CLONE_NEWIPC) first, then "
                    "lk.sethostname(hostname)")


def host_name_kept(run: Run) -> Fail | None:
    if run.hostnames[0] != run.hostnames[1]:
        return HOST_RENAMED
    return None


def hostname_asked(run: Run) -> Fail | None:
    want = run.spec.get("hostname")
    got = run.seen.get("hostname")
    if got is None:
        return Fail("the container exited before its hostname could be read",
                    "exec the command as the last step of run's child")
    if got != want:
        suffix = str(want)[len(HOSTNAME_PREFIX):]
        shown = ("the host's name" if got == run.hostnames[0]
                 else "a name made from it" if suffix[:2] in got or str(want).startswith(got)
                 else f"'{got}'")  # never this run's random part: messages are deterministic
        return Fail(f"the container's hostname is {shown}, not the spec.hostname this run "
                    "asked for", "call lk.sethostname(hostname) with enter_uts_ipc's argument "
                    "(run passes spec.hostname), after the unshare")
    return None


def own_ipc(run: Run) -> Fail | None:
    if shares_namespace(run, "ipc"):
        return Fail("the container shares the host's ipc namespace: its message queues, "
                    "semaphores and shared memory are the host's",
                    "unshare CLONE_NEWIPC in run's child (in enter_uts_ipc), never in the "
                    "runtime after fork: the container must be the one that moves")
    return None


def queues_apart(run: Run) -> Fail | None:
    if not run.seen:
        return Fail("the container exited before its ipc namespace could be read",
                    "exec the command as the last step of run's child")
    if run.seen["outside_key_inside"] or run.seen["inside_key_outside"]:
        return Fail("a message queue made on one side is visible on the other",
                    "lk.unshare(lk.CLONE_NEWIPC) in run's child, before exec")
    return None


CASES = (
    Case("uts", 0, False, (started, own_uts, host_name_kept, no_leftovers),
         extra=_hostname_asked),
    Case("hostname", 0, False, (started, own_uts, host_name_kept, hostname_asked, no_leftovers),
         extra=_hostname_asked, look=look_uts),
    Case("ipc", 0, False, (started, own_ipc, queues_apart, no_leftovers), look=look_ipc),
)
