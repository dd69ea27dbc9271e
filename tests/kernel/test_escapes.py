"""The escape battery: everything fails against the hardened runtime, for a reported reason,
and (where safe) the naive runtime shows what succeeds. Controls on the host prove that each
detector can see an escape when there is one."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

import pytest

from kernel_helpers import cleanup, naming
from kernel_helpers.audit import disks, escapes
from kernel_helpers.audit.probe import run_inside
from kernel_helpers._sys import LINUX
from kernel_helpers.cgroups import loopdev
from kernel_helpers.namespaces import Namespace
from kernel_helpers.process import run_in_child
from kernel_helpers.runtime.run_options import spec_from_options
from kernel_helpers.security.hardening import Hardening, HardeningStage
from kernel_helpers.testing import labkit

pytestmark = pytest.mark.usefixtures("root", "readable_disk")
LOOP_CTL_ADD, LOOP_CTL_REMOVE = 0x4C80, 0x4C81


@contextmanager
def detached_loop() -> Iterator[str]:
    """A loop device with no file bound: it opens, and reads 0 bytes."""
    control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        number = next(n for n in range(200, 256) if not os.path.exists(f"/sys/block/loop{n}"))
        LINUX.ioctl(control, LOOP_CTL_ADD, number)
        try:
            yield f"loop{number}"
        finally:
            LINUX.ioctl(control, LOOP_CTL_REMOVE, number)
    finally:
        os.close(control)

SPEC = spec_from_options(["/bin/true"])
EXPECTED_REASON = {
    "chroot": "pivot_root", "proc-sys": "read-only mount (EROFS)", "module": "seccomp",
    "mknod-disk": "nodev mount (EACCES)", "host-procs": "pid namespace", "hostname": "seccomp",
    "clock": "missing CAP_SYS_TIME", "userns": "seccomp", "keyctl": "seccomp",
}


def _battery(hardening: Hardening, userns: bool = False) -> dict[str, escapes.Outcome]:
    spec = replace(SPEC, namespaces=SPEC.namespaces | {Namespace.USER}) if userns else SPEC
    return {o.attempt: o for o in escapes.battery_in_container(spec, (HardeningStage(hardening),))}


def test_every_attempt_fails_against_the_hardened_runtime_and_says_why() -> None:
    results = _battery(Hardening())
    assert len(results) == len(escapes.ATTEMPTS) + len(escapes.HOST_SIDE)
    assert [o.line() for o in results.values() if o.escaped] == []
    for name, reason in EXPECTED_REASON.items():
        assert reason in results[name].stopped_by, results[name].line()
    sysrq = results["sysrq"].stopped_by
    assert ("read-only mount" in sysrq) == os.path.exists("/proc/sysrq-trigger"), sysrq


def test_every_attempt_fails_with_user_namespace_root_too() -> None:
    results = _battery(Hardening(), userns=True)
    assert [o.line() for o in results.values() if o.escaped] == []
    assert "user namespace" in results["mknod-disk"].stopped_by


def _kernel_loads_modules() -> bool:
    return Path("/proc/modules").exists() and Path("/proc/sys/kernel/modules_disabled").read_text() == "0\n"


def test_the_naive_runtime_shows_what_succeeds() -> None:
    results = _battery(Hardening.naive())
    escaped = {name for name, o in results.items() if o.escaped}
    expected = {"proc-sys", "clock", "userns", "keyctl", "io-uring", "mknod-disk", "dev-cgroup"}
    expected |= {"module"} if _kernel_loads_modules() else set()
    expected |= {"sysrq"} if os.path.exists("/proc/sysrq-trigger") else set()
    assert escaped == expected, [o.line() for o in results.values()]
    # Namespaces still hold even with every capability: these need no hardening at all.
    assert results["chroot"].stopped_by.startswith("pivot_root")
    assert results["host-procs"].stopped_by == "pid namespace"
    assert results["hostname"].stopped_by == "uts namespace"


def _chroot_escape_from_a_plain_chroot(jail: str) -> bool:
    os.chdir(jail)
    LINUX.chroot(jail)  # chroot alone, no pivot_root: the classic setup the escape beats
    return escapes.attempt_chroot(escapes.Context(0, 0)).escaped


def test_control_the_chroot_detector_sees_an_escape_from_a_plain_chroot(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    assert run_in_child(_chroot_escape_from_a_plain_chroot, str(tmp_path)) is True


def test_control_the_process_detector_sees_host_processes_without_a_pid_namespace() -> None:
    outcome = run_in_child(escapes.attempt_host_processes, escapes.context_for(()))
    assert outcome.escaped and "host's pid namespace" in outcome.detail, outcome.line()


def test_a_container_without_a_pid_namespace_is_reported_escaped() -> None:
    # No other pid namespace need exist (a plain VM): the container is in the host's own.
    spec = spec_from_options(["/bin/true"], rootfs="host", ns="mnt,uts,ipc,net,cgroup")
    for hardening in (Hardening.naive(), Hardening()):
        stages = (HardeningStage(hardening),)
        outcome = run_inside(escapes.attempt_host_processes, spec, stages,
                             escapes.context_for(stages))
        assert outcome.escaped and "may signal them" in outcome.detail, outcome.line()


def test_control_hostname_is_never_tried_from_the_hosts_uts_namespace() -> None:
    host = os.stat("/proc/self/ns/uts").st_ino
    outcome = escapes.attempt_hostname(escapes.Context(host, 0))
    assert outcome.escaped and "not tried" in outcome.detail


def test_the_disk_picker_skips_devices_that_open_but_cannot_be_read(
        readable_disk: loopdev.LoopDevice) -> None:
    # Like a floppy (fd0) or CD drive (sr0) sorting before vda: they open, then read nothing.
    empty = loopdev.create(0)
    try:
        with detached_loop() as detached:
            first = [Path(empty.path).name, detached]
            assert not any(disks.reads_a_sector(f"/dev/{name}") for name in first)
            picked = disks.pick_disk([*first, Path(readable_disk.path).name])
    finally:
        loopdev.remove_device(empty)
    assert picked == (Path(readable_disk.path).name, readable_disk.major, readable_disk.minor)
    default = disks.pick_disk()
    assert default is not None and disks.reads_a_sector(f"/dev/{default[0]}")


def test_cleanup_removes_a_device_node_a_killed_attempt_left(busybox_root: Path) -> None:
    node = busybox_root / "tmp" / f"{naming.new_name()}-disk"
    os.mknod(node, stat.S_IFBLK | 0o600, os.makedev(7, 0))
    try:
        assert str(node) in [item.name for item in cleanup.leftovers()]
        labkit("cleanup")
        assert not node.exists()
    finally:
        node.unlink(missing_ok=True)


def test_labkit_escapes_exit_code_tells_hardened_from_naive() -> None:
    hardened = labkit("escapes")
    assert hardened.returncode == 0, hardened.stderr
    total = len(escapes.ATTEMPTS) + len(escapes.HOST_SIDE)
    assert hardened.stdout.splitlines()[-1] == f"0 of {total} attempts escaped"
    naive = labkit("escapes", "--naive")
    assert naive.returncode == 1 and "ESCAPED  proc-sys" in naive.stdout, naive.stderr
