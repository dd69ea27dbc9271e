"""Checks of lab 08: a container's root, cut down to a few capabilities for good.

The learner's function runs as the PID 1 of a real container (busybox root,
Docker's namespaces, no other hardening), just before its command would be
exec'ed. The check then reads the container's own /proc/self/status and
tries to touch the host's clock from inside it.

Taught in: lab 08.
"""

from __future__ import annotations

from typing import Any

from kernel_helpers.course.checks import call, check, fail
from kernel_helpers.runtime.run_options import spec_from_options
from kernel_helpers.audit import escapes
from kernel_helpers.audit.attempt import Context
from kernel_helpers.security.capabilities import read_sets
from kernel_helpers.audit.probe import run_inside

KEEP = frozenset({"CHOWN", "KILL", "NET_BIND_SERVICE", "SETPCAP", "SETUID", "SETGID"})
"""The capabilities the container asks to keep (SETPCAP so it could still drop more)."""


def _harden_then_look(answer: object, ctx: Context) -> dict[str, Any]:
    """Inside the container: the learner's drop, then the facts."""
    call(answer, set(KEEP))
    sets = read_sets()
    with open("/proc/self/status", "rb") as f:  # no codec imports after pivot_root
        nnp = next(line.split()[1].decode() for line in f if line.startswith(b"NoNewPrivs:"))
    return {"effective": sets.effective, "permitted": sets.permitted,
            "bounding": sets.bounding, "nnp": nnp, "clock": escapes.attempt_clock(ctx)}


@check("security.drop-caps")
def drop_caps(answer: object) -> str:
    spec = spec_from_options(["/bin/true"])
    seen = run_inside(_harden_then_look, spec, (), answer, escapes.context_for(()), timeout=30)
    for name in ("bounding", "effective", "permitted"):
        extra = sorted(seen[name] - KEEP)
        if extra:
            raise fail(f"the container's {name} set still holds {len(extra)} capabilities "
                       f"beyond the ones to keep (e.g. {extra[0]})",
                       "cut the bounding set first: prctl(PR_CAPBSET_DROP, n) for every other n"
                       if name == "bounding" else
                       "then kernel.capset(mask, mask, 0) with mask = the bits of `keep`")
    if seen["effective"] != KEEP:
        raise fail("the container lost capabilities it was meant to keep",
                   "drop only the capabilities not in `keep`, and drop from bounding before capset")
    if seen["nnp"] != "1":
        raise fail("NoNewPrivs is not set: a setuid binary could still gain privileges",
                   "kernel.prctl(PR_SET_NO_NEW_PRIVS, 1)")
    if seen["clock"].escaped:
        raise fail("root in the container could still set the host's clock",
                   "CAP_SYS_TIME must leave every set")
    return "root in the container kept only the capabilities asked for; the host's clock is out of reach"
