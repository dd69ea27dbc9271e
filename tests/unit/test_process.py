"""signal_process: the one way the kit signals a process that may be gone or reused."""

from __future__ import annotations

import signal
import subprocess

from kernel_helpers.process import pid_alive, signal_process, start_time


def test_a_process_is_signalled_only_while_it_is_the_same_one() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    try:
        started = start_time(proc.pid)
        assert started > 0
        assert signal_process(proc.pid, signal.SIGTERM, started=started + 1) is False  # "reused"
        assert pid_alive(proc.pid)
        assert signal_process(proc.pid, signal.SIGTERM, started=started) is True
        assert proc.wait(timeout=5) == -signal.SIGTERM
    finally:
        proc.kill()
        proc.wait()
    assert signal_process(proc.pid) is False  # reaped: nothing there to signal


def test_without_a_start_time_any_live_pid_is_signalled() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    assert signal_process(proc.pid) is True
    assert proc.wait(timeout=5) == -signal.SIGKILL
