"""cgroup plans are pure: the exact writes for v1 and v2, the conversions, mode detection."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel_helpers.cgroups import (DeviceRule, Limits, Mode, Throttle, allow_only, deny,
                                    detect_layout, parse_device, plan, shares_to_weight,
                                    weight_to_shares)
from kernel_helpers.cgroups import bpf_devices
from kernel_helpers.cgroups.devices import DOCKER_DEFAULT, without
from kernel_helpers.cgroups.readback import InForce
from kernel_helpers.cgroups.stage import device_policy
from kernel_helpers.cgroups._write import apply_writes, check_inside
from kernel_helpers.cgroups.limits import Stats, Write, cpus_to_quota
from kernel_helpers.cgroups.sampling import Sample, cpu_percent, series
from kernel_helpers.errors import InvalidValue, KernelFeatureMissing, LabkitError


def writes(limits: Limits, version: int) -> list[tuple[str, str, str]]:
    return [(w.controller, w.file, w.value) for w in plan(limits, version)]


def test_nothing_asked_nothing_written() -> None:
    assert writes(Limits(), 1) == writes(Limits(), 2) == []


def test_memory_and_swap() -> None:
    limits = Limits(memory=64 << 20, swap=16 << 20)
    assert writes(limits, 2) == [("memory", "memory.max", "67108864"),
                                 ("memory", "memory.swap.max", "16777216")]
    # v1 counts memory+swap together, and memsw must be written after the memory limit.
    assert writes(limits, 1) == [("memory", "memory.limit_in_bytes", "67108864"),
                                 ("memory", "memory.memsw.limit_in_bytes", "83886080")]


def test_cpu_quota_and_shares() -> None:
    limits = Limits(cpus=0.2, cpu_shares=2048)
    assert writes(limits, 2) == [("cpu", "cpu.max", "20000 100000"), ("cpu", "cpu.weight", "79")]
    assert writes(limits, 1) == [("cpu", "cpu.cfs_period_us", "100000"),
                                 ("cpu", "cpu.cfs_quota_us", "20000"),
                                 ("cpu", "cpu.shares", "2048")]
    assert writes(Limits(cpus=1.5, cpu_period_us=50_000), 2) == [("cpu", "cpu.max", "75000 50000")]


@pytest.mark.parametrize(("shares", "weight"), [(2, 1), (262144, 10000), (1024, 39), (1, 1),
                                                (10**6, 10000)])
def test_shares_to_weight_is_runcs_formula(shares: int, weight: int) -> None:
    assert shares_to_weight(shares) == weight


def test_weight_to_shares_inverts_shares_to_weight() -> None:
    for weight in (1, 39, 100, 5000, 10000):
        assert shares_to_weight(weight_to_shares(weight)) == weight


def test_tiny_cpu_amounts_hit_the_kernels_minimum_quota() -> None:
    assert cpus_to_quota(0.001) == 1000


def test_cpuset_pids_same_files_on_both() -> None:
    limits = Limits(cpuset_cpus=(0, 1, 3), cpuset_mems=(0,), pids=20)
    expected = [("cpuset", "cpuset.cpus", "0-1,3"), ("cpuset", "cpuset.mems", "0"),
                ("pids", "pids.max", "20")]
    assert writes(limits, 1) == writes(limits, 2) == expected


def test_io_throttle_and_weight() -> None:
    limits = Limits(io_weight=200, io_throttle=(Throttle(7, 3, read_bps=1 << 20, write_iops=50),))
    assert writes(limits, 2) == [("io", "io.bfq.weight", "200"),
                                 ("io", "io.max", "7:3 rbps=1048576 wbps=max riops=max wiops=50")]
    assert writes(limits, 1) == [("blkio", "blkio.bfq.weight", "200"),
                                 ("blkio", "blkio.throttle.read_bps_device", "7:3 1048576"),
                                 ("blkio", "blkio.throttle.write_bps_device", "7:3 0"),
                                 ("blkio", "blkio.throttle.read_iops_device", "7:3 0"),
                                 ("blkio", "blkio.throttle.write_iops_device", "7:3 50")]


def test_devices_v1_default_then_exceptions_v2_uses_ebpf() -> None:
    limits = Limits(devices=deny(DeviceRule("c", 1, 3, "rwm"), DeviceRule("b", 8, None, "w")))
    assert writes(limits, 1) == [("devices", "devices.allow", "a"),
                                 ("devices", "devices.deny", "c 1:3 rwm"),
                                 ("devices", "devices.deny", "b 8:* w")]
    assert writes(Limits(devices=allow_only(DeviceRule("c", 1, 5, "r"))), 1) == [
        ("devices", "devices.deny", "a"), ("devices", "devices.allow", "c 1:5 r")]
    assert writes(limits, 2) == []


def test_dockers_device_list_is_the_default_and_privileged_drops_it() -> None:
    assert device_policy() == DOCKER_DEFAULT and not DOCKER_DEFAULT.default_allow
    v1 = writes(Limits(devices=DOCKER_DEFAULT), 1)
    assert v1[0] == ("devices", "devices.deny", "a")
    assert {value for _, file, value in v1[1:] if file == "devices.allow"} == {
        "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
        "c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm"}
    assert device_policy(privileged=True) is None
    assert device_policy(["c 1:3 rwm"], privileged=True) == deny(DeviceRule("c", 1, 3, "rwm"))


def test_denying_from_the_allow_list_takes_access_away_as_v1_does() -> None:
    policy = without(DOCKER_DEFAULT, (DeviceRule("c", 1, 3, "rwm"), DeviceRule("c", 1, 5, "w")))
    rules = {(r.major, r.minor): r.access for r in policy.exceptions if r.type == "c"}
    assert (1, 3) not in rules and rules[(1, 5)] == "rm"
    assert rules[(None, None)] == "m"  # a wider rule (mknod of any node) stays, as in v1
    assert without(DOCKER_DEFAULT, (DeviceRule("a"),)).exceptions == ()
    assert device_policy(["c 1:3 rwm"]) == without(DOCKER_DEFAULT, (DeviceRule("c", 1, 3, "rwm"),))


def test_what_is_in_force_reads_as_restricted_or_not() -> None:
    assert not InForce(("a *:* rwm",), 0).restricted and not InForce(None, 0).restricted
    assert InForce(("c 1:3 rwm",), 0).restricted and InForce(None, 1).restricted
    assert InForce(("a *:* rwm",), 0).describe().startswith("v1 devices.list: every device")


def test_net_cls_is_v1_only_with_a_clear_error_on_v2() -> None:
    assert writes(Limits(net_cls_classid=0x100001), 1) == [
        ("net_cls", "net_cls.classid", "1048577")]
    with pytest.raises(KernelFeatureMissing, match="cgroup v2 has no net_cls controller"):
        plan(Limits(net_cls_classid=1), 2)


def test_parse_device() -> None:
    assert parse_device("/dev/null") == DeviceRule("c", 1, 3, "rwm")
    assert parse_device("b 8:* w") == DeviceRule("b", 8, None, "w")
    assert parse_device("c 1:3") == DeviceRule("c", 1, 3, "rwm")
    assert parse_device("a") == DeviceRule("a")
    for bad in ("/etc/passwd", "/dev/nonexistent", "x 1:2", "c 1:3 rwx", "c1:3"):
        with pytest.raises(InvalidValue, match=rf"^device '{bad}': is not a device"):
            parse_device(bad)


def test_ebpf_program_shape() -> None:
    # 6 loads/shifts of the context, then per exception its checks + mov + exit, then the default.
    program = bpf_devices.assemble(deny(DeviceRule("c", 1, 3, "rwm")))
    insns = [program[i:i + 8] for i in range(0, len(program), 8)]
    assert len(insns) == 6 + (3 + 2) + 2
    assert insns[-1][0] == bpf_devices.EXIT and insns[-2][0] == bpf_devices.ALU64_MOV_K
    assert int.from_bytes(insns[-2][4:], "little") == 1   # default allow
    # The type check jumps over the rest of its block (4 insns) to the default.
    assert insns[6][0] == bpf_devices.JMP_JNE_K and int.from_bytes(insns[6][2:4], "little") == 4
    assert len(bpf_devices.assemble(allow_only())) == 8 * 8


def test_detect_layout_from_a_fixture_mount_table(tmp_path: Path) -> None:
    v2 = tmp_path / "unified"
    v2.mkdir()
    (v2 / "cgroup.controllers").write_text("cpu io memory pids\n")
    table = tmp_path / "mountinfo"
    table.write_text(
        "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
        "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,nosuid,memory\n"
        "40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n"
        f"41 31 0:38 / {v2} rw - cgroup2 cgroup2 rw\n")
    layout = detect_layout(str(table))
    assert layout.mode is Mode.HYBRID and layout.version == 1
    assert layout.v1 == {"cpu": "/sys/fs/cgroup/cpu,cpuacct",
                         "cpuacct": "/sys/fs/cgroup/cpu,cpuacct", "memory": "/sys/fs/cgroup/memory"}
    assert layout.v2_controllers == ("cpu", "io", "memory", "pids")
    assert layout.v2_only().version == 2
    table.write_text(f"41 31 0:38 / {v2} rw - cgroup2 cgroup2 rw\n")
    assert detect_layout(str(table)).mode is Mode.V2
    table.write_text("31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n")
    assert detect_layout(str(table)).mode is Mode.NONE


def test_the_writer_refuses_paths_outside_the_kit_subtree(tmp_path: Path) -> None:
    kit = tmp_path / "labkit"
    (kit / "lk00000001").mkdir(parents=True)
    check_inside(str(kit / "lk00000001" / "pids.max"), [str(kit)])
    for outside in (tmp_path / "pids.max", kit.parent / "labkit-other" / "x",
                    kit / ".." / "pids.max"):
        with pytest.raises(LabkitError, match="outside the kit's own cgroup subtree"):
            check_inside(str(outside), [str(kit)])
    (kit / "lk00000001" / "pids.max").write_text("max")  # the writer never creates files
    apply_writes({"pids": str(kit / "lk00000001")}, [Write("pids", "pids.max", "5")], [str(kit)])
    assert (kit / "lk00000001" / "pids.max").read_text() == "5"
    with pytest.raises(KernelFeatureMissing, match="controller memory: is not available"):
        apply_writes({}, [Write("memory", "memory.max", "1")], [str(kit)])


def test_sampling_maths() -> None:
    samples = [Sample(0.0, Stats(cpu_usage_usec=0, memory_current=1)),
               Sample(0.5, Stats(cpu_usage_usec=100_000, memory_current=2)),
               Sample(1.0, Stats(cpu_usage_usec=600_000, memory_current=3))]
    assert cpu_percent(samples) == ([0.5, 1.0], [20.0, 100.0])
    assert series(samples, "memory_current") == ([0.0, 0.5, 1.0], [1, 2, 3])


def test_stats_merge_rejects_unknown_fields() -> None:
    with pytest.raises(TypeError):
        Stats.merge({"memory_current": 1}, {"not_a_field": 2})


def _files(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def test_v2_stats_from_a_fixture_group(tmp_path: Path) -> None:
    from kernel_helpers.cgroups import Cgroup
    folder = tmp_path / "labkit" / "lk00000002"
    _files(folder, {
        "memory.current": "1048576\n", "memory.max": "max\n", "memory.peak": "2097152\n",
        "memory.events": "low 0\nhigh 0\nmax 7\noom 2\noom_kill 1\noom_group_kill 0\n",
        "cpu.stat": "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\n"
                    "nr_throttled 4\nthrottled_usec 800\nnr_bursts 0\nburst_usec 0\n",
        "pids.current": "3\n", "pids.max": "20\n", "pids.events": "max 5\n",
        "io.stat": "7:0 rbytes=4096 wbytes=512 rios=1 wios=1 dbytes=0 dios=0\n"
                   "8:0 rbytes=4096 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
        "cgroup.events": "populated 1\nfrozen 1\n"})
    group = Cgroup("lk00000002", 2, {}, [str(tmp_path / "labkit")])
    assert group.stats() == Stats(
        memory_current=1 << 20, memory_max=None, memory_peak=2 << 20, oom_events=2, oom_kills=1,
        cpu_usage_usec=1500, cpu_user_usec=1000, cpu_system_usec=500, cpu_nr_periods=10,
        cpu_nr_throttled=4, cpu_throttled_usec=800, pids_current=3, pids_max=20, pids_denied=5,
        io_read_bytes=8192, io_write_bytes=512, frozen=True)


def test_v1_stats_from_fixture_hierarchies(tmp_path: Path) -> None:
    from kernel_helpers.cgroups import Cgroup
    files = {
        "memory": {"memory.usage_in_bytes": "4096\n",
                   "memory.limit_in_bytes": "9223372036854771712\n",
                   "memory.max_usage_in_bytes": "8192\n",
                   "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"},
        "cpu": {"cpu.stat": "nr_periods 5\nnr_throttled 2\nthrottled_time 3000000\n"},
        "cpuacct": {"cpuacct.usage": "2500000\n", "cpuacct.stat": "user 12\nsystem 3\n"},
        "pids": {"pids.current": "2\n", "pids.max": "max\n", "pids.events": "max 0\n"},
        "blkio": {"blkio.throttle.io_service_bytes_recursive":
                  "7:0 Read 1024\n7:0 Write 2048\n7:0 Sync 0\n7:0 Total 3072\nTotal 3072\n"},
        "freezer": {"freezer.state": "THAWED\n"}}
    folders = {}
    for controller, content in files.items():
        _files(tmp_path / controller / "labkit" / "lk00000003", content)
        folders[controller] = str(tmp_path / controller / "labkit" / "lk00000003")
    group = Cgroup("lk00000003", 1, folders, [str(tmp_path / c / "labkit") for c in files])
    assert group.stats() == Stats(
        memory_current=4096, memory_max=None, memory_peak=8192, oom_kills=3,
        cpu_usage_usec=2500, cpu_user_usec=120_000, cpu_system_usec=30_000, cpu_nr_periods=5,
        cpu_nr_throttled=2, cpu_throttled_usec=3000, pids_current=2, pids_max=None,
        pids_denied=0, io_read_bytes=1024, io_write_bytes=2048, frozen=False)
