"""io (v2) and blkio (v1): a weight between groups, and byte/operation limits per device.

Throttles are per block device, named MAJOR:MINOR. On v1 they apply to
direct IO only (buffered writes are flushed later by the kernel, outside the
group); v2 also throttles writeback.

Taught in: lab 05.
"""

from __future__ import annotations

from kernel_helpers.cgroups._read import read_text
from kernel_helpers.cgroups.limits import Limits, Throttle, Write

IO_MAX = "io.max"
IO_WEIGHT = "io.bfq.weight"
BLKIO_WEIGHT = "blkio.bfq.weight"
_V1_FILES = (("read_bps", "blkio.throttle.read_bps_device"),
             ("write_bps", "blkio.throttle.write_bps_device"),
             ("read_iops", "blkio.throttle.read_iops_device"),
             ("write_iops", "blkio.throttle.write_iops_device"))
_V2_KEYS = (("read_bps", "rbps"), ("write_bps", "wbps"), ("read_iops", "riops"),
            ("write_iops", "wiops"))


def plan(limits: Limits, version: int) -> list[Write]:
    """The writes for `limits.io_weight` and each of `limits.io_throttle`."""
    writes: list[Write] = []
    if limits.io_weight is not None:
        # The weight files exist only while the BFQ scheduler serves a disk.
        writes.append(Write("blkio" if version == 1 else "io",
                            BLKIO_WEIGHT if version == 1 else IO_WEIGHT, str(limits.io_weight)))
    for throttle in limits.io_throttle:
        writes += _throttle_v2(throttle) if version == 2 else _throttle_v1(throttle)
    return writes


def _throttle_v1(t: Throttle) -> list[Write]:
    # v1 has one file per kind; writing 0 removes that limit.
    return [Write("blkio", name, f"{t.major}:{t.minor} {getattr(t, attr) or 0}")
            for attr, name in _V1_FILES]


def _throttle_v2(t: Throttle) -> list[Write]:
    # v2 has one line per device with all four keys; "max" removes a limit.
    keys = " ".join(f"{key}={getattr(t, attr) or 'max'}" for attr, key in _V2_KEYS)
    return [Write("io", IO_MAX, f"{t.major}:{t.minor} {keys}")]


def stats(folder: str | None, version: int) -> dict[str, object]:
    """Bytes read and written by the group, summed over devices."""
    read = write = 0
    if version == 2:
        text = read_text(folder, "io.stat")
        for line in (text or "").splitlines():
            keyed = dict(pair.split("=") for pair in line.split()[1:])
            read += int(keyed.get("rbytes", 0))
            write += int(keyed.get("wbytes", 0))
    else:
        text = read_text(folder, "blkio.throttle.io_service_bytes_recursive")
        for line in (text or "").splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] == "Read":
                read += int(parts[2])
            elif len(parts) == 3 and parts[1] == "Write":
                write += int(parts[2])
    if text is None:
        return {}
    return {"io_read_bytes": read, "io_write_bytes": write}
