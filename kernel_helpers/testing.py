"""pytest plugin for the kit's own tests and for instructors' graders.

- Tests that need root fail (not skip) unless LABKIT_ALLOW_SKIP=1: a skipped
  kernel test must never count as a pass in CI.
- The session ends with a leak assertion: nothing the kit made is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from kernel_helpers import cleanup

ALLOW_SKIP = os.environ.get("LABKIT_ALLOW_SKIP") == "1"
_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _skipped and not ALLOW_SKIP and session.exitstatus == 0:
        session.exitstatus = 1
        sys.stderr.write(f"\nlabkit: {len(_skipped)} test(s) skipped; every test must run here "
                         "(set LABKIT_ALLOW_SKIP=1 to allow skips on a machine without root).\n")


@pytest.fixture(scope="session", autouse=True)
def _no_leftovers() -> Iterator[None]:
    """Assert the whole session leaves nothing behind (then sweep so one failure is not two)."""
    before = {str(item) for item in cleanup.leftovers()} if os.geteuid() == 0 else set()
    networks_before = set(_network_names())
    yield
    if os.geteuid() != 0:
        return
    from kernel_helpers.state import all_states
    after = cleanup.leftovers()
    new = [str(item) for item in after if str(item) not in before]
    kept = [state.id for state in all_states() if state.status == "exited"]  # never `labkit rm`ed
    cleanup.sweep()
    networks = _remove_networks_made_since(networks_before)
    assert new == [], f"the tests left these behind: {new}"
    assert kept == [], f"the tests left these stopped containers: {kept}"
    assert networks == [], f"the tests left these networks: {networks}"


def _network_names() -> list[str]:
    from kernel_helpers.net.ipam import all_networks
    return [network.name for network in all_networks()]


def _remove_networks_made_since(before: set[str]) -> list[str]:
    """Networks outlive containers on purpose (like Docker's); the session still removes its own.

    The default network, made on first use by whichever test published a port, is expected;
    any other new one is a test that forgot its cleanup, reported (and removed).
    """
    from kernel_helpers.net.ipam import DEFAULT_NETWORK
    from kernel_helpers.net.networks import remove
    made = [name for name in _network_names() if name not in before]
    for name in made:
        remove(name, force=True)
    return [name for name in made if name != DEFAULT_NETWORK]


@pytest.fixture
def root() -> None:
    """Depend on this in every test that needs root."""
    if os.geteuid() != 0:
        pytest.skip("needs root (run the suite with sudo)")


@pytest.fixture(scope="session")
def busybox_root() -> Path:
    """The offline base image's rootfs, built once per machine."""
    from kernel_helpers.rootfs.busybox import busybox_rootfs
    return busybox_rootfs()


@pytest.fixture(scope="module")
def readable_disk() -> Iterator[object]:
    """A block device host root can read (a loop device over 1 MiB), so the escape battery's
    mknod-disk always has a target: a VM's own disk may be refused even to root (this CI
    sandbox's vda is), and the disk picker takes no device it cannot read."""
    from kernel_helpers.cgroups import loopdev
    device = loopdev.create(1 << 20)
    try:
        yield device
    finally:
        loopdev.remove_device(device)


def labkit(*args: str, timeout: float = 60, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run the real `labkit` CLI (as a learner would) and capture its output."""
    proc: subprocess.CompletedProcess[str] = subprocess.run(  # type: ignore[call-overload]
        [sys.executable, "-m", "kernel_helpers", *args], capture_output=True, text=True,
        timeout=timeout, **kwargs)
    return proc


def oci_bundle(bundle: Path, args: list[str],
               edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """A `runc spec` bundle at `bundle` over a copy of the busybox rootfs, running `args`.

    The same bundle runs under runc, crun and `labkit oci`; `edit` changes its config.json.
    """
    import json
    import shutil
    from kernel_helpers.rootfs.busybox import busybox_rootfs
    bundle.mkdir()
    shutil.copytree(busybox_rootfs(), bundle / "rootfs", symlinks=True)
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    if edit is not None:
        edit(config)
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle

