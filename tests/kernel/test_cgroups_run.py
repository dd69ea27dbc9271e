"""`labkit run` with cgroup limits, as a learner types it: limits hold, bad values, crashes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernel_helpers import cgroups
from kernel_helpers.cgroups.group import leftovers
from kernel_helpers.cgroups.stage import CgroupStage, limits_from_options
from kernel_helpers.process import pid_alive
from kernel_helpers.audit.disks import pick_disk
from kernel_helpers.runtime.foreground import run_captured
from kernel_helpers.runtime.run_options import spec_from_options
from kernel_helpers.security.hardening import Hardening, HardeningStage
from kernel_helpers.state import all_states
from kernel_helpers.testing import labkit

pytestmark = pytest.mark.usefixtures("root", "readable_disk")
EAT_64M = "x=$(head -c 67108864 /dev/zero | tr '\\0' x); echo ${#x}"


def kit_groups() -> set[str]:
    """Every kit group folder on the machine (v1 hierarchies and the v2 tree)."""
    layout = cgroups.detect_layout()
    roots = set(layout.v1.values()) | ({layout.v2_root} if layout.v2_root else set())
    return {str(p) for root in roots for p in Path(root, "labkit").glob("lk*")}


def run(busybox_root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return labkit("run", "--rootfs", str(busybox_root), *args)


def test_memory_limit_oom_kills_the_container(busybox_root: Path) -> None:
    before = kit_groups()
    limited = run(busybox_root, "--memory", "32M", "--", "/bin/sh", "-c", EAT_64M)
    assert limited.returncode == 128 + signal.SIGKILL and limited.stdout == ""
    roomy = run(busybox_root, "--memory", "512M", "--", "/bin/sh", "-c", EAT_64M)
    assert (roomy.returncode, roomy.stdout) == (0, "67108864\n")
    assert kit_groups() == before


def test_pids_limit_refuses_forks_inside(busybox_root: Path) -> None:
    pipeline = "sleep 0.1 | sleep 0.1 | sleep 0.1 | sleep 0.1; echo done"
    limited = run(busybox_root, "--pids-limit", "3", "--", "/bin/sh", "-c", pipeline)
    assert "can't fork" in limited.stderr and "done" not in limited.stdout
    roomy = run(busybox_root, "--pids-limit", "20", "--", "/bin/sh", "-c", pipeline)
    assert (roomy.returncode, roomy.stdout) == (0, "done\n")


@pytest.mark.parametrize("ns", ["cgroup,ipc,mnt,net,pid,uts", "cgroup,ipc,mnt,net,pid,user,uts",
                                "ipc,mnt,pid,uts"])
def test_the_container_reads_its_own_limit_and_cannot_raise_it(busybox_root: Path, ns: str) -> None:
    # As runc and Docker: the group at /sys/fs/cgroup, read-only; with a cgroup namespace or
    # without one, with or without a user namespace (its locked mount flags) and a net one.
    knob = ("/sys/fs/cgroup/memory.max" if cgroups.detect_layout().version == 2
            else "/sys/fs/cgroup/memory/memory.limit_in_bytes")
    result = run(busybox_root, "--ns", ns, "--memory", "48M", "--", "/bin/sh", "-c",
                 f"cat {knob}; echo 1 > {knob}")
    assert result.stdout == f"{48 << 20}\n", result.stderr
    assert "Read-only file system" in result.stderr


def test_device_deny_and_the_cgroup_namespace(busybox_root: Path) -> None:
    # The container sees its own group as the root of the tree (cgroup namespace).
    script = "cat /proc/self/cgroup; echo hi > /dev/null && echo null-ok; echo hi > /dev/full"
    denied = run(busybox_root, "--device-deny", "/dev/null", "--", "/bin/sh", "-c", script)
    assert "null-ok" not in denied.stdout and "Operation not permitted" in denied.stderr
    assert all(line.endswith(":/") for line in denied.stdout.split())
    allowed = run(busybox_root, "--", "/bin/sh", "-c", "echo hi > /dev/null && echo null-ok")
    assert allowed.stdout == "null-ok\n"


def _disk_script() -> str:
    disk = pick_disk()
    if disk is None:
        pytest.fail("this machine has no block device host root can read")
    _, major, minor = disk
    return (f"mknod /dev/disk b {major} {minor} && echo made; head -c 512 /dev/disk >/dev/null "
            "&& echo read-the-disk; echo hi > /dev/null && head -c1 /dev/urandom >/dev/null "
            "&& echo null-ok")


def test_a_default_container_gets_dockers_device_list(busybox_root: Path) -> None:
    """mknod is allowed (as Docker allows it), opening the host's disk is not; /dev/null is.

    The node goes in the container's own /dev (a tmpfs gone with it), never in the image."""
    default = run(busybox_root, "--", "/bin/sh", "-c", _disk_script())
    assert default.stdout.split() == ["made", "null-ok"], default.stderr
    assert "Permission denied" in default.stderr  # nodev stops the open first (EACCES)


@pytest.mark.parametrize("privileged, reads", [(False, False), (True, True)])
def test_without_nodev_the_devices_cgroup_refuses_the_open(busybox_root: Path,
                                                           privileged: bool, reads: bool) -> None:
    spec = spec_from_options(["/bin/sh", "-c", _disk_script()], rootfs=str(busybox_root))
    stages = (CgroupStage(limits_from_options(privileged=privileged)),
              HardeningStage(Hardening(nodev=False)))
    code, out = run_captured(spec, stages)
    assert ("read-the-disk" in out) is reads and "made" in out and "null-ok" in out, out
    if not reads:
        assert "Operation not permitted" in out  # EPERM: the devices cgroup, not a mount flag


@pytest.mark.parametrize(("option", "value"), [
    ("--memory", "64X"), ("--cpus", "half"), ("--pids-limit", "0"), ("--cpuset-cpus", "1-0"),
    ("--device-deny", "/etc/passwd"),
    ("--cpuset-cpus", "63"),  # well-formed, but this machine has no CPU 63: the kernel says no
])
def test_bad_values_get_one_sentence_exit_2_and_leave_nothing(option: str, value: str,
                                                              busybox_root: Path) -> None:
    before, probe = kit_groups(), f"probe-{os.urandom(4).hex()}"  # other helpers run containers too
    result = run(busybox_root, option, value, "--", "/bin/true", probe)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("labkit: ")
    assert "Traceback" not in result.stderr
    if value != "63":
        assert f"{option} '{value}'" in result.stderr
    assert kit_groups() == before
    assert [s.id for s in all_states() if probe in s.command] == []


def _container_of(supervisor: int, timeout: float = 15) -> tuple[str, int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for state in all_states():
            if state.supervisor_pid == supervisor and state.status == "running":
                return state.id, state.pid
        time.sleep(0.02)
    raise AssertionError("the container never started")


def test_a_killed_labkit_run_leaves_a_group_that_cleanup_removes(busybox_root: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "kernel_helpers", "run", "--rootfs",
                             str(busybox_root), "--memory", "64M", "--pids-limit", "20", "--",
                             "/bin/sleep", "60"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    name, pid = _container_of(proc.pid)
    group = cgroups.open_group(name)
    assert pid in group.pids()
    limits = group.stats()
    assert (limits.memory_max, limits.pids_max) == (64 << 20, 20)
    assert name not in {item.name for item in leftovers()}  # its owner is alive: in use
    proc.kill()  # SIGKILL: no chance to clean up
    proc.wait()
    assert name in {item.name for item in leftovers()}
    assert os.path.exists(group.paths[0])
    result = labkit("cleanup")
    assert result.returncode == 0, result.stderr
    assert f"cgroup {name}" in result.stdout
    assert not any(os.path.exists(path) for path in group.paths)
    assert name not in {item.name for item in leftovers()}
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not os.path.exists(f"/proc/{pid}")


def _make_things_then_die(report: int) -> None:
    from kernel_helpers.cgroups import loopdev
    from kernel_helpers.cgroups.run import start_in
    group = cgroups.create(limits=cgroups.Limits(pids=10))
    device = loopdev.create(1 << 20)
    sleeper = start_in(group, time.sleep, 60)
    os.write(report, f"{group.name} {device.name} {sleeper}".encode())
    os.kill(os.getpid(), signal.SIGKILL)  # no unwinding, no cleanup: a crash


def test_a_crashed_api_user_leaves_a_group_and_loop_device_the_sweepers_remove() -> None:
    from kernel_helpers.cgroups import group as group_sweeper, loopdev
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read_end)
        _make_things_then_die(write_end)
    os.close(write_end)
    name, loop_name, sleeper = os.read(read_end, 100).decode().split()
    os.close(read_end)
    assert os.WTERMSIG(os.waitpid(child, 0)[1]) == signal.SIGKILL
    found = [item for item in group_sweeper.leftovers() if item.name == name]
    loops = [item for item in loopdev.leftovers() if item.name == loop_name]
    assert len(found) == 1 and len(loops) == 1 and loops[0].where.startswith("/dev/loop")
    group_sweeper.remove(found[0])
    loopdev.remove(loops[0])
    assert name not in {item.name for item in group_sweeper.leftovers()}
    assert loop_name not in {item.name for item in loopdev.leftovers()}
    assert not pid_alive(int(sleeper))
