"""Checks of lab 02: the uts and ipc namespaces.

Each check first moves its own (forked) process into fresh namespaces, a
sandbox, and runs the learner's code one process further down. A wrong answer
that forgets to unshare then changes only the sandbox, which the check sees,
and never the machine's real hostname or IPC objects.

Taught in: lab 02.
"""

from __future__ import annotations

import socket

from kernel_helpers import ipc
from kernel_helpers.checks._probe import ns_inode
from kernel_helpers.course.checks import call, check, fail
from kernel_helpers.namespaces import Namespace, unshare
from kernel_helpers.process import run_in_child

HOSTNAME = "lab02-container"
QUEUE_KEY = 0x4C4B0002
"""A System V key the check's queue uses ("LK" + lab 2)."""


@check("uts.hostname")
def hostname(answer: object) -> str:
    unshare({Namespace.UTS})
    sandbox_name, sandbox_ns = socket.gethostname(), ns_inode("self", "uts")

    def inside() -> tuple[str, int]:
        call(answer, HOSTNAME)
        return socket.gethostname(), ns_inode("self", "uts")

    name, ns = run_in_child(inside, timeout=10)
    if socket.gethostname() != sandbox_name:
        raise fail("the hostname changed outside your process too",
                   "call unshare with the uts namespace before sethostname")
    if ns == sandbox_ns:
        raise fail("your process is still in its parent's uts namespace",
                   "call unshare({Namespace.UTS}) first")
    if name != HOSTNAME:
        raise fail(f"the hostname inside is not '{HOSTNAME}'",
                   "set it with kernel.sethostname(name) after unshare")
    return "the new hostname is seen inside your uts namespace and nowhere else"


@check("ipc.queue")
def queue(answer: object) -> str:
    unshare({Namespace.IPC})
    sandbox_ns = ns_inode("self", "ipc")

    def inside() -> tuple[object, int]:
        return call(answer, QUEUE_KEY), ns_inode("self", "ipc")

    keys, ns = run_in_child(inside, timeout=10)
    if QUEUE_KEY in ipc.keys("msg"):
        raise fail("the message queue is visible outside your process",
                   "call unshare with the ipc namespace before creating the queue")
    if ns == sandbox_ns:
        raise fail("your process is still in its parent's ipc namespace",
                   "call unshare({Namespace.IPC}) first")
    if not isinstance(keys, set) or QUEUE_KEY not in keys:
        raise fail("the keys you returned do not include the queue you made",
                   "create it with ipc.make('msg', key), then return ipc.keys('msg')")
    return "the queue exists only in your new ipc namespace"
