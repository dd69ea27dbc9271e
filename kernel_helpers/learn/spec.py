"""`Spec`: what a learner's runtime is asked to run, built by the CLI or by the course's harness.

Like an OCI config.json cut down to what the labs so far use. The runtime writes
the container's host pid to `pidfile` (runc's --pid-file), which is how checks
find the container and judge it from the host.

Taught in: lab 01.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from kernel_helpers.files import write_atomic


@dataclass(frozen=True)
class Spec:
    """One container to run."""

    argv: tuple[str, ...]
    """The command and its arguments; argv[0] is looked up on PATH inside the container."""
    rootfs: str | None = None
    """The directory that becomes / (lab 03); None keeps the host's root."""
    pidfile: str | None = None
    """Where the runtime writes the container's pid as the host sees it."""
    hostname: str | None = None
    """The container's hostname (lab 02)."""
    run_prefix: str = "lk"
    """Start of every name the runtime makes on the machine (cgroups, links), so leftovers are found."""
    cgroup_parent: str | None = None
    """Where the runtime's cgroups go (lab 05), relative to the cgroup root."""
    # lab 04: user namespaces
    uid_map: tuple[int, int, int] | None = None
    """(inside, outside, count): uids inside..inside+count-1 are outside.. on the host (lab 04).
    None: no user namespace, the container's root is the host's root."""
    gid_map: tuple[int, int, int] | None = None
    """The same for group ids (lab 04); None with a uid_map: use the uid_map's numbers."""
    # lab 05: cgroups
    memory_max: int | None = None
    """Bytes the container may use (lab 05); None: no memory limit of its own."""
    pids_max: int | None = None
    """Most processes (and threads) the container may have at once (lab 05); None: no limit."""
    # lab 06: union filesystems
    image: tuple[str, ...] = ()
    """The image's layer folders, bottom layer first as images list them (lab 06); with
    `container_dir`, the container's root is an overlay of them (and `rootfs` is not used)."""
    container_dir: str | None = None
    """An empty folder for the container's own upper, work and merged dirs (lab 06); the
    runtime removes it once the container has exited."""
    # lab 08: security
    cap_add: tuple[str, ...] = ()
    """Capabilities the container keeps on top of Docker's default 14, named as `docker run
    --cap-add` takes them without CAP_ (e.g. ("NET_ADMIN",)) (lab 08)."""
    # lab 07: networking
    address: str | None = None
    """The container's IPv4 address with its prefix length, e.g. "10.22.0.5/24" (lab 07): on its
    eth0, in a network namespace of its own. None: no network of its own (the runtime's)."""
    gateway: str | None = None
    """The address of the runtime's end of the container's veth, e.g. "10.22.0.1", on the same
    subnet as `address`: the container's default route goes via it (lab 07)."""
    # lab 05: CPU limits
    cpu_quota: float | None = None
    """How many CPUs' worth of time the container may use, e.g. 1.5 (`docker run --cpus`)
    (lab 05): cpu.max "150000 100000", a quota in microseconds per period of 100000. None: no quota."""
    cpu_weight: int | None = None
    """The container's weight when CPUs are contended, 1..10000, 100 by default (lab 05): v2's
    cpu.weight (v1: cpu.shares, converted). None: the default weight."""


def write_pidfile(spec: Spec, pid: int) -> None:
    """Write `pid` to `spec.pidfile` (if the spec asks for one), atomically: readers never see half.

    Taught in: lab 01.
    """
    if spec.pidfile:
        write_atomic(spec.pidfile, f"{pid}\n")


def exit_status(wait_status: int) -> int:
    """The shell's convention for a wait status: the exit code, or 128 + N when killed by signal N.

    The learner writes this themselves in lab 01; the kit uses it for its own reports.
    """
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.WEXITSTATUS(wait_status)
