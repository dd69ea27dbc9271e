"""Each controller limits what the course says, on this machine's cgroups (v1 here, v2 in the VM).

Every test has a control: the same workload without the limit behaves
differently, so the assertion would fail if the limit were not applied.
"""

from __future__ import annotations

import mmap
import os
import signal
import time
from typing import Iterator

import pytest

from kernel_helpers import cgroups
from kernel_helpers.cgroups import Cgroup, Limits, Throttle, loopdev
from kernel_helpers.cgroups.run import Counter, run_in, start_in
from kernel_helpers.cleanup import Registry

pytestmark = pytest.mark.usefixtures("root")


@pytest.fixture
def registry() -> Iterator[Registry]:
    with Registry() as registry:
        yield registry


def make(registry: Registry, **limits: object) -> Cgroup:
    return cgroups.create(limits=Limits(**limits), registry=registry)  # type: ignore[arg-type]


def wait_status(pid: int) -> int:
    return os.waitpid(pid, 0)[1]


def _allocate(megabytes: int) -> None:
    data = b"\x01" * (megabytes << 20)  # really touched, so really charged
    assert len(data) == megabytes << 20


def test_over_its_memory_limit_a_process_is_oom_killed_and_counted(registry: Registry) -> None:
    limited = make(registry, memory=32 << 20, swap=0)  # no swap: a VM with swap would page instead
    status = wait_status(start_in(limited, _allocate, 128))
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    assert limited.stats().oom_kills >= 1
    assert limited.stats().memory_peak <= 32 << 20
    # Control: the same allocation in a group without a limit succeeds and nothing is killed.
    free = make(registry)
    assert os.waitstatus_to_exitcode(wait_status(start_in(free, _allocate, 128))) == 0
    assert free.stats().oom_kills == 0


def _spin() -> None:
    while True:
        pass


def _cpu_shares(*groups: Cgroup, seconds: float = 1.5) -> list[float]:
    """CPUs each group used over the same wall time, from the group's own accounting."""
    pids = [start_in(group, _spin) for group in groups]
    try:
        time.sleep(0.2)  # let the first periods pass
        t0, first = time.monotonic(), [group.stats().cpu_usage_usec for group in groups]
        time.sleep(seconds)
        t1, last = time.monotonic(), [group.stats().cpu_usage_usec for group in groups]
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
            wait_status(pid)
    return [(b - a) / 1e6 / (t1 - t0) for a, b in zip(first, last)]


def test_a_cpu_bound_process_at_0_2_cpus_uses_about_20_percent(registry: Registry) -> None:
    # Both spin at the same time, so other load on the machine's CPUs hits both alike.
    limited, free = make(registry, cpus=0.2), make(registry)
    share, free_share = _cpu_shares(limited, free)
    print(f"0.2 CPUs used {share:.3f}; unlimited used {free_share:.3f}")
    # The quota caps usage: a tight upper bound. Other load on the 2 CPUs can only lower it,
    # so the lower bound is loose, and nr_throttled > 0 proves the quota (not contention) is
    # what held it back: a group without a quota is never throttled, however busy the machine.
    assert 0.08 <= share <= 0.26, (share, free_share)
    limited_stats, free_stats = limited.stats(), free.stats()
    assert limited_stats.cpu_nr_throttled > 0 and limited_stats.cpu_throttled_usec > 0
    # Control, measured at the same time: no quota, no throttling, and no cap below the limit's.
    assert free_stats.cpu_nr_throttled == 0
    assert free_share >= 0.8 * share, (share, free_share)


def _fork_bomb(attempts: int) -> tuple[int, int]:
    """Fork up to `attempts` sleepers (bounded even if no limit were set); count successes."""
    made = refused = 0
    for _ in range(attempts):
        try:
            pid = os.fork()
        except BlockingIOError:  # EAGAIN: pids.max reached
            refused += 1
            continue
        if pid == 0:
            os.closerange(3, 1024)  # let go of run_in's result pipe, or the caller waits for us
            time.sleep(60)          # killed when the group is deleted
            os._exit(0)
        made += 1
    return made, refused


def test_a_fork_bomb_stops_at_pids_max(registry: Registry) -> None:
    limited = make(registry, pids=20)
    made, refused = run_in(limited, _fork_bomb, 60)
    # The bomb itself is one of the 20, so 19 forks succeed and the other 41 are refused.
    assert (made, refused) == (19, 41)
    stats = limited.stats()
    assert stats.pids_current == 19 and stats.pids_max == 20 and stats.pids_denied == 41
    free = make(registry)
    assert run_in(free, _fork_bomb, 30) == (30, 0)
    free.delete()
    limited.delete()
    assert limited.pids() == [] and not any(os.path.exists(p) for p in limited.paths)


def test_a_denied_device_cannot_be_opened(registry: Registry) -> None:
    group = make(registry)
    assert run_in(group, _can_open, "/dev/null")  # control: allowed before the rule
    group.apply(Limits(devices=cgroups.deny(cgroups.parse_device("/dev/null"))))
    assert not run_in(group, _can_open, "/dev/null")
    assert run_in(group, _can_open, "/dev/zero")  # only the denied device


def _can_open(path: str) -> bool:
    try:
        os.close(os.open(path, os.O_RDWR))
        return True
    except PermissionError:
        return False


def _cpus_seen() -> tuple[set[int], set[int]]:
    """(allowed CPUs, CPUs actually run on) while spinning for a while."""
    ran_on = set()
    deadline = time.monotonic() + 0.5
    while time.monotonic() < deadline:
        with open("/proc/self/stat") as f:
            ran_on.add(int(f.read().rsplit(")", 1)[1].split()[36]))  # field 39: processor
    return os.sched_getaffinity(0), ran_on


def test_cpuset_pins_to_the_allowed_cpu(registry: Registry) -> None:
    last = max(os.sched_getaffinity(0))
    pinned = make(registry, cpuset_cpus=(last,))
    assert run_in(pinned, _cpus_seen) == ({last}, {last})
    free = make(registry)
    assert len(run_in(free, _cpus_seen)[0]) == os.cpu_count() > 1


def _read_direct(path: str, size: int) -> float:
    """Seconds to read `size` bytes with O_DIRECT (v1 blkio throttles direct IO only)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
    buffer = mmap.mmap(-1, 64 << 10)  # page-aligned, as O_DIRECT needs
    start = time.monotonic()
    try:
        done = 0
        while done < size:
            done += os.preadv(fd, [buffer], done)
    finally:
        os.close(fd)
    return time.monotonic() - start


def test_io_throttle_on_a_loop_device_the_kit_makes(registry: Registry) -> None:
    device = loopdev.create(16 << 20, registry=registry)
    size = 3 << 19  # 1.5 MiB
    free = make(registry)
    assert run_in(free, _read_direct, device.path, size) < 0.5
    limited = make(registry, io_throttle=(Throttle(device.major, device.minor,
                                                   read_bps=1 << 20),))
    assert run_in(limited, _read_direct, device.path, size) >= 1.0  # 1.5 MiB at 1 MiB/s
    assert limited.stats().io_read_bytes >= size


def test_a_frozen_group_makes_no_progress_and_resumes_on_thaw(registry: Registry) -> None:
    group = make(registry)
    counter = Counter(group)
    try:
        time.sleep(0.05)
        group.freeze()
        assert group.stats().frozen is True
        frozen_at = counter.value
        time.sleep(0.3)
        assert counter.value == frozen_at
        group.thaw()
        time.sleep(0.1)
        assert counter.value > frozen_at and group.stats().frozen is False
    finally:
        counter.stop()


def test_delete_kills_every_process_and_removes_the_group(registry: Registry) -> None:
    group = make(registry)
    pids = [start_in(group, time.sleep, 60) for _ in range(3)]
    assert sorted(group.pids()) == sorted(pids)
    for pid in pids:
        with open(f"/proc/{pid}/cgroup") as f:
            assert f"/labkit/{group.name}" in f.read()
    group.delete()
    assert [os.WTERMSIG(wait_status(pid)) for pid in pids] == [signal.SIGKILL] * 3
    assert not any(os.path.exists(path) for path in group.paths)
    group.delete()  # idempotent
