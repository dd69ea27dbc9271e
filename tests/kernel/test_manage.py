"""Managing many containers: run -d, ps, logs, stop, kill, rm, restart, under concurrency."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kernel_helpers import cleanup
from kernel_helpers.state import all_states, containers_dir
from kernel_helpers.testing import labkit

pytestmark = pytest.mark.usefixtures("root")
TICKER = "trap 'echo bye; exit 3' TERM; echo hello; while true; do sleep 0.05; done"


def detached(*args: str) -> str:
    result = labkit("run", "-d", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def wait_for(predicate, seconds: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_detached_lifecycle_ps_logs_stop_rm() -> None:
    cid = detached("--name", "lk-web", "--", "/bin/sh", "-c", TICKER)
    assert len(cid) == 10 and cid.startswith("lk")
    ps = labkit("ps").stdout
    assert cid in ps and "lk-web" in ps and "running" in ps
    wait_for(lambda: "hello" in labkit("logs", "lk-web").stdout)
    assert labkit("rm", "lk-web").returncode == 2  # still running: refused with one sentence
    assert labkit("stop", "-t", "5", "lk-web").returncode == 0
    info = json.loads(labkit("inspect", cid).stdout)
    assert (info["live_status"], info["exit_code"]) == ("exited (3)", 3)
    assert labkit("logs", cid).stdout == "hello\nbye\n"
    assert "lk-web" in labkit("ps", "-a").stdout and "lk-web" not in labkit("ps").stdout
    assert labkit("rm", cid).stdout.strip() == cid
    assert not (containers_dir() / cid).exists()


def test_a_taken_name_is_refused_in_one_sentence() -> None:
    cid = detached("--name", "lk-dup", "--", "/bin/sleep", "30")
    try:
        result = labkit("run", "-d", "--name", "lk-dup", "--", "/bin/true")
        assert result.returncode == 2
        assert result.stderr == ("labkit: container name 'lk-dup': is already in use. Pick another "
                                 "name, or remove the old one with `labkit rm lk-dup`.\n")
    finally:
        assert labkit("rm", "-f", cid).returncode == 0


def test_logs_follow_ends_when_the_container_exits() -> None:
    cid = detached("--", "/bin/sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.1; done")
    result = labkit("logs", "-f", cid, timeout=20)
    assert result.stdout == "line 1\nline 2\nline 3\n"
    labkit("rm", cid)


# After a second (for `logs -f` to attach), lines of 100 bytes every 50 ms: a 1K log
# rotates about every half second while `logs -f` reads it (it polls every 0.1 s).
NUMBERED = ("sleep 1; i=100; while [ $i -lt 160 ]; do printf 'line %s %091d\\n' $i 0; "
            "i=$((i+1)); sleep 0.05; done; ls -l /proc/self/fd/ >&2")


def test_the_log_is_a_pipe_capped_and_rotated_and_logs_f_follows_it() -> None:
    cid = detached("--log-max-size", "1K", "--", "/bin/sh", "-c", NUMBERED)
    try:
        followed = labkit("logs", "-f", cid, timeout=30).stdout.splitlines()
        numbers = [line.split()[1] for line in followed if line.startswith("line ")]
        assert numbers == [str(i) for i in range(100, 160)]  # every line, in order, across ~6 rotations
        # The container held a pipe, never the host's log file.
        stdio = {line.split(" -> ")[1] for line in followed if " 1 -> " in line or " 2 -> " in line}
        assert len(stdio) == 1 and stdio.pop().startswith("pipe:["), followed[-6:]
        log = containers_dir() / cid / "container.log"
        rotated = log.with_name("container.log.1")
        assert rotated.exists() and rotated.stat().st_size <= 1024 and log.stat().st_size <= 1024
        kept = labkit("logs", cid).stdout
        assert kept.endswith(log.read_text()) and kept.startswith(rotated.read_text())
        assert "line 159" in kept and "line 100" not in kept  # only two files' worth is kept
    finally:
        labkit("rm", "-f", cid)


def test_a_bad_log_max_size_gets_one_sentence() -> None:
    result = labkit("run", "-d", "--log-max-size", "12", "--", "/bin/true")
    assert (result.returncode, result.stderr) == (2, "labkit: --log-max-size '12': is below 1K. "
                                                     "Give a size such as 10M, or max to never rotate.\n")


def test_kill_sends_the_signal_asked_for() -> None:
    cid = detached("--", "/bin/sh", "-c", TICKER)
    wait_for(lambda: "hello" in labkit("logs", cid).stdout)
    assert labkit("kill", "-s", "TERM", cid).returncode == 0
    wait_for(lambda: "exited (3)" in labkit("ps", "-a").stdout)
    assert labkit("kill", "-s", "BOGUS", cid).stderr.startswith(
        "labkit: signal 'BOGUS': is not a signal name or number.")
    assert labkit("kill", cid).stderr.startswith(f"labkit: container '{cid}': is not running.")
    labkit("rm", cid)


def test_a_sigkilled_container_is_recorded_and_removable() -> None:
    cid = detached("--", "/bin/sleep", "30")
    state = next(s for s in all_states() if s.id == cid)
    import os
    import signal
    os.kill(state.pid, signal.SIGKILL)
    wait_for(lambda: "exited (137)" in labkit("ps", "-a").stdout)
    assert labkit("rm", cid).returncode == 0


def test_restart_on_failure_stops_after_n_retries() -> None:
    cid = detached("--restart", "on-failure:2", "--", "/bin/sh", "-c", "echo try; exit 1")
    wait_for(lambda: json.loads(labkit("inspect", cid).stdout)["live_status"] == "exited (1)"
             and labkit("logs", cid).stdout.count("try") == 3)
    assert json.loads(labkit("inspect", cid).stdout)["restarts"] == 2
    assert labkit("run", "--restart", "sometimes", "--", "/bin/true").stderr.startswith(
        "labkit: restart policy 'sometimes': is not a restart policy.")
    labkit("rm", cid)


def test_ten_parallel_runs_and_removes_lose_no_state() -> None:
    with ThreadPoolExecutor(10) as pool:
        ids = list(pool.map(lambda i: detached("--name", f"lk-par{i}", "--", "/bin/sleep", "30"),
                            range(10)))
    assert len(set(ids)) == 10
    listed = labkit("ps").stdout
    assert all(cid in listed for cid in ids)
    with ThreadPoolExecutor(10) as pool:
        removed = list(pool.map(lambda cid: labkit("rm", "-f", cid), ids))
    assert all(r.returncode == 0 for r in removed), [r.stderr for r in removed]
    assert not any(Path(containers_dir(), cid).exists() for cid in ids)
    assert cleanup.leftovers() == []


def test_unknown_container_gets_one_sentence() -> None:
    result = labkit("logs", "no-such-box")
    assert (result.returncode, result.stderr) == (2, "labkit: container 'no-such-box': no such "
                                                     "container. Run `labkit ps -a` to see them.\n")


def test_exec_joins_the_running_containers_namespaces() -> None:
    cid = detached("--hostname", "lk-execbox", "--", "/bin/sleep", "30")
    try:
        result = labkit("exec", cid, "--", "/bin/sh", "-c",
                        "hostname; echo $$; cat /proc/1/cmdline | tr '\\0' ' '; exit 5")
        assert result.returncode == 5
        assert result.stdout.splitlines() == ["lk-execbox", "2", "/bin/sleep 30 "]
        missing = labkit("exec", cid, "--", "/no/such")
        assert (missing.returncode, missing.stderr) == (
            2, "labkit: command '/no/such': was not found in the container. "
               "Check the command and that the rootfs has it (try /bin/sh).\n")
    finally:
        labkit("rm", "-f", cid)
    stopped = labkit("exec", cid, "--", "/bin/true")
    assert stopped.returncode == 2 and "no such container" in stopped.stderr


def test_pause_freezes_and_unpause_resumes_and_stats_reads_the_cgroup() -> None:
    cid = detached("--memory", "64M", "--pids-limit", "50", "--", "/bin/sh", "-c",
                   "i=0; while true; do i=$((i+1)); echo $i > /tmp/n; done")
    try:
        state = next(s for s in all_states() if s.id == cid)
        counter = Path(f"/proc/{state.pid}/root/tmp/n")  # the container's file, seen from the host
        wait_for(lambda: counter.exists() and counter.read_text().strip() != "")

        def count() -> int:
            text = counter.read_text().strip()
            return int(text) if text else -1
        assert labkit("pause", cid).returncode == 0
        assert "paused" in labkit("ps").stdout
        before = count()
        time.sleep(0.3)
        assert count() == before  # frozen: no progress at all
        assert labkit("unpause", cid).returncode == 0
        wait_for(lambda: count() > before)
        numbers = labkit("stats", "--no-stream", cid).stdout.splitlines()[1].split()
        assert numbers[0] == cid and numbers[2] == "64.0MiB" and int(numbers[4]) >= 1
    finally:
        labkit("rm", "-f", cid)


def test_a_paused_container_can_still_be_stopped_and_removed() -> None:
    cid = detached("--", "/bin/sleep", "60")
    state = next(s for s in all_states() if s.id == cid)
    assert labkit("pause", cid).returncode == 0
    refused = labkit("kill", cid)
    assert refused.returncode == 2 and "is paused" in refused.stderr
    assert labkit("rm", "-f", cid).returncode == 0
    wait_for(lambda: not Path(f"/proc/{state.pid}").exists(), 10)
    assert cleanup.leftovers() == []


def _start_detached_and_return() -> str:
    from kernel_helpers.cli import build_parser
    from kernel_helpers.runtime.detach import run_detached
    from kernel_helpers.runtime.run_options import spec_and_stages
    args = build_parser("run").parse_args(["run", "-d", "--", "/bin/sh", "-c", "sleep 45"])
    spec, stages = spec_and_stages(args)
    return run_detached(spec, stages)


def test_a_detached_container_keeps_none_of_its_callers_pipes() -> None:
    """run_in_child reads its pipe to EOF: a supervisor that kept it open would hang a check."""
    from kernel_helpers.process import run_in_child
    from kernel_helpers.runtime.manage import remove
    began = time.monotonic()
    cid = run_in_child(_start_detached_and_return, timeout=20)
    took = time.monotonic() - began
    remove(cid, force=True)
    assert took < 15, f"run_in_child waited {took:.0f} s for a pipe the container kept open"
