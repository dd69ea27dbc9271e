"""Soak: 200 create/start/stop/rm cycles leave nothing behind, and the kit does not grow."""

from __future__ import annotations

import os

import pytest

from kernel_helpers import cleanup
from kernel_helpers.cli import build_parser
from kernel_helpers.images.store import containers_fs_root
from kernel_helpers.runtime.manage import remove, stop
from kernel_helpers.runtime.detach import run_detached
from kernel_helpers.runtime.run_options import spec_and_stages
from kernel_helpers.state import all_states

pytestmark = pytest.mark.usefixtures("root")
CYCLES = 200
COMMAND = ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.05; done"]


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS:")).split()[1])


def test_200_cycles_leave_zero_resources_and_no_growth() -> None:
    # Exactly what `labkit run -d` composes: image overlay, cgroup limits, default hardening.
    # --init: SIGTERM must not race the shell's trap (PID 1 ignores unhandled signals).
    args = build_parser("run").parse_args(["run", "-d", "--init", "--memory", "32M",
                                           "--pids-limit", "64", "--", *COMMAND])
    fds_before = len(os.listdir("/proc/self/fd"))
    samples = []
    for cycle in range(CYCLES):
        spec, stages = spec_and_stages(args)
        cid = run_detached(spec, stages)
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
