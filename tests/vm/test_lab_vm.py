"""The lab VM's pieces that run on any machine: the kit's VM awareness, the units, JupyterLab.

The systemd side (enable, start at boot, the cgroup v2 subtree) needs a VM booted with
systemd on pure cgroup v2; here `systemd-analyze verify` checks the unit files themselves.
"""

from __future__ import annotations

import os
import pty
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from kernel_helpers import vm

REPO = Path(__file__).resolve().parents[2]
VENV = Path(sys.executable).parent.parent


def _render(template: str) -> str:
    return subprocess.run(["bash", str(REPO / "vagrant/lab-vm.sh"), "render", template, str(VENV)],
                          capture_output=True, text=True, check=True).stdout


def _cli_on_a_terminal(home: Path) -> str:
    """Run `labkit cleanup --dry-run` as a learner would, on a real pseudo-terminal; return what it showed."""
    controller, terminal = pty.openpty()
    env = {**os.environ, "HOME": str(home)}
    proc = subprocess.run([sys.executable, "-m", "kernel_helpers", "cleanup", "--dry-run"], stdin=terminal,
                          stdout=terminal, stderr=terminal, env=env, timeout=30)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the terminal's other end is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert proc.returncode == 0
    return b"".join(chunks).decode()


def test_note_shown_once_on_a_terminal_outside_the_vm(tmp_path: Path) -> None:
    if vm.in_lab_vm():
        first = _cli_on_a_terminal(tmp_path)
        assert "not the labkit lab VM" not in first
        return
    first, second = _cli_on_a_terminal(tmp_path), _cli_on_a_terminal(tmp_path)
    assert "not the labkit lab VM" in first and "vagrant up" in first
    assert "not the labkit lab VM" not in second
    assert (tmp_path / ".labkit" / vm.STAMP_NAME).exists()


def test_note_needs_a_person_and_a_machine_outside_the_vm(tmp_path: Path) -> None:
    class Terminal:
        text = ""
        def isatty(self) -> bool: return True
        def write(self, s: str) -> None: self.text += s
        def flush(self) -> None: pass

    marker, stamp = tmp_path / "lab-vm", tmp_path / "home" / "stamp"
    marker.write_text("lab VM\n")
    assert not vm.warn_once_outside_vm(Terminal(), marker=marker, stamp=stamp)  # inside
    marker.unlink()
    with open(os.devnull, "w") as not_a_terminal:
        assert not vm.warn_once_outside_vm(not_a_terminal, marker=marker, stamp=stamp)
    assert not stamp.exists()
    terminal = Terminal()
    assert vm.warn_once_outside_vm(terminal, marker=marker, stamp=stamp)
    assert terminal.text == vm.NOTE and stamp.exists()
    assert not vm.warn_once_outside_vm(Terminal(), marker=marker, stamp=stamp)


def _rerun_as(uid: int, marker: Path, bindir: Path) -> str:
    # The child drops to `uid` itself: the venv's interpreter may live where only root can read.
    code = ("import os, sys; from pathlib import Path; from kernel_helpers.vm import rerun_as_root_in_lab_vm;"
            f"os.setgid({uid}); os.setuid({uid});"
            "rerun_as_root_in_lab_vm(Path(sys.argv[1])); print('ran as is')")
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-c", code, str(marker)], env=env,
                          capture_output=True, text=True, timeout=30, check=True).stdout


def test_in_the_vm_a_learner_command_reruns_itself_under_sudo(root: None) -> None:
    # `sudo` here is a stand-in that prints what it was asked to run; the real one would
    # ask for a password on this machine. pytest's tmp_path is root-only, so use /tmp.
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp).chmod(0o755)
        _check_rerun(Path(tmp))


def _check_rerun(tmp_path: Path) -> None:
    (tmp_path / "sudo").write_text('#!/bin/sh\necho "sudo $*"\n')
    (tmp_path / "sudo").chmod(0o755)
    marker = tmp_path / "lab-vm"
    nobody = 65534
    assert _rerun_as(nobody, marker, tmp_path).strip() == "ran as is"  # no marker: not the VM
    marker.write_text("lab VM\n")
    assert _rerun_as(0, marker, tmp_path).strip() == "ran as is"       # already root
    rerun = _rerun_as(nobody, marker, tmp_path).strip()
    assert rerun.startswith(f"sudo -- {sys.executable} -c import os, sys;") and rerun.endswith(str(marker))


@pytest.mark.parametrize("unit", ["labkit-cgroup.service", "labkit-jupyter.service"])
def test_units_pass_systemd_analyze_verify(tmp_path: Path, unit: str) -> None:
    path = tmp_path / unit
    path.write_text(_render(unit))
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_verify_catches_a_broken_unit(tmp_path: Path) -> None:
    path = tmp_path / "labkit-cgroup.service"
    path.write_text(_render("labkit-cgroup.service").replace("RemainAfterExit=yes", "RemainAfterExit=yes\nDelegat=yes"))
    result = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True, text=True)
    assert "Unknown key 'Delegat'" in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_the_jupyter_service_command_serves_with_its_token_only(tmp_path: Path) -> None:
    """Run the unit's own ExecStart, moved to a free loopback port, with a token as the unit gets it."""
    exec_start = next(line for line in _render("labkit-jupyter.service").splitlines()
                      if line.startswith("ExecStart="))
    port, token = _free_port(), secrets.token_hex(8)
    command = exec_start.removeprefix("ExecStart=").split()
    moved = {"--ServerApp.ip=0.0.0.0": "--ServerApp.ip=127.0.0.1",
             "--ServerApp.port=8888": f"--ServerApp.port={port}"}
    assert set(moved) <= set(command), exec_start
    command = [moved.get(arg, arg) for arg in command]
    env = {**os.environ, "JUPYTER_TOKEN": token, "HOME": str(tmp_path)}
    server = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert server.poll() is None, "JupyterLab exited; run the unit's ExecStart by hand"
            try:
                if _status(f"{base}/api") == 200:
                    break
            except OSError:
                time.sleep(0.3)
        assert _status(f"{base}/api/contents?token={token}") == 200
        assert _status(f"{base}/api/contents") == 403
        assert _status(f"{base}/api/contents?token=wrong") == 403
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_login_message_points_at_labkit_and_the_labs() -> None:
    text = subprocess.run(["sh", "-c", _render("labkit-motd.sh")], capture_output=True,
                          text=True, check=True).stdout
    assert "    labkit " in text and f"{REPO}/labs" in text
