"""cgroup v2 for real: on this hybrid machine, the unified tree at /sys/fs/cgroup/unified.

The v2 *core* works there: groups, cgroup.procs, cgroup.events, cgroup.freeze,
cgroup.kill, cpu.stat accounting and eBPF device programs. Its controllers
(memory, cpu, pids, io, cpuset) are bound to v1 here, so those plans are checked
against whichever the tree offers and must otherwise fail with a clear sentence;
in the pure-v2 lab VM the same tests apply every plan for real.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Iterator

import pytest

from kernel_helpers import cgroups
from kernel_helpers.audit.probe import run_inside
from kernel_helpers.cgroups import Cgroup, Layout, Limits, Mode, bpf_devices, readback
from kernel_helpers.cgroups.devices import DOCKER_DEFAULT
from kernel_helpers.cgroups.controllers import names
from kernel_helpers.cgroups.layout import SUBTREE
from kernel_helpers.cgroups.run import Counter, run_in, start_in
from kernel_helpers.cgroups.stage import CgroupStage
from kernel_helpers.cleanup import Registry
from kernel_helpers.errors import KernelFeatureMissing
from kernel_helpers.runtime.run_options import spec_from_options
from kernel_helpers.units import parse_size

pytestmark = pytest.mark.usefixtures("root")


@pytest.fixture(scope="module")
def v2() -> Layout:
    layout = cgroups.detect_layout()
    assert layout.v2_root, "this machine mounts no cgroup2 tree; the v2 tests need one"
    return layout.v2_only() if layout.mode is Mode.HYBRID else layout


@pytest.fixture
def group(v2: Layout) -> Iterator[Cgroup]:
    with Registry() as registry:
        yield cgroups.create(layout=v2, registry=registry)


def _kit_groups(layout: Layout) -> list[str]:
    folder = f"{layout.v2_root}/labkit"
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


def _proc_cgroup() -> str:
    with open("/proc/self/cgroup") as f:
        return f.read()


def test_a_process_added_to_a_v2_group_is_in_it(group: Cgroup, v2: Layout) -> None:
    assert group.version == 2 and group.paths == [f"{v2.v2_root}/labkit/{group.name}"]
    assert f"0::/labkit/{group.name}\n" in run_in(group, _proc_cgroup)
    events = lambda: open(f"{group.paths[0]}/cgroup.events").read()
    assert "populated 0" in events()
    pid = start_in(group, time.sleep, 60)
    assert group.pids() == [pid] and "populated 1" in events()
    group.delete()
    assert os.WTERMSIG(os.waitpid(pid, 0)[1]) == signal.SIGKILL
    assert not os.path.exists(group.paths[0])


def test_cgroup_freeze_stops_progress_and_thaw_resumes(group: Cgroup) -> None:
    counter = Counter(group)
    try:
        time.sleep(0.05)
        group.freeze()
        assert "frozen 1" in open(f"{group.paths[0]}/cgroup.events").read()
        frozen_at = counter.value
        time.sleep(0.3)
        assert counter.value == frozen_at and group.stats().frozen is True
        group.thaw()
        time.sleep(0.1)
        assert counter.value > frozen_at and group.stats().frozen is False
    finally:
        counter.stop()


def _family(children: int) -> None:
    for _ in range(children):
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
    time.sleep(60)


def test_cgroup_kill_kills_the_whole_group_at_once(group: Cgroup) -> None:
    assert os.path.exists(f"{group.paths[0]}/cgroup.kill")
    pid = start_in(group, _family, 4)
    deadline = time.monotonic() + 5
    while len(group.pids()) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(group.pids()) == 5
    group.kill()
    assert os.WTERMSIG(os.waitpid(pid, 0)[1]) == signal.SIGKILL
    deadline = time.monotonic() + 5
    while group.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert group.pids() == []


def _opens(*attempts: tuple[str, int]) -> list[bool]:
    results = []
    for path, flags in attempts:
        try:
            os.close(os.open(path, flags))
            results.append(True)
        except PermissionError:
            results.append(False)
    return results


NULL_R, NULL_W, ZERO_R = ("/dev/null", os.O_RDONLY), ("/dev/null", os.O_WRONLY), ("/dev/zero", 0)


def test_the_ebpf_device_program_denies_what_it_should(group: Cgroup) -> None:
    assert run_in(group, _opens, NULL_R, NULL_W, ZERO_R) == [True, True, True]  # control
    assert bpf_devices.attached_count(group.paths[0]) == 0
    group.apply(Limits(devices=cgroups.deny(cgroups.parse_device("/dev/null"))))
    assert bpf_devices.attached_count(group.paths[0]) == 1
    assert run_in(group, _opens, NULL_R, NULL_W, ZERO_R) == [False, False, True]
    # Allow-list shape (Docker's default): only reading /dev/null; applying again replaces it.
    group.apply(Limits(devices=cgroups.allow_only(cgroups.parse_device("c 1:3 r"))))
    assert bpf_devices.attached_count(group.paths[0]) == 1
    assert run_in(group, _opens, NULL_R, NULL_W, ZERO_R) == [True, False, False]
    # A deny rule on write access only (v1's overlap rule): reads pass, writes do not.
    group.apply(Limits(devices=cgroups.deny(cgroups.parse_device("c 1:* w"))))
    assert run_in(group, _opens, NULL_R, NULL_W, ZERO_R) == [True, False, True]


def test_dockers_device_list_on_v2_and_reading_it_back(group: Cgroup) -> None:
    group.apply(Limits(devices=DOCKER_DEFAULT))
    assert run_in(group, _opens, NULL_R, NULL_W, ZERO_R, ("/dev/kmsg", os.O_RDONLY)) == [
        True, True, True, False]  # /dev/kmsg (1:11) is not on the list
    pid = start_in(group, time.sleep, 30)
    try:
        assert readback.in_force(pid).v2_programs >= 1
        assert readback.in_force(pid).restricted
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _spin_for(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def _ticks_used(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks


def test_cpu_accounting_and_sampling_agree_with_proc(group: Cgroup) -> None:
    pid = start_in(group, _spin_for, 60)
    try:
        samples = cgroups.record(group, seconds=0.8, interval=0.2)
        os.kill(pid, signal.SIGSTOP)
        time.sleep(0.05)
        used_usec = group.stats().cpu_usage_usec
        proc_usec = _ticks_used(pid) * 1_000_000 // os.sysconf("SC_CLK_TCK")
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    times, percent = cgroups.cpu_percent(samples)
    assert len(samples) == 5 and len(percent) == 4
    assert all(0 < p <= 105 for p in percent), percent  # one thread: at most one CPU
    # cpu.stat (nanosecond-exact) against /proc's tick-rounded utime+stime of the same process.
    assert abs(used_usec - proc_usec) <= 60_000 + used_usec // 20, (used_usec, proc_usec)


def test_v2_controller_plans_apply_where_offered_and_say_why_not_elsewhere(v2: Layout) -> None:
    limits = {"memory": Limits(memory=parse_size("64M")), "cpu": Limits(cpus=0.5),
              "pids": Limits(pids=20), "cpuset": Limits(cpuset_cpus=(0,))}
    expected = {"memory": ("memory.max", "67108864"), "cpu": ("cpu.max", "50000 100000"),
                "pids": ("pids.max", "20"), "cpuset": ("cpuset.cpus", "0")}
    for controller, limit in limits.items():
        before = _kit_groups(v2)
        if controller in v2.v2_controllers:
            with Registry() as registry:
                group = cgroups.create(limits=limit, layout=v2, registry=registry)
                name, value = expected[controller]
                assert open(f"{group.paths[0]}/{name}").read().strip() == value
        else:
            with pytest.raises(KernelFeatureMissing,
                               match=f"^cgroup controller {controller}: is not available"):
                cgroups.create(limits=limit, layout=v2)
        assert _kit_groups(v2) == before  # nothing half-made
    assert set(names(2)) >= set(limits)


def test_net_cls_has_no_v2_form_and_the_error_says_what_replaces_it(v2: Layout) -> None:
    before = _kit_groups(v2)
    with pytest.raises(KernelFeatureMissing, match="socket cgroupv2"):
        cgroups.create(limits=Limits(net_cls_classid=0x10001), layout=v2)
    assert _kit_groups(v2) == before


def _cgroup_mount_inside() -> tuple[str, str, list[str], str]:
    """From inside: the /sys/fs/cgroup mount (root in its filesystem, type), the names there,
    memory.max if the group has the memory controller, and what writing cgroup.freeze did."""
    line = next(line for line in open("/proc/self/mountinfo") if line.split()[4] == "/sys/fs/cgroup")
    fstype = line.split(" - ")[1].split()[0]
    names = sorted(os.listdir("/sys/fs/cgroup"))
    memory = open("/sys/fs/cgroup/memory.max").read().strip() if "memory.max" in names else ""
    try:
        open("/sys/fs/cgroup/cgroup.freeze", "w").close()
        wrote = "written"
    except OSError as err:
        wrote = os.strerror(err.errno or 0)
    return f"{line.split()[3]} {fstype}", memory, names, wrote


@pytest.mark.parametrize("ns", ["cgroup,ipc,mnt,net,pid,uts", "cgroup,ipc,mnt,net,pid,user,uts",
                                "ipc,mnt,net,pid,uts"])
def test_a_container_sees_its_own_v2_group_read_only_at_sys_fs_cgroup(v2: Layout, ns: str) -> None:
    # The v2 mount for real: here on the hybrid unified tree (only the pure-v2 VM can show
    # memory.max, its controllers being bound to v1 here).
    memory = "memory" in v2.v2_controllers
    stage = CgroupStage(Limits(memory=parse_size("48M")) if memory else Limits(), layout=v2)
    spec = spec_from_options(["/bin/true"], ns=ns)
    before = _kit_groups(v2)
    mount, memory_max, names, wrote = run_inside(_cgroup_mount_inside, spec, (stage,))
    assert _kit_groups(v2) == before  # the group went with the container
    if "cgroup" in ns:
        assert mount == "/ cgroup2"  # a fresh cgroup2 whose root is the group (cgroup namespace)
    else:
        assert mount.startswith(f"/{SUBTREE}/lk") and mount.endswith(" cgroup2")  # the group, bound
    assert "cgroup.procs" in names and SUBTREE not in names  # the group, not the whole tree
    assert memory_max == (str(48 << 20) if memory else "")
    assert wrote == "Read-only file system"
