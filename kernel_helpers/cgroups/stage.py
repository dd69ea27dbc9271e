"""The cgroup part of `labkit run`: options -> Limits, and a Stage putting the container in a group.

The group is named like the container (``labkit/<container id>``) and made
before the first fork; the setup process joins it *before* it unshares the
cgroup namespace, so inside the container the group is the root ("0::/").

Inside, /sys/fs/cgroup shows that group read-only, as runc and Docker do, so a
process can read its own limits (``cat /sys/fs/cgroup/memory.max``) but not
raise them: on v2 a cgroup2 mounted in its cgroup namespace (or, without one,
the group's folder bound there); on v1 a tmpfs with the group's folder of each
controller bound at /sys/fs/cgroup/<controller>.

Taught in: lab 09.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from kernel_helpers._sys.linux import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REMOUNT
from kernel_helpers.cgroups.at_path import create_at
from kernel_helpers.cgroups.controllers import needed
from kernel_helpers.cgroups.devices import DOCKER_DEFAULT, deny, parse_device, without
from kernel_helpers.cgroups.group import Cgroup, create
from kernel_helpers.cgroups.layout import Layout
from kernel_helpers.cgroups.limits import DevicePolicy, Limits
from kernel_helpers.namespaces import Namespace
from kernel_helpers.rootfs.mounts import MountStep
from kernel_helpers.stage import LaunchContext, Stage
from kernel_helpers.units import online_cpus, parse_count, parse_cpu_list, parse_cpus, parse_size

MEMORY_MIN = 6 << 20
"""Docker's smallest memory limit: below it a container cannot even start its command."""
PIDS_MAX = 4194304
"""PID_MAX_LIMIT: pids.max refuses anything larger."""


def add_cgroup_options(parser: argparse.ArgumentParser) -> None:
    """The `labkit run` options that set cgroup limits (docker's names)."""
    parser.add_argument("--memory", metavar="SIZE", help="memory limit, e.g. 64M (cgroup memory)")
    parser.add_argument("--cpus", metavar="N", help="CPU time limit in CPUs, e.g. 0.5 (cgroup cpu)")
    parser.add_argument("--pids-limit", metavar="N", help="most processes at once, e.g. 20")
    parser.add_argument("--cpuset-cpus", metavar="LIST", help="CPUs it may run on, e.g. 0 or 0-1")
    parser.add_argument("--device-deny", metavar="DEV", action="append", default=[],
                        help="a device it may not use: a path (/dev/sda) or rule ('c 1:3 rwm'); "
                             "the devices cgroup allows only Docker's list unless --privileged")


def device_policy(device_deny: list[str] | None = None,
                  privileged: bool = False) -> DevicePolicy | None:
    """Docker's allow list minus `device_deny`; with `privileged`, every device but those."""
    denied = tuple(parse_device(d, "--device-deny") for d in device_deny or ())
    if privileged:
        return deny(*denied) if denied else None
    return without(DOCKER_DEFAULT, denied)


def limits_from_options(memory: str | None = None, cpus: str | None = None,
                        pids_limit: str | None = None, cpuset_cpus: str | None = None,
                        device_deny: list[str] | None = None,
                        privileged: bool = False) -> Limits:
    """Validate the options (one sentence per bad value) into the container's Limits."""
    online = online_cpus()  # --cpus and --cpuset-cpus name only CPUs that exist
    return Limits(
        memory=parse_size(memory, "--memory", MEMORY_MIN) if memory is not None else None,
        cpus=parse_cpus(cpus, "--cpus", len(online)) if cpus is not None else None,
        pids=parse_count(pids_limit, "--pids-limit", maximum=PIDS_MAX) if pids_limit is not None else None,
        cpuset_cpus=parse_cpu_list(cpuset_cpus, "--cpuset-cpus", online) if cpuset_cpus is not None else None,
        devices=device_policy(device_deny, privileged))


def stage_from_args(args: argparse.Namespace) -> tuple[Stage, ...]:
    """The CgroupStage for the parsed options: always one, with Docker's device list at least."""
    # Every container gets a group, limits or not (as Docker does): `stats`, `pause`, `exec`
    # and kill-all all work through it, and the devices cgroup guards it.
    return (CgroupStage(limits_from_options(args.memory, args.cpus, args.pids_limit,
                                            args.cpuset_cpus, args.device_deny,
                                            args.privileged)),)


CGROUP_MOUNT = "/sys/fs/cgroup"
_RO = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY


def mount_steps(group: Cgroup, root: str, cgroupns: bool) -> list[MountStep]:
    """The mounts that show `group`, read-only, at /sys/fs/cgroup under `root` (pure: a lab prints it).

    Taught in: lab 05.
    """
    target = f"{root}{CGROUP_MOUNT}"
    if group.version == 2:
        # In its cgroup namespace a fresh cgroup2's root is the group itself (as runc).
        return [MountStep("cgroup2", target, "cgroup2", _RO) if cgroupns else
                MountStep(group.paths[0], target, None, MS_BIND | _RO)]
    return [MountStep("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755"),
            *(MountStep(folder, f"{target}/{controller}", None, MS_BIND | _RO)
              for controller, folder in sorted(group.folders.items())),
            MountStep(None, target, None, MS_REMOUNT | _RO, "mode=755")]


@dataclass(frozen=True)
class CgroupStage(Stage):
    """Make the container's group with its limits, put the setup process in it, and show it inside."""

    limits: Limits
    layout: Layout | None = None
    """Where the group goes (default: this machine's layout); `v2_only()` on a hybrid machine."""
    mount: bool = True
    """Mount the group at /sys/fs/cgroup inside (an OCI bundle asks for it in its mounts)."""
    path: str | None = None
    """Where the group goes instead of the kit's folder (OCI linux.cgroupsPath)."""

    def prepare(self, ctx: LaunchContext) -> None:
        # Only the hierarchies it needs (v1): each is a folder and a migration at start.
        group = (create_at(self.path, self.limits, self.layout, registry=ctx.registry)
                 if self.path else
                 create(ctx.state.id, self.limits, self.layout, registry=ctx.registry,
                        hierarchies=needed(self.limits)))
        ctx.notes["cgroup"] = group
        ctx.state.extra["cgroup"] = group.paths

    def join(self, ctx: LaunchContext, pid: int) -> None:
        group: Cgroup = ctx.notes["cgroup"]
        group.add(pid)

    def mounts(self, ctx: LaunchContext) -> list[MountStep]:
        if ctx.spec.rootfs is None or not self.mount:
            return []
        root = str(Path(ctx.spec.rootfs).resolve())
        return mount_steps(ctx.notes["cgroup"], root, Namespace.CGROUP in ctx.spec.namespaces)
