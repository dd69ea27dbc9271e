"""Soak: 200 create/start/stop/rm cycles leave nothing behind, and the kit does not grow."""

from __future__ import annotations

import os

import pytest

from kernel_helpers import cleanup
from kernel_helpers.cgroups.stage import CgroupStage, limits_from_options
from kernel_helpers.images.containerfs import containers_fs_root, image_spec_and_stage
from kernel_helpers.runtime.commands import remove, stop
from kernel_helpers.runtime.detach import run_detached
from kernel_helpers.runtime.state import all_states

pytestmark = pytest.mark.usefixtures("root")
CYCLES = 200
COMMAND = ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.05; done"]


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])


def test_200_cycles_leave_zero_resources_and_no_growth() -> None:
    limits = limits_from_options(memory="32M", pids_limit="64")
    assert limits is not None
    fds_before = len(os.listdir("/proc/self/fd"))
    samples = []
    for cycle in range(CYCLES):
        spec, overlay = image_spec_and_stage("busybox", COMMAND, keep=True)
        cid = run_detached(spec, (overlay, CgroupStage(limits)))
        stop(cid, grace=5)
        assert remove(cid) == cid
        if cycle in (19, CYCLES - 1):
            samples.append(rss_kib())
    assert all_states() == []
    assert cleanup.leftovers() == []
    assert not any(name.startswith("lk") for name in os.listdir(containers_fs_root()))
    assert len(os.listdir("/proc/self/fd")) == fds_before
    growth = samples[1] - samples[0]
    assert growth < 2048, f"the kit grew by {growth} KiB over {CYCLES - 20} cycles"
