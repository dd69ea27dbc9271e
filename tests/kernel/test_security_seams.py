"""The seams around a container: exec, the caller's terminal, --init, names and the root check.

Each test drives the real `labkit` CLI (or the runtime) and reads the kernel's answer:
/proc/PID/status of both processes, a real pty as the admin's terminal, /proc/1 of a
container, a non-root uid made with setpriv.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import sys
import termios
import time
import tty
from pathlib import Path

import pytest

from kernel_helpers.namespaces import Namespace
from kernel_helpers.state import all_states
from kernel_helpers.testing import labkit
from kernel_helpers.units import online_cpus

pytestmark = pytest.mark.usefixtures("root")
LABKIT = [sys.executable, "-m", "kernel_helpers"]
PRIVILEGE_LINES = ["grep", "-E", "Cap|NoNewPrivs|Seccomp", "/proc/{pid}/status"]
INJECT = ("import fcntl, sys, termios\n"
          "for c in b'echo lk-injected\\n': fcntl.ioctl(0, termios.TIOCSTI, bytes([c]))\n"
          "print('inside read', repr(sys.stdin.readline()), flush=True)\n")
"""Run inside a --rootfs host container: type a command with TIOCSTI, then read stdin."""
SYSTEM_PYTHON = "/usr/bin/python3"
"""The Debian python: its files are readable by host uid 100000 (--userns root); the venv's are not."""


def detached(*args: str) -> str:
    result = labkit("run", "-d", *args, "--", "/bin/sleep", "30")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def privileges(container: str, pid: str) -> list[str]:
    command = [part.format(pid=pid) for part in PRIVILEGE_LINES]
    result = labkit("exec", container, "--", *command)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@pytest.mark.parametrize("userns", [False, True])
def test_exec_has_exactly_pid_1s_capabilities_no_new_privs_and_seccomp(userns: bool) -> None:
    container = detached(*(["--userns"] if userns else []))
    try:
        pid1, mine = privileges(container, "1"), privileges(container, "self")
        assert mine == pid1  # line by line: five capability sets, NoNewPrivs, Seccomp
        assert "CapEff:\t00000000a80425fb" in pid1 and "NoNewPrivs:\t1" in pid1
        assert "Seccomp:\t2" in pid1  # both really hardened, not both bare
    finally:
        labkit("rm", "-f", container)


def _host_uid_of_exec(container: str) -> int:
    """Start `labkit exec C -- sleep 5` and read the sleeping process's uid from the host."""
    state = next(s for s in all_states() if s.id == container)
    ns = os.readlink(f"/proc/{state.pid}/ns/pid")
    proc = subprocess.Popen([*LABKIT, "exec", container, "--", "/bin/sleep", "5"],
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for entry in filter(str.isdigit, os.listdir("/proc")):
                try:
                    if (int(entry) != state.pid and os.readlink(f"/proc/{entry}/ns/pid") == ns
                            and Path(f"/proc/{entry}/cmdline").read_bytes() == b"/bin/sleep\0005\0"):
                        status = Path(f"/proc/{entry}/status").read_text()
                        return int(status.split("\nUid:")[1].split()[1])  # effective, host view
                except OSError:
                    continue
            time.sleep(0.02)
        raise AssertionError("the exec'd sleep never showed up")
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(("userns", "host_uid"), [(False, 0), (True, 100000)])
def test_exec_runs_as_the_containers_root_never_host_root_with_userns(userns: bool,
                                                                     host_uid: int) -> None:
    container = detached(*(["--userns"] if userns else []))
    try:
        assert _host_uid_of_exec(container) == host_uid
        inside = labkit("exec", container, "--", "/bin/sh", "-c", "id -u; grep Groups /proc/self/status")
        assert inside.stdout.split() == ["0", "Groups:"]  # root inside, no supplementary groups
    finally:
        labkit("rm", "-f", container)


def test_exec_privileged_gets_every_capability_and_keeps_the_containers_seccomp() -> None:
    container = detached()
    try:
        result = labkit("exec", "--privileged", container, "--", "grep", "-E", "CapEff|Seccomp:",
                        "/proc/self/status")
        effective, mode = result.stdout.splitlines()
        assert int(effective.split()[1], 16) & (1 << 21)  # CAP_SYS_ADMIN, which PID 1 lacks
        assert mode == "Seccomp:\t2"
    finally:
        labkit("rm", "-f", container)


def test_an_fd_the_caller_opened_is_not_visible_in_the_exec_process(tmp_path: Path) -> None:
    container = detached()
    secret = tmp_path / "host-secret"
    secret.write_text("host only\n")
    fd = os.open(secret, os.O_RDONLY)
    os.dup2(fd, 47)  # inheritable: subprocess passes it on to `labkit exec`
    try:
        result = subprocess.run([*LABKIT, "exec", container, "--", "/bin/sh", "-c",
                                 "ls /proc/$$/fd; cat <&47"], pass_fds=(47,),
                                capture_output=True, text=True, timeout=30)
        fds = result.stdout.split()
        assert "47" not in fds and {"0", "1", "2"} <= set(fds), fds
        assert "host only" not in result.stdout
    finally:
        os.close(47)
        os.close(fd)
        labkit("rm", "-f", container)


class Caller:
    """The admin's terminal: a real pty, the controlling terminal of `labkit run`'s session."""

    def __init__(self, argv: list[str]) -> None:
        self.master, self.terminal = pty.openpty()
        self.output = b""
        self.proc = subprocess.Popen(argv, stdin=self.terminal, stdout=self.terminal,
                                     stderr=self.terminal, start_new_session=True,
                                     preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))

    def read_until(self, text: bytes, seconds: float = 15) -> None:
        deadline = time.monotonic() + seconds
        while text not in self.output and time.monotonic() < deadline:
            if select.select([self.master], [], [], 0.1)[0]:
                self.output += os.read(self.master, 4096)
        assert text in self.output, self.output

    def finish(self) -> int:
        code = self.proc.wait(timeout=20)
        while select.select([self.master], [], [], 0.2)[0]:
            self.output += os.read(self.master, 4096)
        return code

    def typed_into_it(self) -> bytes:
        """What sits in the terminal's input queue: what the admin's shell would read next."""
        tty.setraw(self.terminal, termios.TCSANOW)  # not TCSAFLUSH: that would drop it
        os.set_blocking(self.terminal, False)
        try:
            return os.read(self.terminal, 4096)
        except BlockingIOError:
            return b""

    def close(self) -> None:
        os.close(self.terminal)
        os.close(self.master)


def test_control_tiocsti_on_the_callers_terminal_is_seen_in_its_input() -> None:
    caller = Caller([sys.executable, "-c", INJECT.split("print")[0]])  # the injection alone
    try:
        assert caller.finish() == 0
        assert caller.typed_into_it() == b"echo lk-injected\n"
    finally:
        caller.close()


@pytest.mark.parametrize("mode", [[], ["--userns"], ["--privileged"]])
def test_tiocsti_from_a_foreground_container_types_only_into_its_own_pty(mode: list[str]) -> None:
    caller = Caller([*LABKIT, "run", "--rootfs", "host", *mode, "--", SYSTEM_PYTHON, "-c", INJECT])
    try:
        caller.read_until(b"inside read")
        assert caller.finish() == 0
        assert caller.typed_into_it() == b""  # nothing for the admin's shell to run
        # The ioctl did work: on the container's own terminal, which read it back.
        assert b"inside read 'echo lk-injected\\n'" in caller.output
    finally:
        caller.close()


def test_an_interactive_run_gets_a_pty_input_output_and_ctrl_c_as_sigint() -> None:
    caller = Caller([*LABKIT, "run", "--", "/bin/sh", "-c",
                     "tty; read line; echo \"got:$line\"; trap 'echo got-int; exit 7' INT; "
                     "echo ready; while true; do sleep 0.05; done"])
    try:
        caller.read_until(b"/dev/pts/0")  # the container's own devpts, not the caller's pty
        os.write(caller.master, b"hello\r")
        caller.read_until(b"got:hello")
        caller.read_until(b"ready")
        os.write(caller.master, b"\x03")  # Ctrl-C: the container's pty turns it into SIGINT
        assert caller.finish() == 7
        assert b"got-int" in caller.output
    finally:
        caller.close()


@pytest.mark.parametrize("userns", [False, True])
def test_init_shows_a_clean_command_line_and_environment(userns: bool) -> None:
    env = {**os.environ, "LK_ADMIN_SECRET": "hunter2"}
    result = subprocess.run([*LABKIT, "run", "--init", *(["--userns"] if userns else []), "--",
                             "/bin/sh", "-c", "cat /proc/1/cmdline; echo; cat /proc/1/environ"],
                            env=env, capture_output=True, text=True, timeout=60)
    cmdline, environ = result.stdout.split("\n", 1)
    assert cmdline == "labkit-init\0"
    assert environ.split("\0") == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                   "TERM=xterm", ""]
    assert "hunter2" not in result.stdout and "kernel_helpers" not in result.stdout


@pytest.mark.parametrize(("args", "sentence"), [
    (["run", "--name", "web\n10.6.6.6 mail", "--", "/bin/true"],
     "labkit: container name 'web\\n10.6.6.6 mail': is not a valid name. Use letters, digits"),
    (["run", "--name", "a/../b", "--", "/bin/true"], "labkit: container name 'a/../b': is not a"),
    (["run", "--name", "x" * 65, "--", "/bin/true"], "is longer than 64 characters"),
    (["network", "create", "lan/../../etc"], "labkit: network name 'lan/../../etc': is not a valid"),
    (["run", "--rootfs", "a..b", "--", "/bin/true"], "labkit: image name 'a..b': is not a valid"),
    (["run", "--memory", "0", "--", "/bin/true"], "labkit: --memory '0': is less than 6M."),
    (["run", "--pids-limit", "0", "--", "/bin/true"], "labkit: --pids-limit '0': is less than 1."),
    (["run", "--cpuset-cpus", "4095", "--", "/bin/true"], "names CPU 4095, which this machine"),
    (["run", "--cpus", str(len(online_cpus()) + 1), "--", "/bin/true"], "is more than the"),
])
def test_names_and_limits_get_one_sentence_and_make_nothing(args: list[str], sentence: str) -> None:
    result = labkit(*args)
    assert result.returncode == 2 and sentence in result.stderr, result.stderr
    assert result.stderr.count("\n") == 1
    names = [args[args.index("--name") + 1]] if "--name" in args else []
    assert not [state for state in all_states() if state.name in names]  # the rest: leak check


def test_a_fresh_image_record_is_readable_and_non_root_stops_at_the_root_check(
        tmp_path: Path) -> None:
    """The fresh-machine bug: records were 0600, and `run` read one before checking for root."""
    env = {**os.environ, "LABKIT_DATA_ROOT": str(tmp_path / "data"),
           "LABKIT_STATE_ROOT": str(tmp_path / "state")}
    subprocess.run([sys.executable, "-c", "from kernel_helpers.images import store; "
                    "store.save(store.Image('busybox:latest', ()))"], env=env, check=True)
    record = tmp_path / "data" / "imagedb" / "busybox%3Alatest.json"
    assert record.stat().st_mode & 0o777 == 0o644
    tmp_path.chmod(0o755)
    for argv in (["run", "--", "/bin/true"], ["exec", "web", "--", "ps"], ["image", "ls"], ["ps"]):
        result = subprocess.run(["setpriv", "--reuid", "65534", "--regid", "65534",
                                 "--clear-groups", *LABKIT, *argv], env=env, capture_output=True,
                                text=True, timeout=30, cwd=os.getcwd())
        assert (result.returncode, result.stderr) == (2, (
            f"labkit: labkit {argv[0]}: works on namespaces, mounts and the kit's state, which "
            "need root. Run it with sudo, inside the lab VM.\n"))


def test_seam_attempts_know_more_privileges_when_they_see_them() -> None:
    from kernel_helpers.audit.attempts_seams import more_than
    pid1 = "CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\nSeccomp:\t2\n"
    assert more_than(pid1, pid1) == []
    bare = "CapEff:\t000001ffffffffff\nCapBnd:\t000001ffffffffff\nNoNewPrivs:\t0\nSeccomp:\t0\n"
    assert [item.split()[0] for item in more_than(bare, pid1)] == ["CapEff", "CapBnd",
                                                                    "NoNewPrivs", "Seccomp"]


@pytest.mark.parametrize("mode", ["default", "userns", "privileged"])
def test_every_seam_attempt_is_blocked(mode: str) -> None:
    from dataclasses import replace

    from kernel_helpers.runtime.run_options import spec_from_options
    from kernel_helpers.audit import attempts_seams
    from kernel_helpers.security.hardening import Hardening, HardeningStage
    spec = spec_from_options(["/bin/true"])
    if mode == "userns":
        spec = replace(spec, namespaces=spec.namespaces | {Namespace.USER})
    stages = (HardeningStage(Hardening.naive() if mode == "privileged" else Hardening()),)
    outcomes = [attempt(spec, stages) for attempt in attempts_seams.HOST_SIDE]
    assert len(outcomes) == 7
    assert [o.line() for o in outcomes if o.escaped] == []
    assert all(o.stopped_by for o in outcomes)
