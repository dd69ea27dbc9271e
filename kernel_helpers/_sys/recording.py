"""A `Kernel` double that records calls in order and can inject errors.

For syscall *order* (pivot_root before umount2 of the old root, the user
namespace first) and for error paths; it is never the test of what a
mechanism does, which is always proven on the real kernel. Labs also print
its trace to show the syscalls a step makes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from kernel_helpers._sys import Kernel
from kernel_helpers.errors import LabkitError

_VERBS = frozenset(name for name in vars(Kernel) if not name.startswith("_"))


@dataclass(frozen=True)
class Call:
    """One recorded syscall: its verb and arguments."""

    verb: str
    args: tuple[Any, ...]

    def __str__(self) -> str:
        return f"{self.verb}({', '.join(map(repr, self.args))})"


@dataclass
class RecordingKernel:
    """Records every call; raises `fail[verb]` on that verb's `fail_on`-th call (1-based)."""

    fail: dict[str, LabkitError] = field(default_factory=dict)
    fail_on: int = 1
    calls: list[Call] = field(default_factory=list)

    def __getattr__(self, verb: str) -> Callable[..., int]:
        if verb not in _VERBS:
            raise AttributeError(verb)

        def record(*args: Any) -> int:
            self.calls.append(Call(verb, args))
            if verb in self.fail and sum(c.verb == verb for c in self.calls) == self.fail_on:
                raise self.fail[verb]
            return 0
        return record

    def verbs(self) -> list[str]:
        return [call.verb for call in self.calls]
