"""The security options of `labkit run`, spelled as Docker spells them.

--cap-add/--cap-drop, --privileged, --security-opt seccomp=unconfined,
--security-opt no-new-privileges=false, --security-opt systempaths=unconfined,
--userns (root inside is host uid 100000) and --time-offset (time namespace).
Hardening is on unless an option turns a piece of it off; --privileged also
lifts the devices cgroup's allow list (`cgroups.stage.device_policy`).

Taught in: lab 08.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from kernel_helpers.errors import InvalidValue
from kernel_helpers.namespaces import Namespace
from kernel_helpers.stage import Stage
from kernel_helpers.spec import ContainerSpec
from kernel_helpers.security.capabilities import parse_cap
from kernel_helpers.security.hardening import Hardening, HardeningStage

SECURITY_OPTS = ("seccomp=unconfined", "no-new-privileges=false", "no-new-privileges=true",
                 "no-new-privileges", "systempaths=unconfined")


def add_security_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("security (on by default, as Docker does)")
    group.add_argument("--cap-add", action="append", default=[], metavar="CAP",
                       help="keep a capability beyond Docker's default 14 (or ALL)")
    group.add_argument("--cap-drop", action="append", default=[], metavar="CAP",
                       help="drop a capability from the default set (or ALL)")
    group.add_argument("--privileged", action="store_true",
                       help="turn all hardening off: every capability, no seccomp, no masks, "
                            "no device rules")
    group.add_argument("--security-opt", action="append", default=[], metavar="OPT",
                       help="seccomp=unconfined, no-new-privileges=false or systempaths=unconfined")
    group.add_argument("--userns", action="store_true",
                       help="user namespace: root inside is host uid 100000, not host root")
    group.add_argument("--time-offset", metavar="SECONDS",
                       help="time namespace: shift CLOCK_MONOTONIC and CLOCK_BOOTTIME by SECONDS")


def hardening_from_options(cap_add: list[str] = (), cap_drop: list[str] = (),  # type: ignore[assignment]
                           privileged: bool = False,
                           security_opt: list[str] = ()) -> Hardening:  # type: ignore[assignment]
    """The Hardening these options ask for; every bad value gets one sentence."""
    hardening = Hardening.naive() if privileged else Hardening()
    add = frozenset("ALL" if c.upper() == "ALL" else parse_cap(c) for c in cap_add)
    drop = frozenset("ALL" if c.upper() == "ALL" else parse_cap(c) for c in cap_drop)
    if add or drop:
        hardening = hardening.with_caps(add, drop)
    for opt in security_opt:
        if opt not in SECURITY_OPTS:
            raise InvalidValue(f"--security-opt '{opt}'", "is not an option the kit knows",
                               f"use one of: {', '.join(SECURITY_OPTS)}")
        key, _, value = opt.partition("=")
        if key == "seccomp":
            hardening = replace(hardening, seccomp=False)
        elif key == "systempaths":
            hardening = replace(hardening, system_paths=False)
        else:
            hardening = replace(hardening, no_new_privs=value != "false")
    return hardening


def parse_time_offset(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidValue(f"--time-offset '{text}'", "is not a whole number of seconds",
                           "give seconds, e.g. --time-offset 86400 (a day ahead)") from None


def apply_security_options(spec: ContainerSpec,
                           args: argparse.Namespace) -> tuple[ContainerSpec, tuple[Stage, ...]]:
    """Add the user and time namespaces to `spec` if asked, and the hardening stage."""
    hardening = hardening_from_options(args.cap_add, args.cap_drop, args.privileged,
                                       args.security_opt)
    namespaces = set(spec.namespaces)
    if args.userns:
        namespaces.add(Namespace.USER)
    offset = spec.time_offset
    if args.time_offset is not None:
        offset = parse_time_offset(args.time_offset)
        namespaces.add(Namespace.TIME)
    spec = replace(spec, namespaces=frozenset(namespaces), time_offset=offset)
    return spec, (HardeningStage(hardening),)
