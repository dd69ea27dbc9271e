"""Borrow a reference slot: the course's own function, bound to the learner's module.

The harness uses it for stand-ins, and `labkit checkpoint` (in a learner's release,
where the reference ships as bytecode) writes slots that call it. The reference `run`
calls ``enter_rootfs(...)`` by global name: rebinding its code to the learner module's
globals makes that the learner's own enter_rootfs (or its stand-in).

Taught in: lab 01 (the stand-in notes).
"""

from __future__ import annotations

import types
from typing import Any, Callable

from kernel_helpers.learn import reference as _reference

MARK = "borrowed from the course"
"""In a slot `labkit checkpoint` wrote as a call to the reference: it is not the learner's code."""


def reference(name: str, namespace: dict[str, Any]) -> Callable[..., Any]:
    """The reference function `name`, with `namespace` (a module's globals) as its globals."""
    fn = getattr(_reference, name)
    for key, value in vars(_reference).items():  # os, stat, lk... where the learner has none
        if isinstance(value, types.ModuleType):
            namespace.setdefault(key, value)
    return types.FunctionType(fn.__code__, namespace, name, fn.__defaults__, fn.__closure__)


def borrowed_slot(name: str, args: str) -> str:
    """The text of a slot that calls the reference (what checkpoint writes without its source)."""
    call_args = ", ".join(a.split("=")[0].strip() for a in args.split(",") if a.strip())
    return (f"def {name}({args}):\n    \"\"\"{MARK}: labkit checkpoint wrote this; replace it "
            f"with your own.\"\"\"\n    from kernel_helpers.learn.borrow import reference\n"
            f"    return reference({name!r}, globals())({call_args})\n")
