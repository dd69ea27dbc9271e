"""pivot_root versus chroot, and the root filesystem a container gets."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from kernel_helpers._sys import LINUX
from kernel_helpers._sys.linux import (MS_BIND, MS_NOATIME, MS_NODEV, MS_NOEXEC, MS_NOSUID,
                                       MS_PRIVATE, MS_REC, MS_REMOUNT)
from kernel_helpers.namespaces import Namespace, unshare
from kernel_helpers.process import run_in_child
from kernel_helpers.rootfs.mounts import chroot_escape, enter_rootfs, plan_mounts
from kernel_helpers.runtime.foreground import run_captured
from kernel_helpers.runtime.run_options import spec_from_options
from kernel_helpers.spec import IdMap
from kernel_helpers.testing import labkit

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


USERNS = "user,pid,mnt,uts,ipc"
"""No net namespace: /sys is the host's, bind-mounted read-only."""


def _run_on_systemd_like_mounts(root: str) -> list[tuple[int, str]]:
    """In a private mount namespace, flag /sys and a rootfs tmpfs as systemd would, then run.

    systemd mounts /sys nosuid,nodev,noexec and /run, /tmp nosuid,nodev; a user
    namespace locks those flags, so each bind remount the kit makes must repeat them.
    """
    unshare({Namespace.MNT})
    LINUX.mount(None, "/", None, MS_REC | MS_PRIVATE)
    LINUX.mount(None, "/sys", None, MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    owner = IdMap().outside  # root of the container's user namespace owns the rootfs
    LINUX.mount("lk-test", root, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOATIME,
                f"mode=755,uid={owner},gid={owner}")
    for name in ("bin", "etc", "proc", "sys", "dev"):
        os.mkdir(f"{root}/{name}")
    shutil.copy2("/bin/busybox", f"{root}/bin/busybox")
    os.symlink("busybox", f"{root}/bin/sh")
    show = ("/bin/sh", "-c", "id -u; grep -E ' /(sys)? ' /proc/self/mountinfo; touch /lk-w")
    results = []
    for args in (("--ns", USERNS, "--", *show),
                 ("--ns", USERNS, "--rootfs", root, "--", *show),
                 ("--ns", USERNS, "--rootfs", root, "--read-only", "--", *show)):
        proc = labkit("run", *args)
        results.append((proc.returncode, proc.stdout + proc.stderr))
    return results


def test_user_namespace_containers_start_under_locked_mount_flags() -> None:
    with tempfile.TemporaryDirectory(prefix="lk-test-locked-") as root:
        image, writable, read_only = run_in_child(_run_on_systemd_like_mounts, root, timeout=120)
    for code, out in (image, writable):
        assert code == 0, out
        assert out.split()[0] == "0"
    assert read_only[0] != 0 and "Read-only file system" in read_only[1], read_only
    sys_line = next(line for line in image[1].splitlines() if " /sys " in line)
    assert " ro,nosuid,nodev,noexec" in sys_line  # read-only, and the locked flags kept
    root_line = next(line for line in writable[1].splitlines() if " / / " in line)
    assert "nosuid,nodev,noatime" in root_line, root_line
