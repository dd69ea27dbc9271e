"""pivot_root versus chroot, and the root filesystem a container gets."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from kernel_helpers._sys import LINUX
from kernel_helpers.namespaces import Namespace, unshare
from kernel_helpers.process import run_in_child
from kernel_helpers.rootfs.mounts import chroot_escape, enter_rootfs, plan_mounts
from kernel_helpers.runtime.foreground import run_captured
from kernel_helpers.runtime.run_options import spec_from_options

pytestmark = pytest.mark.usefixtures("root")
HOST_HOSTNAME = Path("/etc/hostname").read_text().strip()


@pytest.fixture
def tiny_root() -> Path:
    """A throwaway root whose /etc/hostname tells us where an escape landed."""
    path = Path(tempfile.mkdtemp(prefix="lk-test-root-"))
    (path / "bin").mkdir()
    (path / "etc").mkdir()
    (path / "etc" / "hostname").write_text("inside-the-container\n")
    yield path
    shutil.rmtree(path)


def _escape_after_chroot(root: str) -> str:
    LINUX.chroot(root)
    os.chdir("/")
    return chroot_escape()


def _escape_after_pivot_root(root: str) -> str:
    unshare({Namespace.MNT})
    enter_rootfs(plan_mounts(root))
    return chroot_escape()


def test_chroot_alone_can_be_escaped(tiny_root: Path) -> None:
    assert HOST_HOSTNAME != "inside-the-container"
    assert run_in_child(_escape_after_chroot, str(tiny_root)) == HOST_HOSTNAME


def test_pivot_root_leaves_no_path_to_the_host_root(tiny_root: Path) -> None:
    assert run_in_child(_escape_after_pivot_root, str(tiny_root)) == "inside-the-container"


def test_the_container_gets_fresh_proc_readonly_sys_and_a_minimal_dev() -> None:
    code, out = run_captured(spec_from_options(
        ["/bin/sh", "-c", "ls /dev; echo ---; grep -E ' /(proc|sys) ' /proc/self/mountinfo;"
         " echo ---; touch /sys/x 2>&1; echo x > /dev/null && head -c 4 /dev/zero | wc -c"]))
    dev, mounts, rest = out.split("---\n")
    assert code == 0
    assert set(dev.split()) == {"null", "zero", "full", "random", "urandom", "tty", "ptmx",
                                "pts", "shm", "fd", "stdin", "stdout", "stderr"}
    assert " - proc proc " in mounts and " - sysfs sysfs ro" in mounts
    assert "Read-only file system" in rest and rest.split()[-1] == "4"


def test_read_only_root_refuses_writes() -> None:
    code, out = run_captured(spec_from_options(["/bin/sh", "-c", "touch /lk-x"], read_only=True))
    assert code != 0 and "Read-only file system" in out


def test_a_user_chosen_rootfs_directory_works(tiny_root: Path) -> None:
    shutil.copy2("/bin/busybox", tiny_root / "bin" / "busybox")
    os.symlink("busybox", tiny_root / "bin" / "sh")
    code, out = run_captured(spec_from_options(["/bin/sh", "-c", "cat /etc/hostname"],
                                               rootfs=str(tiny_root)))
    assert (code, out.strip()) == (0, "inside-the-container")


def test_host_files_are_not_reachable_from_the_container() -> None:
    probe = Path(tempfile.mkdtemp(prefix="lk-host-only-"))
    try:
        code, out = run_captured(spec_from_options(
            ["/bin/sh", "-c", f"test -e {probe} && echo visible || echo hidden; cat /etc/os-release"]))
    finally:
        probe.rmdir()
    assert code == 0
    assert out.splitlines()[0] == "hidden"
    assert 'NAME="labkit busybox"' in out
