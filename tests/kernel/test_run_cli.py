"""`labkit run` as a learner uses it: exit codes, signals, PID 1 duties, bad input, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from kernel_helpers import cleanup
from kernel_helpers.state import all_states
from kernel_helpers.testing import labkit

pytestmark = pytest.mark.usefixtures("root")
LABKIT = [sys.executable, "-m", "kernel_helpers"]


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([*LABKIT, "run", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def container_pid(supervisor: int, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for state in all_states():
            if state.supervisor_pid == supervisor and state.status == "running":
                return state.pid
        time.sleep(0.01)
    raise AssertionError("the container never started")


def test_exit_code_is_passed_through() -> None:
    assert labkit("run", "--", "/bin/sh", "-c", "exit 42").returncode == 42
    assert labkit("run", "--", "/bin/true").returncode == 0


def test_a_container_killed_by_a_signal_exits_128_plus_n() -> None:
    # With --init the shell is PID 2, so it can be killed from inside; init passes it on.
    assert labkit("run", "--init", "--", "/bin/sh", "-c", "kill -KILL $$").returncode == 128 + 9
    # As PID 1 it cannot: the kernel ignores even SIGKILL sent to init from inside.
    assert labkit("run", "--", "/bin/sh", "-c", "kill -KILL $$; echo alive").stdout == "alive\n"


@pytest.mark.parametrize("init", [False, True])
def test_sigterm_to_labkit_run_reaches_the_containers_process(init: bool) -> None:
    proc = start(*(["--init"] if init else []), "--", "/bin/sh", "-c",
                 "trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.05; done")
    assert proc.stdout.readline().strip() == "ready"  # type: ignore[union-attr]
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)
    assert (proc.returncode, out.strip()) == (7, "got-term")


def test_pid_1_without_a_handler_ignores_sigterm_the_pid_1_problem() -> None:
    proc = start("--", "/bin/sleep", "30")
    pid = container_pid(proc.pid)
    os.kill(pid, signal.SIGTERM)  # no handler in `sleep`, and it is PID 1: the kernel drops it
    time.sleep(0.3)
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert proc.poll() is None    # forwarded, but dropped again
    os.kill(pid, signal.SIGKILL)  # SIGKILL from an ancestor namespace always works
    assert proc.wait(timeout=10) == 128 + 9


def _zombies_in_pid_namespace_of(pid: int) -> int:
    ns = os.readlink(f"/proc/{pid}/ns/pid")
    count = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{entry}/ns/pid") != ns:
                continue
            with open(f"/proc/{entry}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    count += 1
        except OSError:
            continue
    return count


@pytest.mark.parametrize(("init", "zombies"), [(False, 1), (True, 0)])
def test_orphans_are_reaped_only_with_an_init(init: bool, zombies: int) -> None:
    # The subshell exits at once; its `sleep 0.2` is re-parented to PID 1 and dies later.
    proc = start(*(["--init"] if init else []), "--", "/bin/sh", "-c",
                 "(sleep 0.2 &); exec sleep 2")
    pid = container_pid(proc.pid)
    time.sleep(0.8)
    try:
        assert _zombies_in_pid_namespace_of(pid) == zombies
    finally:
        os.kill(pid, signal.SIGKILL)  # the supervisor then cleans up as usual
        assert proc.wait(timeout=10) == 128 + 9


@pytest.mark.parametrize(("args", "sentence"), [
    (["run", "--rootfs", "/nonexistent/rootfs", "--", "/bin/true"],
     "labkit: rootfs '/nonexistent/rootfs': does not exist or is not a directory. Give a directory"),
    (["run", "--ns", "pid,bogus", "--", "/bin/true"],
     "labkit: namespace 'bogus': is not a namespace type. Use some of: user, pid,"),
    (["run", "--rootfs", "host"], "labkit: labkit run: no command was given. Put it after --"),
    (["run", "--", "/no/such/command"],
     "labkit: command '/no/such/command': was not found in the container."),
    (["run", "--hostname", "bad_name!", "--", "/bin/true"],
     "labkit: hostname 'bad_name!': is not a valid hostname."),
])
def test_bad_input_gets_one_sentence_and_leaves_nothing(args: list[str], sentence: str) -> None:
    result = labkit(*args)
    assert result.returncode == 2
    assert result.stderr.startswith(sentence), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert cleanup.leftovers() == []


def _main_as_nobody(argv: list[str]) -> tuple[int, str]:
    import contextlib
    import io

    from kernel_helpers.cli import main
    os.setgid(65534)
    os.setuid(65534)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    return code, err.getvalue()


def test_not_root_gets_one_sentence() -> None:
    from kernel_helpers.process import run_in_child
    code, err = run_in_child(_main_as_nobody, ["run", "--", "/bin/true"])
    assert code == 2
    assert err.startswith("labkit: labkit run: works on namespaces, mounts and the kit's state, "
                          "which need root."), err
    assert "sudo" in err and err.count("\n") == 1


def test_sigkill_of_labkit_run_then_cleanup_leaves_nothing() -> None:
    proc = start("--", "/bin/sh", "-c", "echo ready; sleep 60")
    assert proc.stdout.readline().strip() == "ready"  # type: ignore[union-attr]
    pid = container_pid(proc.pid)
    proc.kill()
    proc.wait(timeout=10)
    found = cleanup.leftovers()
    assert {item.kind for item in found} >= {"process", "state"}
    result = labkit("cleanup")
    assert result.returncode == 0, result.stderr
    assert "removed process" in result.stdout
    assert cleanup.leftovers() == []
    assert not os.path.exists(f"/proc/{pid}/stat") or "Z" in open(f"/proc/{pid}/stat").read()


def test_doctor_reports_every_namespace_and_json() -> None:
    import json
    result = labkit("doctor", "--json")
    findings = json.loads(result.stdout)
    names = {item["name"] for item in findings}
    # The README's first check: on a provisioned machine everything is there (exit 0).
    assert result.returncode == 0, [item for item in findings if not item["ok"]]
    assert {f"namespace {ns}" for ns in ("user", "pid", "uts", "ipc", "mnt", "net", "cgroup",
                                         "time")} <= names
    assert {"cgroups", "overlayfs", "veth", "seccomp", "root"} <= names
