"""The one install path, run for real: `vagrant/provision.sh` twice, and `vagrant validate`.

Both are deselected by default (pyproject's addopts) because they need what a learner's
VM lacks: the first changes the machine (apt, the venv) and the second needs the Vagrant
CLI on the host. CI runs them: `pytest -m "provisioning or vagrant" tests/vm`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.provisioning
def test_provisioning_runs_twice_in_a_row(root: None) -> None:
    for run in (1, 2):
        result = subprocess.run(["bash", str(REPO / "vagrant/provision.sh")], capture_output=True,
                                text=True, timeout=900)
        assert result.returncode == 0, f"run {run}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        assert "==> ready" in result.stdout
    assert Path("/usr/local/bin/labkit").stat().st_mode & 0o111


@pytest.mark.provisioning
def test_provisioning_rejects_an_unknown_option(root: None) -> None:
    result = subprocess.run(["bash", str(REPO / "vagrant/provision.sh"), "--vn"],
                            capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stderr.strip()) == (
        2, "provision.sh: unknown option '--vn'; use --start and/or --vm.")


def _validate(vagrantfile_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    if shutil.which("vagrant") is None:
        pytest.fail("the vagrant CLI is not installed: apt-get install vagrant vagrant-libvirt")
    return subprocess.run(["vagrant", "validate"], cwd=vagrantfile_dir, capture_output=True,
                          text=True, timeout=120, env={**os.environ, **env})


@pytest.mark.vagrant
@pytest.mark.parametrize("vm_os", ["ubuntu-24.04", "debian-12"])
def test_vagrant_validate_passes(vm_os: str) -> None:
    result = _validate(REPO, LABKIT_VM_OS=vm_os)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.vagrant
def test_vagrant_validate_catches_a_broken_vagrantfile(tmp_path: Path) -> None:
    text = (REPO / "Vagrantfile").read_text()
    assert "p.memory = memory\n" in text
    (tmp_path / "Vagrantfile").write_text(text.replace("p.memory = memory\n", "p.memroy = memory\n"))
    result = _validate(tmp_path)
    assert result.returncode != 0 and "memroy" in result.stdout + result.stderr


@pytest.mark.vagrant
def test_an_unknown_os_is_one_sentence() -> None:
    result = _validate(REPO, LABKIT_VM_OS="arch")
    assert (result.returncode, result.stderr.strip()) == (
        1, "LABKIT_VM_OS 'arch' is not a lab VM OS; use one of ubuntu-24.04, debian-12.")
