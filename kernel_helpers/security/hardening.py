"""Hardening: the runtime's defences, each one switchable so a lab can show before and after.

`Hardening()` is what `labkit run` does by default (Docker's defaults);
`Hardening.naive()` (or `--privileged`) turns every item off. The
`HardeningStage` plugs them into the container start: mounts before
pivot_root, then capabilities, no_new_privs and seccomp just before exec.

Taught in: lab 08.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers._sys.linux import MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_REMOUNT, PR_SET_NO_NEW_PRIVS
from kernel_helpers.namespaces import Namespace
from kernel_helpers.rootfs.mounts import MountStep
from kernel_helpers.stage import LaunchContext, Stage
from kernel_helpers.security import seccomp
from kernel_helpers.security.capabilities import (CAPS, DOCKER_DEFAULT, CapSets, keep_only,
                                                   limit_bounding, set_sets)
from kernel_helpers.security.masking import (MASKED_PATHS, READONLY_PATHS, nodev_steps,
                                             plan_masking)


@dataclass(frozen=True)
class Hardening:
    """Which defences a container gets; the defaults are Docker's."""

    caps: frozenset[str] | None = DOCKER_DEFAULT
    """Capabilities kept in every set; None keeps all of root's."""
    no_new_privs: bool = True
    """prctl(PR_SET_NO_NEW_PRIVS): setuid binaries and file caps cannot add privileges."""
    seccomp: bool = True
    """Docker's default seccomp profile, for the capabilities kept."""
    system_paths: bool = True
    """runc's masked and read-only /proc and /sys paths."""
    nodev: bool = True
    """Writable mounts are nodev: device nodes made inside cannot be opened."""
    sys_writable: bool = False
    """Mount /sys read-write, as `docker run --privileged` does."""
    masked: tuple[str, ...] = MASKED_PATHS
    readonly: tuple[str, ...] = READONLY_PATHS
    """The paths `system_paths` masks and write-protects (an OCI config may list its own)."""
    cap_sets: CapSets | None = None
    """The five sets one by one, as an OCI config gives them; None: `caps` in bounding,
    permitted and effective, nothing inheritable or ambient (Docker's way)."""

    @classmethod
    def naive(cls) -> Hardening:
        """Everything off: root with every capability, as `--privileged` gives."""
        return cls(caps=None, no_new_privs=False, seccomp=False, system_paths=False,
                   nodev=False, sys_writable=True)

    def with_caps(self, add: frozenset[str] = frozenset(),
                  drop: frozenset[str] = frozenset()) -> Hardening:
        """--cap-add / --cap-drop on top of this configuration ('ALL' means every capability)."""
        caps = frozenset(CAPS) if self.caps is None else self.caps
        caps = frozenset(CAPS) if "ALL" in add else caps | add
        caps = frozenset() if "ALL" in drop else caps - drop
        return replace(self, caps=caps)

    def to_record(self) -> dict[str, Any]:
        """Plain JSON data for the state file, so `labkit exec` applies the same thing later."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["caps"] = None if self.caps is None else sorted(self.caps)
        data["masked"], data["readonly"] = list(self.masked), list(self.readonly)
        if self.cap_sets is not None:
            data["cap_sets"] = {name: sorted(value) for name, value in asdict(self.cap_sets).items()}
        return data

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Hardening:
        """The Hardening a state file recorded (`to_record`'s inverse)."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        if values.get("caps") is not None:
            values["caps"] = frozenset(values["caps"])
        for key in ("masked", "readonly"):
            if key in values:
                values[key] = tuple(values[key])
        if values.get("cap_sets") is not None:
            values["cap_sets"] = CapSets(**{k: frozenset(v) for k, v in values["cap_sets"].items()})
        return cls(**values)

    def describe(self) -> list[str]:
        """One line per item, for labs and `labkit audit` headers."""
        kept = "all" if self.caps is None else ",".join(sorted(self.caps)) or "none"
        return [f"capabilities: {kept}", f"no_new_privs: {'on' if self.no_new_privs else 'off'}",
                f"seccomp: {'docker default' if self.seccomp else 'unconfined'}",
                f"masked/read-only paths: {'on' if self.system_paths else 'off'}",
                f"nodev mounts: {'on' if self.nodev else 'off'}",
                f"/sys: {'read-write' if self.sys_writable else 'read-only'}"]


RECORD_KEY = "hardening"
"""Where the state file's `extra` keeps what PID 1 got (`Hardening.to_record`)."""


class HardeningStage(Stage):
    """Applies a `Hardening` to one container start."""

    def __init__(self, hardening: Hardening = Hardening(), kernel: Kernel = LINUX) -> None:
        self.hardening = hardening
        self.kernel = kernel
        self.profile = seccomp_profile(hardening)
        self.program: bytes | None = None

    def prepare(self, ctx: LaunchContext) -> None:
        # Compile in the supervisor: libseccomp is not reachable after pivot_root.
        self.program = seccomp_program(self.hardening)
        ctx.state.extra[RECORD_KEY] = self.hardening.to_record()

    def mounts(self, ctx: LaunchContext) -> list[MountStep]:
        if ctx.spec.rootfs is None:
            return []
        root = str(Path(ctx.spec.rootfs).resolve())
        h = self.hardening
        steps = plan_masking(root, h.masked, h.readonly) if h.system_paths else []
        if self.hardening.nodev:
            steps += nodev_steps(root, ctx.spec.read_only)
        if self.hardening.sys_writable and Namespace.NET in ctx.spec.namespaces:
            steps.append(MountStep(None, f"{root}/sys", None,
                                   MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_NOEXEC))
        return steps

    def inside(self, ctx: LaunchContext) -> None:
        apply(self.hardening, self.program, self.kernel, user=ctx.spec.user,
              groups=ctx.spec.groups)


def seccomp_profile(hardening: Hardening) -> seccomp.Profile | None:
    """Docker's profile for the capabilities `hardening` keeps; None when seccomp is off."""
    if not hardening.seccomp:
        return None
    return seccomp.docker_default(frozenset(CAPS) if hardening.caps is None else hardening.caps)


def seccomp_program(hardening: Hardening) -> bytes | None:
    """The compiled filter; call it on the host side, before pivot_root or setns(mnt)."""
    profile = seccomp_profile(hardening)
    return None if profile is None else seccomp.cached_bpf(profile)


def recorded(extra: dict[str, Any]) -> Hardening:
    """The hardening a container's PID 1 got, from its state's `extra`.

    A container started without a HardeningStage recorded nothing; exec then gets
    Docker's defaults, never more than them.
    """
    data = extra.get(RECORD_KEY)
    return Hardening.from_record(data) if isinstance(data, dict) else Hardening()


def become(uid: int, gid: int, kernel: Kernel = LINUX, groups: tuple[int, ...] = ()) -> None:
    """Switch every uid and gid (real, effective, saved), and the supplementary groups.

    In a user namespace the ids are the namespace's: `become(0, 0)` right after
    setns or unshare is root inside, the mapped host uid (e.g. 100000) outside,
    never host root. Groups already in place are not set again (setgroups(2)
    needs CAP_SETGID, which may be gone by then).
    """
    if sorted(set(groups)) != sorted(set(os.getgroups())):
        kernel.setgroups(list(groups))
    kernel.setresgid(gid, gid, gid)
    kernel.setresuid(uid, uid, uid)


def apply(hardening: Hardening, program: bytes | None, kernel: Kernel = LINUX,
          user: tuple[int, int] | None = None, groups: tuple[int, ...] = ()) -> None:
    """Drop to `hardening` in the calling process, right before exec, and become `user`.

    The one path for a container's PID 1 and for every `labkit exec` (as runc's
    init and its setns process share theirs). runc's order: the bounding set,
    then the switch of user (permitted kept across it), then the other
    capability sets, then no_new_privs, then seccomp. seccomp comes last so the
    filter only has to allow what the command does, not this setup;
    no_new_privs comes before it because, once CAP_SYS_ADMIN is dropped, the
    kernel accepts a filter only from a process with no_new_privs set. Without
    no_new_privs the filter must go on first, while CAP_SYS_ADMIN is still there.
    """
    early = program is not None and not hardening.no_new_privs
    if early:
        seccomp.load(program, kernel)  # type: ignore[arg-type]
    sets = None if hardening.caps is None else hardening.cap_sets or keep_only(hardening.caps)
    if sets is not None:
        limit_bounding(sets.bounding, kernel)
    if user is not None:
        become(*user, kernel=kernel, groups=groups)
    if sets is not None:
        set_sets(sets, kernel)
    if hardening.no_new_privs:
        kernel.prctl(PR_SET_NO_NEW_PRIVS, 1)
    if program is not None and not early:
        seccomp.load(program, kernel)
