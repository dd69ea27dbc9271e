"""What a group may use (Limits) and what it used (Stats), the same for cgroup v1 and v2.

The conversions between the two versions are pure functions, written down once:

    idea             cgroup v1                          cgroup v2                    conversion
    memory limit     memory.limit_in_bytes              memory.max                   same bytes
    swap             memory.memsw.limit_in_bytes        memory.swap.max              v1 counts
                     (memory + swap)                    (swap alone)                 memory + swap
    CPU quota        cpu.cfs_quota_us, cpu.cfs_period_us  cpu.max "QUOTA PERIOD"     cpus * period
    CPU share        cpu.shares 2..262144 (1024)        cpu.weight 1..10000 (100)    see below
    IO weight        blkio.bfq.weight 1..1000 (100)     io.bfq.weight 1..1000 (100)  same number
    IO throttle      blkio.throttle.{read,write}_       io.max "MAJ:MIN rbps=..      same numbers,
                     {bps,iops}_device, one per kind    wbps= riops= wiops="         one line on v2
    pids             pids.max                           pids.max                     same
    cpuset           cpuset.cpus, cpuset.mems           cpuset.cpus, cpuset.mems     same "0-1" form
    devices          devices.allow, devices.deny        an eBPF program              bpf_devices
    freezer          freezer.state FROZEN/THAWED        cgroup.freeze 1/0            -
    net_cls classid  net_cls.classid                    (none: match the path with nftables
                                                         `socket cgroupv2`, or a BPF program)

Taught in: lab 05.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

CPU_PERIOD_US = 100_000
"""The kernel's default CFS period (100 ms); quotas are given against it."""


@dataclass(frozen=True)
class DeviceRule:
    """Devices by type ('c', 'b' or 'a' for all), major/minor (None = any) and access."""

    type: str = "a"
    major: int | None = None
    minor: int | None = None
    access: str = "rwm"
    """r = read, w = write, m = mknod."""

    def __str__(self) -> str:
        """The v1 devices.allow/deny form: "c 1:3 rwm" or "a"."""
        if self.type == "a":
            return "a"
        def star(n: int | None) -> str:
            return "*" if n is None else str(n)
        return f"{self.type} {star(self.major)}:{star(self.minor)} {self.access}"


@dataclass(frozen=True)
class DevicePolicy:
    """A default (allow or deny every device) plus exceptions, the v1 devices model.

    Exceptions to "allow" are denied; exceptions to "deny" are allowed.
    """

    default_allow: bool = True
    exceptions: tuple[DeviceRule, ...] = ()


@dataclass(frozen=True)
class Throttle:
    """An IO limit on one block device (MAJOR:MINOR); None means no limit for that number."""

    major: int
    minor: int
    read_bps: int | None = None
    write_bps: int | None = None
    read_iops: int | None = None
    write_iops: int | None = None


@dataclass(frozen=True)
class Limits:
    """Everything a group may be limited in; None (the default) leaves that knob alone."""

    memory: int | None = None
    """Bytes of memory (RAM); over it the kernel reclaims, then OOM-kills."""
    swap: int | None = None
    """Bytes of swap allowed on top of `memory` (v1 needs `memory` too)."""
    cpus: float | None = None
    """CPU time per period, in CPUs: 0.5 = half of one CPU."""
    cpu_period_us: int = CPU_PERIOD_US
    cpu_shares: int | None = None
    """Relative share when CPUs are contended, in v1 units (1024 = normal)."""
    cpuset_cpus: tuple[int, ...] | None = None
    cpuset_mems: tuple[int, ...] | None = None
    pids: int | None = None
    """Most tasks (processes and threads) at once; fork fails with EAGAIN past it."""
    io_weight: int | None = None
    io_throttle: tuple[Throttle, ...] = ()
    devices: DevicePolicy | None = None
    net_cls_classid: int | None = None
    """v1 only: a traffic-control class id (0xAAAABBBB = AAAA:BBBB) put on the group's packets."""


@dataclass(frozen=True)
class Stats:
    """What a group used, read from its accounting files; None where this machine has no source."""

    memory_current: int | None = None
    memory_max: int | None = None
    """The limit in force, None when unlimited."""
    memory_peak: int | None = None
    oom_events: int | None = None
    """Times the group hit its limit and could not reclaim (v2 memory.events "oom")."""
    oom_kills: int | None = None
    """Processes the OOM killer killed in the group."""
    cpu_usage_usec: int | None = None
    cpu_user_usec: int | None = None
    cpu_system_usec: int | None = None
    cpu_nr_periods: int | None = None
    cpu_nr_throttled: int | None = None
    cpu_throttled_usec: int | None = None
    pids_current: int | None = None
    pids_max: int | None = None
    pids_denied: int | None = None
    """Forks refused because of pids.max (pids.events "max")."""
    io_read_bytes: int | None = None
    io_write_bytes: int | None = None
    frozen: bool | None = None

    @classmethod
    def merge(cls, *parts: dict[str, object]) -> Stats:
        """One Stats from the per-controller dicts (unknown keys are a bug, so they raise)."""
        known = {f.name for f in fields(cls)}
        merged: dict[str, object] = {}
        for part in parts:
            merged.update(part)
        unknown = set(merged) - known
        if unknown:
            raise TypeError(f"unknown stats fields {sorted(unknown)}")
        return cls(**merged)  # type: ignore[arg-type]


def shares_to_weight(shares: int) -> int:
    """v1 cpu.shares (2..262144) -> v2 cpu.weight (1..10000), runc's linear map.

    Both ranges are mapped end to end, so 2 -> 1 and 262144 -> 10000; the
    defaults do not line up (1024 -> 39, not 100), which is why systemd and
    runc document the formula rather than a "same meaning" promise.
    """
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


def weight_to_shares(weight: int) -> int:
    """v2 cpu.weight -> v1 cpu.shares, the inverse of `shares_to_weight` (rounded up)."""
    weight = min(max(weight, 1), 10000)
    return 2 + -(-((weight - 1) * 262142) // 9999)


def cpus_to_quota(cpus: float, period_us: int = CPU_PERIOD_US) -> int:
    """CPUs -> microseconds of CPU time per period (at least 1000, the kernel's minimum)."""
    return max(1000, round(cpus * period_us))


def memsw_v1(memory: int, swap: int) -> int:
    """v1 counts memory and swap together (memsw); v2's memory.swap.max counts swap alone."""
    return memory + swap


@dataclass(frozen=True)
class Write:
    """One value written to one file of one controller: the unit every plan is made of."""

    controller: str
    """Which v1 hierarchy holds the file ("memory", "cpu", ...); on v2 all share one folder."""
    file: str
    value: str
    optional: bool = field(default=False, compare=False)
    """Skip quietly when the file does not exist (e.g. swap accounting is off)."""

    def __str__(self) -> str:
        return f"{self.file} <- {self.value}"
