"""Capabilities on the real kernel, cross-checked against /proc/PID/status and `capsh --decode`."""

from __future__ import annotations

import subprocess

import pytest

from kernel_helpers._sys import LINUX
from kernel_helpers.errors import InvalidValue, LabkitError
from kernel_helpers.namespaces import Namespace, unshare
from kernel_helpers.process import run_in_child
from kernel_helpers.runtime.foreground import run_captured
from kernel_helpers.runtime.run_options import spec_from_options
from kernel_helpers.security.capabilities import (CAPS, DOCKER_DEFAULT, RUNC_SPEC_DEFAULT, drop_to,
                                                  from_mask, last_cap, parse_cap, read_sets,
                                                  to_mask)
from kernel_helpers.security.hardening import Hardening, HardeningStage

pytestmark = pytest.mark.usefixtures("root")


def capsh_decode(mask: int) -> frozenset[str]:
    """Names as the independent tool (libcap's capsh) decodes a mask."""
    out = subprocess.run(["capsh", f"--decode={mask:x}"], capture_output=True, text=True,
                         check=True).stdout.strip()
    names = out.split("=", 1)[1]
    return frozenset(name.removeprefix("cap_").upper() for name in names.split(",") if name)


def status_masks(text: str) -> dict[str, int]:
    return {line.split(":")[0]: int(line.split()[1], 16)
            for line in text.splitlines() if line.startswith("Cap")}


def test_the_table_numbers_capabilities_as_capsh_does() -> None:
    for number in range(last_cap() + 1):
        assert capsh_decode(1 << number) == {CAPS[number]}, number


def test_docker_default_is_a80425fb_against_capsh() -> None:
    assert to_mask(DOCKER_DEFAULT) == 0xA80425FB
    assert capsh_decode(0xA80425FB) == DOCKER_DEFAULT
    assert from_mask(0xA80425FB) == DOCKER_DEFAULT


def test_parse_cap_accepts_docker_and_kernel_spellings_and_names_bad_ones() -> None:
    assert parse_cap("cap_sys_admin") == parse_cap("SYS_ADMIN") == "SYS_ADMIN"
    with pytest.raises(InvalidValue, match="'SYS_GOD'"):
        parse_cap("SYS_GOD")


def _caps_of_command(hardening: Hardening) -> dict[str, int]:
    spec = spec_from_options(["/bin/grep", "Cap", "/proc/self/status"])
    code, out = run_captured(spec, (HardeningStage(hardening),))
    assert code == 0, out
    return status_masks(out)


def test_the_command_runs_with_exactly_dockers_set_against_status_and_capsh() -> None:
    masks = _caps_of_command(Hardening())  # read by the exec'ed busybox, not by the kit
    for field in ("CapEff", "CapPrm", "CapBnd"):
        assert capsh_decode(masks[field]) == DOCKER_DEFAULT, field
    assert masks["CapInh"] == masks["CapAmb"] == 0


def test_a_naive_container_keeps_every_capability_so_the_check_can_fail() -> None:
    masks = _caps_of_command(Hardening.naive())
    assert capsh_decode(masks["CapEff"]) != DOCKER_DEFAULT
    assert {"SYS_ADMIN", "SYS_MODULE", "SYS_TIME"} <= capsh_decode(masks["CapEff"])
    assert masks["CapEff"] == status_masks(open("/proc/self/status").read())["CapBnd"]


def test_cap_add_and_cap_drop_change_the_set() -> None:
    masks = _caps_of_command(Hardening().with_caps(add=frozenset({"NET_ADMIN"}),
                                                   drop=frozenset({"MKNOD", "CHOWN"})))
    assert capsh_decode(masks["CapEff"]) == DOCKER_DEFAULT - {"MKNOD", "CHOWN"} | {"NET_ADMIN"}
    assert _caps_of_command(Hardening().with_caps(drop=frozenset({"ALL"})))["CapEff"] == 0


def _drop_then_sethostname() -> tuple[frozenset[str], tuple[int, int, int], str]:
    unshare({Namespace.UTS})  # a hostname of our own, so the attempt cannot touch the host's
    drop_to(RUNC_SPEC_DEFAULT)
    sets = read_sets()
    try:
        LINUX.sethostname("lk-should-fail")
        outcome = "changed"
    except LabkitError as err:
        outcome = type(err).__name__
    assert sets.bounding == sets.effective == sets.permitted
    assert not sets.inheritable and not sets.ambient
    return sets.effective, LINUX.capget(), outcome


def test_drop_to_in_a_forked_child_removes_the_power_not_just_the_bit() -> None:
    effective, (eff, prm, inh), outcome = run_in_child(_drop_then_sethostname)
    assert effective == RUNC_SPEC_DEFAULT
    assert (from_mask(eff), from_mask(prm), inh) == (RUNC_SPEC_DEFAULT, RUNC_SPEC_DEFAULT, 0)
    assert outcome == "NotRoot"  # EPERM: CAP_SYS_ADMIN is gone
    assert "SYS_ADMIN" in read_sets().effective  # the test process itself is untouched
