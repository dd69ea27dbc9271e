"""The OCI bundle's own part of a container start: its mounts in order, devices, rlimits, OOM score.

Mounts are the config's, in its order, with their options and propagation;
device nodes are made inside; rlimits and oom_score_adj are set by the
supervisor on the setup process (runc sets them from its parent too: inside a
user namespace the container could no longer raise them), and its children
inherit them.

Taught in: lab 09.
"""

from __future__ import annotations

import os
import resource
import stat
from dataclasses import dataclass
from functools import partial
from typing import Any

from kernel_helpers._sys.linux import (MS_BIND, MS_DIRSYNC, MS_MANDLOCK, MS_NOATIME, MS_NODEV,
                                       MS_NODIRATIME, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC,
                                       MS_RELATIME, MS_STRICTATIME, MS_SYNCHRONOUS)
from kernel_helpers._sys import LINUX
from kernel_helpers._sys.linux import MNT_DETACH
from kernel_helpers.errors import InvalidValue, LabkitError
from kernel_helpers.namespaces import Namespace
from kernel_helpers.rootfs.mounts import PROPAGATION, MountStep
from kernel_helpers.stage import LaunchContext, Stage

MOUNT_FLAGS = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
               "bind": MS_BIND, "rbind": MS_BIND | MS_REC, "noatime": MS_NOATIME,
               "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME,
               "strictatime": MS_STRICTATIME, "sync": MS_SYNCHRONOUS, "dirsync": MS_DIRSYNC,
               "mand": MS_MANDLOCK}
"""mount(8) option -> mount(2) flag."""
CLEARING = frozenset({"rw", "suid", "dev", "exec", "atime", "diratime", "norelatime",
                      "nostrictatime", "async", "nomand", "tmpcopyup", "rro", "rrw"})
"""Options that only clear a flag (the default) or that the kit does not act on."""
DEVICE_TYPES = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}
EXTRA_KEY = "oci"
"""Where the state's `extra` keeps the bundle, hooks and annotations."""


def _detach(rootfs: str) -> None:
    try:
        LINUX.umount2(rootfs, MNT_DETACH)
    except LabkitError:
        pass  # never mounted: the start failed before its first mount


def mount_steps(mounts: list[dict[str, Any]], rootfs: str) -> list[MountStep]:
    """The config's mounts as MountSteps, in order (cgroup ones: the CgroupStage makes them)."""
    steps: list[MountStep] = []
    for item in mounts:
        destination = item.get("destination")
        if not destination or not destination.startswith("/"):
            raise InvalidValue(f"mount destination '{destination}'", "is not an absolute path",
                               "give each mount an absolute destination inside the container")
        if item.get("type") == "cgroup":
            continue
        flags, propagation, data = 0, 0, []
        for option in item.get("options") or []:
            if option in MOUNT_FLAGS:
                flags |= MOUNT_FLAGS[option]
            elif option in PROPAGATION:
                propagation = PROPAGATION[option]
            elif option not in CLEARING:
                data.append(option)
        bind = bool(flags & MS_BIND) or item.get("type") in ("bind", "rbind")
        if item.get("type") == "rbind":
            flags |= MS_BIND | MS_REC
        elif bind:
            flags |= MS_BIND
        source = item.get("source")
        if bind and source and not os.path.isabs(source):
            source = os.path.join(rootfs, source)
        if bind and (not source or not os.path.exists(source)):
            raise InvalidValue(f"mount source '{source}'", "does not exist",
                               f"create it, or fix the source of the mount on {destination}")
        target = f"{rootfs}{os.path.normpath(destination)}"
        steps.append(MountStep(source, target, None if bind else item.get("type"), flags,
                               None if bind else ",".join(data) or None,
                               make_file=bind and os.path.isfile(source or "")))
        if propagation:
            steps.append(MountStep(None, target, None, propagation))
    return steps


@dataclass(frozen=True)
class Device:
    """One linux.devices entry: a node made in the container's /dev."""

    path: str
    mode: int
    major: int
    minor: int
    uid: int | None
    gid: int | None

    @classmethod
    def from_config(cls, item: dict[str, Any]) -> Device:
        kind, path = item.get("type"), str(item.get("path", ""))
        if kind not in DEVICE_TYPES:
            raise InvalidValue(f"device '{path}' type '{kind}'", "is not a device type",
                               "use c, u, b or p")
        if not path.startswith("/dev/"):
            raise InvalidValue(f"device path '{path}'", "is not under /dev",
                               "put device nodes under /dev")
        return cls(path, DEVICE_TYPES[kind] | (item.get("fileMode") or 0o666),
                   int(item.get("major", 0)), int(item.get("minor", 0)),
                   item.get("uid"), item.get("gid"))

    def make(self) -> None:
        """mknod it (in the container, after pivot_root), replacing whatever is there."""
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
        if os.path.lexists(self.path):
            os.unlink(self.path)
        os.mknod(self.path, self.mode, os.makedev(self.major, self.minor))
        os.chmod(self.path, self.mode & 0o7777)  # mknod's mode passes through the umask
        if self.uid is not None or self.gid is not None:
            os.chown(self.path, -1 if self.uid is None else self.uid,
                     -1 if self.gid is None else self.gid)


class OciBundle(Stage):
    """Records the bundle; makes the config's mounts and devices; sets rlimits and OOM score."""

    def __init__(self, bundle: str, steps: list[MountStep], devices: tuple[Device, ...] = (),
                 rlimits: tuple[tuple[int, int, int], ...] = (), oom_score_adj: int | None = None,
                 hooks: dict[str, list[dict[str, Any]]] | None = None,
                 annotations: dict[str, str] | None = None) -> None:
        self.bundle, self.steps, self.devices = bundle, steps, devices
        self.rlimits, self.oom_score_adj = rlimits, oom_score_adj
        self.hooks, self.annotations = hooks or {}, annotations or {}

    def prepare(self, ctx: LaunchContext) -> None:
        ctx.state.extra["bundle"] = self.bundle
        ctx.state.extra[EXTRA_KEY] = {"hooks": self.hooks, "annotations": self.annotations}
        spec = ctx.spec
        if spec.rootfs and Namespace.MNT not in spec.namespaces | {ns for ns, _ in spec.join}:
            # No mount namespace: the mounts are made in ours (as runc does); unmount them,
            # the root bind and everything under it, when the container is gone.
            ctx.registry.push(f"mounts under {spec.rootfs}", partial(_detach, spec.rootfs))

    def join(self, ctx: LaunchContext, pid: int) -> None:
        for number, soft, hard in self.rlimits:
            resource.prlimit(pid, number, (soft, hard))
        if self.oom_score_adj is not None:
            with open(f"/proc/{pid}/oom_score_adj", "w") as f:
                f.write(str(self.oom_score_adj))

    def mounts(self, ctx: LaunchContext) -> list[MountStep]:
        return self.steps

    def inside(self, ctx: LaunchContext) -> None:
        for device in self.devices:
            device.make()
