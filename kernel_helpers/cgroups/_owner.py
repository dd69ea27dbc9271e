"""Owner records: which live process made a kit resource, so sweepers spare resources in use.

``STATE_ROOT/<kind>/<name>`` holds "<pid> <start time>". A resource whose
owner is gone (a SIGKILLed `labkit run`, a crashed test) is a leftover; one
made by *this* process also counts, so a test session's leak check sees its own leaks.
"""

from __future__ import annotations

import os

from kernel_helpers import naming
from kernel_helpers.process import same_process, start_time


def owner_dir(kind: str) -> str:
    return str(naming.STATE_ROOT / kind)


def remember(kind: str, name: str) -> None:
    os.makedirs(owner_dir(kind), exist_ok=True)
    with open(os.path.join(owner_dir(kind), name), "w", encoding="ascii") as f:
        f.write(f"{os.getpid()} {start_time(os.getpid())}\n")


def forget(kind: str, name: str) -> None:
    try:
        os.unlink(os.path.join(owner_dir(kind), name))
    except FileNotFoundError:
        pass


def owner_alive(kind: str, name: str) -> bool:
    """True while the process that made it (and not this one) still runs."""
    try:
        with open(os.path.join(owner_dir(kind), name), encoding="ascii") as f:
            pid, started = (int(n) for n in f.read().split())
    except (OSError, ValueError):
        return False
    return pid != os.getpid() and same_process(pid, started)


def recorded(kind: str) -> list[str]:
    """Names with an owner record (kit names only)."""
    folder = owner_dir(kind)
    return [n for n in (os.listdir(folder) if os.path.isdir(folder) else []) if naming.is_ours(n)]
