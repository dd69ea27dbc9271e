"""Where the kit runs: inside the lab VM, or on someone's own machine.

The lab VM's provisioning (`vagrant/provision.sh --vm`) writes `LAB_VM_MARKER`.
Outside the VM the kit says once that it changes this machine's kernel state as
root and suggests the VM; inside it, where the `vagrant` user may sudo without a
password, a learner's `labkit` re-runs itself as root so nobody types sudo.

Taught in: lab 00.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

LAB_VM_MARKER = Path("/etc/labkit/lab-vm")
"""Written by vagrant/lab-vm.sh inside the lab VM, and only there."""

STAMP_NAME = "outside-vm-warned"
"""File under ~/.labkit whose presence means the outside-the-VM note was shown."""

NOTE = (
    "labkit: note: this machine is not the labkit lab VM. labkit makes real changes to its "
    "kernel state as root (mounts, namespaces, cgroups, network interfaces) and removes them "
    "with `labkit cleanup`. To keep your own machine out of it, use the lab VM: run "
    "`vagrant up` in the kit's folder (README: \"The lab VM\"). This note is shown once.\n"
)


def in_lab_vm(marker: Path = LAB_VM_MARKER) -> bool:
    """True inside the lab VM that vagrant/provision.sh --vm set up.

    Taught in: lab 00.
    """
    return marker.is_file()


def warn_once_outside_vm(stream: TextIO | None = None, marker: Path = LAB_VM_MARKER,
                         stamp: Path | None = None) -> bool:
    """Print `NOTE` to a person (a terminal) the first time, outside the VM; True if printed.

    Output that is not a terminal (scripts, tests, CI) gets nothing, so the note
    never changes what a script sees. Taught in: lab 00.
    """
    stream = sys.stderr if stream is None else stream
    stamp = Path.home() / ".labkit" / STAMP_NAME if stamp is None else stamp
    if not stream.isatty() or in_lab_vm(marker):
        return False
    try:
        if stamp.exists():
            return False
    except OSError:
        return False  # a home we may not read (sudo -u without -H): no place to remember it
    stream.write(NOTE)
    stream.flush()
    try:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
    except OSError:
        pass  # an unwritable home: the note shows again next time, which is harmless
    return True


def rerun_as_root_in_lab_vm(marker: Path = LAB_VM_MARKER) -> None:
    """In the lab VM, replace this non-root `labkit` process with the same command under sudo.

    Returns only when nothing was done (already root, or not the lab VM).
    """
    if os.geteuid() == 0 or not in_lab_vm(marker):
        return
    # orig_argv keeps the interpreter flags (the launcher's -IS) and the script path.
    os.execvp("sudo", ["sudo", "--", sys.executable, *sys.orig_argv[1:]])
