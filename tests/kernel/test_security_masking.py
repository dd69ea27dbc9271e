"""Masked and read-only /proc and /sys paths, and nodev mounts, seen by an exec'ed busybox."""

from __future__ import annotations

import os

import pytest

from kernel_helpers._sys.linux import MS_BIND, MS_RDONLY
from kernel_helpers.runtime.foreground import run_captured
from kernel_helpers.runtime.run_options import spec_from_options
from kernel_helpers.security.hardening import Hardening, HardeningStage
from kernel_helpers.security.masking import MASKED_PATHS, READONLY_PATHS, plan_masking

pytestmark = pytest.mark.usefixtures("root")

SHOW = "for f in /proc/keys /proc/timer_list; do echo \"$f:$(head -c 64 $f | wc -c)\"; done; " \
       "echo \"firmware:$(ls -A /sys/firmware | wc -l)\"; echo \"acpi:$(ls -A /proc/acpi | wc -l)\""


def _sh(script: str, hardening: Hardening) -> tuple[int, str]:
    return run_captured(spec_from_options(["/bin/sh", "-c", script]), (HardeningStage(hardening),))


def _counts(out: str) -> dict[str, int]:
    return {line.split(":")[0]: int(line.split(":")[1]) for line in out.splitlines() if ":" in line}


def test_the_plan_covers_runcs_paths_that_exist_on_this_kernel() -> None:
    steps = {step.target.removeprefix("/r"): step for step in plan_masking("/r")}
    for path in MASKED_PATHS:
        if os.path.isdir(path):
            assert (steps[path].fstype, steps[path].flags & MS_RDONLY) == ("tmpfs", MS_RDONLY)
        elif os.path.exists(path):
            assert steps[path].source == "/dev/null" and steps[path].make_file
        else:
            assert path not in steps  # e.g. /proc/kcore on a kernel without it
    for path in READONLY_PATHS:
        if os.path.exists(path):
            assert steps[path].flags & (MS_BIND | MS_RDONLY) == MS_BIND | MS_RDONLY


def test_masked_paths_read_empty_in_the_hardened_container() -> None:
    code, out = _sh(SHOW, Hardening())
    assert code == 0, out
    assert _counts(out) == {"/proc/keys": 0, "/proc/timer_list": 0, "firmware": 0, "acpi": 0}


@pytest.mark.parametrize("hardening", [Hardening.naive(), Hardening(system_paths=False)],
                         ids=["naive", "systempaths=unconfined"])
def test_without_masks_the_same_paths_show_the_hosts_data(hardening: Hardening) -> None:
    code, out = _sh(SHOW, hardening)
    assert code == 0, out
    counts = _counts(out)
    assert counts["/proc/timer_list"] > 0 and counts["firmware"] > 0
    assert counts["/proc/keys"] > 0  # the host's keyrings, e.g. .builtin_trusted_keys


def test_proc_sys_is_read_only_but_only_when_hardened() -> None:
    # `: >>` opens for writing and writes nothing: safe even where it succeeds.
    script = ": >> /proc/sys/vm/swappiness && echo writable"
    code, out = _sh(script, Hardening())
    assert "Read-only file system" in out and code != 0, out
    code, out = _sh(script, Hardening.naive())
    assert out.strip() == "writable", out


def test_a_device_node_made_inside_cannot_be_opened_on_nodev_mounts() -> None:
    script = "mknod /dev/lk-null c 1 3 && head -c 1 /dev/lk-null; echo rc=$?; rm -f /dev/lk-null"
    _, hardened = _sh(script, Hardening())
    assert "Permission denied" in hardened and "rc=1" in hardened, hardened
    _, naive = _sh(script, Hardening.naive())
    assert "rc=0" in naive, naive
