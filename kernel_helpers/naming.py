"""One prefix for everything the kit creates, so it can always be found and removed."""

from __future__ import annotations

import os
import re
from pathlib import Path

PREFIX = "lk"
"""Prefix of every container id, interface, netns and cgroup the kit makes."""

STATE_ROOT = Path(os.environ.get("LABKIT_STATE_ROOT", "/run/labkit"))
"""Runtime state (containers, leases); on tmpfs so a reboot clears it."""

DATA_ROOT = Path(os.environ.get("LABKIT_DATA_ROOT", "/var/lib/labkit"))
"""Images and layers, which survive reboots."""

_OURS = re.compile(rf"^{PREFIX}[0-9a-f]{{8}}(?:[a-z0-9-]{{0,5}})$")


def new_name() -> str:
    """A fresh id like ``lk1a2b3c4d``: 10 characters, so suffixes still fit IFNAMSIZ (15)."""
    return PREFIX + os.urandom(4).hex()


def is_ours(name: str) -> bool:
    """True for names made by `new_name`, optionally with a short suffix (``lk1a2b3c4dh``)."""
    return bool(_OURS.match(name))
