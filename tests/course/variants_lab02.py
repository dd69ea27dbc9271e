"""Lab 02's learner runtimes for the tests and `labkit course validate`: wrong ones, each naming
its mistake, and correct ones written differently from the reference.

A variant is the code of `enter_uts_ipc`, or a dict {slot: code} when the mistake is in `run`
too. Every wrong one is safe on a shared machine: the judge runs in private uts and ipc
namespaces, so a hostname set in the wrong namespace renames only the judge's copy.
"""

from __future__ import annotations

from runtime_variants import CHILD, REF_RUN_TAIL, _run

_SLOT = "def enter_uts_ipc(hostname):\n"
_BOTH = "    lk.unshare(lk.CLONE_NEWUTS | lk.CLONE_NEWIPC)\n"
_NAME = "    if hostname:\n        lk.sethostname(hostname)\n"
_CHILD_02 = CHILD.replace("            if spec.rootfs:",
                          "            enter_uts_ipc(spec.hostname)\n            if spec.rootfs:")


def _in_parent_after_fork(line: str) -> str:
    """A run that makes `line`'s change in the runtime, after fork, not in the container."""
    return _run("    lk.unshare(lk.CLONE_NEWPID)\n", child=_CHILD_02,
                tail=f"\n    {line}" + REF_RUN_TAIL)


WRONG_UTS = {  # step uts.hostname
    "uts": {
        "sets the hostname before unsharing": _SLOT + _NAME + _BOTH,
        "never unshares uts": _SLOT + "    lk.unshare(lk.CLONE_NEWIPC)\n" + _NAME,
        "unshares uts in the runtime after fork": {
            "enter_uts_ipc": _SLOT + "    lk.unshare(lk.CLONE_NEWIPC)\n",
            "run": _in_parent_after_fork("lk.unshare(lk.CLONE_NEWUTS)")},
    },
    "hostname": {
        "hard-codes the hostname": _SLOT + _BOTH + "    lk.sethostname('container')\n",
        "never sets the hostname": _SLOT + _BOTH,
        "cuts the name to 8 characters": _SLOT + _BOTH + "    lk.sethostname(hostname[:8])\n",
    },
}

WRONG_IPC = {  # step ipc.queue
    "ipc": {
        "unshares uts but not ipc": _SLOT + "    lk.unshare(lk.CLONE_NEWUTS)\n" + _NAME,
        "unshares ipc in the runtime after fork": {
            "enter_uts_ipc": _SLOT + "    lk.unshare(lk.CLONE_NEWUTS)\n" + _NAME,
            "run": _in_parent_after_fork("lk.unshare(lk.CLONE_NEWIPC)")},
        "CLONE_NEWNS for CLONE_NEWIPC": _SLOT + "    lk.unshare(lk.CLONE_NEWUTS | lk.CLONE_NEWNS)\n"
                                        + _NAME,
    },
}

RIGHT = {  # correct, written differently from the reference
    "two unshares and socket.sethostname": '''import socket


def enter_uts_ipc(hostname):
    lk.unshare(lk.CLONE_NEWIPC)
    lk.unshare(lk.CLONE_NEWUTS)
    if hostname is not None:
        socket.sethostname(hostname)
''',
    "ipc unshared by the runtime before fork": {
        "enter_uts_ipc": _SLOT + "    lk.unshare(lk.CLONE_NEWUTS)\n" + _NAME,
        "run": _run("    lk.unshare(lk.CLONE_NEWPID | lk.CLONE_NEWIPC)\n", child=_CHILD_02)},
}

BY_STEP = {"uts.hostname": ("enter_uts_ipc", WRONG_UTS), "ipc.queue": ("enter_uts_ipc", WRONG_IPC)}
