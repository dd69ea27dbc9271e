"""vagrant/guest.sh's fast parts: the acceleration probe and its argument errors.

Booting the guest takes minutes, so the runner itself is proven by CI's guest stage
(`.ci/guest`), which builds the image, boots it and runs the kernel tests inside.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GUEST = REPO / "vagrant/guest.sh"


def _guest(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(GUEST), *args], capture_output=True, text=True, timeout=30,
                          env={**os.environ, **env})


def _kvm_usable() -> bool:
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError:
        return False
    return True


def test_accel_follows_the_module_behind_dev_kvm() -> None:
    modules = {name for name in ("kvm_pvm", "kvm_intel", "kvm_amd") if Path("/sys/module", name).is_dir()}
    result = _guest("accel", LABKIT_GUEST_ACCEL="")
    assert result.returncode == 0, result.stderr
    if not _kvm_usable():
        assert result.stdout.startswith("tcg: no usable /dev/kvm")
    elif "kvm_pvm" in modules:  # PVM runs only guest kernels built for it, not Debian's
        assert result.stdout.startswith("tcg: /dev/kvm is PVM (kvm_pvm)")
    elif modules & {"kvm_intel", "kvm_amd"}:
        assert result.stdout.startswith("kvm: /dev/kvm with kvm_")
    else:
        assert result.stdout.startswith("tcg: /dev/kvm has no kvm_intel or kvm_amd")


def test_accel_can_be_chosen() -> None:
    assert _guest("accel", LABKIT_GUEST_ACCEL="kvm").stdout == "kvm: set by LABKIT_GUEST_ACCEL\n"
    wrong = _guest("accel", LABKIT_GUEST_ACCEL="hvf")
    assert (wrong.returncode, wrong.stderr) == (
        2, "guest: LABKIT_GUEST_ACCEL 'hvf' is not an accelerator; use kvm or tcg.\n")


@pytest.mark.parametrize(("args", "sentence"), [
    (["--env", "1X=y", "--", "true"], "--env '1X=y' is not NAME=VALUE; use e.g. --env LABKIT_REQUIRE_ROOT=1."),
    (["--timeout", "1h", "--", "true"], "--timeout '1h' is not a number of seconds; use e.g. --timeout 3600."),
    (["--"], "no command to run; use: guest.sh run -- CMD..."),
])
def test_run_rejects_bad_arguments_before_building_or_booting(args: list[str], sentence: str) -> None:
    result = _guest("run", *args, LABKIT_GUEST_CACHE="/nonexistent/labkit-guest-cache")
    assert (result.returncode, result.stderr) == (2, f"guest: {sentence}\n")
    assert not Path("/nonexistent/labkit-guest-cache").exists()
