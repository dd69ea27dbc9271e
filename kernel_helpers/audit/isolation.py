"""The isolation audit: what a container can still see or do of the host, item by item.

Namespaces isolate names, not the kernel: /proc and /sys, what top and free
show, root itself, devices, modules, the clock, the kernel log and keyrings
are shared unless something else closes them. `probe()` gathers the facts
from inside a container (it is the container's PID 1; see `probe.run_inside`);
`judge()` compares them with the host's and names, for each item, the
mechanism that closes it. The devices cgroup cannot be seen from inside, so
it is read back from the kernel on the host side while the container runs
(`DevicesReadback`). Lines carry no pids, times or addresses, so a
grader can compare them.

Taught in: lab 08.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel_helpers.cgroups.readback import InForce, in_force
from kernel_helpers.errors import LabkitError
from kernel_helpers.stage import LaunchContext, Stage
from kernel_helpers.spec import ContainerSpec
from kernel_helpers.audit import escapes
from kernel_helpers.audit.attempt import Context, Outcome, open_for_write, why
from kernel_helpers.security.capabilities import DOCKER_DEFAULT, read_sets

SYSLOG_ACTION_SIZE_BUFFER = 10
"""Asks only for the log buffer's size: the same permission check as reading it, no data."""
SYSFS_KNOBS = ("/sys/kernel/rcu_expedited", "/sys/kernel/profiling", "/sys/kernel/uevent_helper")
KERNEL_INFO = ("/proc/timer_list", "/proc/sched_debug", "/proc/kcore", "/proc/keys")


@dataclass(frozen=True)
class AuditItem:
    """One thing that may leak: whether it does here, the evidence, and what closes it."""

    name: str
    leaks: bool
    evidence: str
    closed_by: str

    def line(self) -> str:
        return f"{'LEAK' if self.leaks else 'ok':<5} {self.name:<13} {self.evidence}  -> {self.closed_by}"


def _field(path: str, key: str) -> str:
    for line in Path(path).read_text().splitlines():
        if line.startswith(key):
            return line.split(":", 1)[1].strip()
    return ""


def _openable(path: str) -> bool:
    try:
        open_for_write(path)
    except OSError:
        return False
    return True


def _readable(path: str) -> bool:
    """True if the file holds anything (a masked file reads empty)."""
    try:
        with open(path, "rb") as f:
            return bool(f.read(1))
    except OSError:
        return False


def probe(ctx: Context) -> dict[str, Any]:
    """Inside the container: the raw facts the audit judges (no interpretation here)."""
    try:
        label = Path("/proc/self/attr/current").read_text().strip("\0\n ")
    except OSError:
        label = ""
    try:
        ctx.kernel.syslog(SYSLOG_ACTION_SIZE_BUFFER)
        kernel_log = ""
    except LabkitError as err:
        kernel_log = why(err, ctx, "syslog", "SYSLOG")
    knob = next((k for k in SYSFS_KNOBS if os.path.exists(k)), "")
    return {
        "memtotal": _field("/proc/meminfo", "MemTotal"),
        "tasks": int(Path("/proc/loadavg").read_text().split()[3].split("/")[1]),
        "visible": sum(entry.isdigit() for entry in os.listdir("/proc")),
        "uptime": float(Path("/proc/uptime").read_text().split()[0]),
        "uid_map": Path("/proc/self/uid_map").read_text().split()[:2],
        "caps": read_sets().effective,
        "seccomp": _field("/proc/self/status", "Seccomp:"),
        "nnp": _field("/proc/self/status", "NoNewPrivs:"),
        "lsm": label,
        "kernel_log": kernel_log,
        "sysfs": (knob, _openable(knob)) if knob else ("", False),
        "kernel_info": [path for path in KERNEL_INFO if _readable(path)],
        "escapes": {o.attempt: o for o in (escapes.attempt_proc_sys(ctx), escapes.attempt_mknod(ctx),
                                           escapes.attempt_module(ctx), escapes.attempt_clock(ctx),
                                           escapes.attempt_keyctl(ctx))},
    }


class DevicesReadback(Stage):
    """Host side: the device rules the container is really held to, read from its cgroups."""

    def __init__(self) -> None:
        self._read, self._write = os.pipe()

    def attach(self, ctx: LaunchContext, pid: int) -> None:
        os.write(self._write, pickle.dumps(in_force(pid)))  # the supervisor's copy

    def result(self) -> InForce | None:
        """What attach() read (None if the container never got that far); call once."""
        os.close(self._write)
        with os.fdopen(self._read, "rb") as pipe:
            data = pipe.read()
        return pickle.loads(data) if data else None


def host_facts() -> dict[str, Any]:
    """The host's side of the comparisons, read right after the probe."""
    return {"memtotal": _field("/proc/meminfo", "MemTotal"),
            "uptime": float(Path("/proc/uptime").read_text().split()[0])}


def _from_escape(name: str, outcome: Outcome, closed_by: str) -> AuditItem:
    return AuditItem(name, outcome.escaped, outcome.stopped_by or outcome.detail, closed_by)


def judge(facts: dict[str, Any], host: dict[str, Any]) -> list[AuditItem]:
    """Turn the facts into audit items, in the course's order."""
    extra = sorted(facts["caps"] - DOCKER_DEFAULT)
    knob, sysfs_writable = facts["sysfs"]
    esc = facts["escapes"]
    uid = facts["uid_map"]
    cgroup: InForce | None = facts.get("devices_cgroup")
    return [
        AuditItem("meminfo", facts["memtotal"] == host["memtotal"],
                  f"/proc/meminfo MemTotal {facts['memtotal']} (host: {host['memtotal']})",
                  "nothing: /proc/meminfo is not namespaced (LXCFS fakes it; the limit is memory.max)"),
        AuditItem("cpu-load", facts["tasks"] > facts["visible"],
                  "/proc/loadavg counts tasks this container cannot see",
                  "nothing: the load average is global (LXCFS; cpu.max is the real limit)"),
        _from_escape("proc-sys", esc["proc-sys"], "read-only /proc/sys (runc readonlyPaths)"),
        AuditItem("sysfs", sysfs_writable, f"{knob or '/sys'} "
                  f"{'opens for writing' if sysfs_writable else 'is not writable'}",
                  "sysfs mounted read-only"),
        AuditItem("root-uid", uid == ["0", "0"], f"uid 0 inside is host uid {uid[1]}",
                  "user namespace (--userns)"),
        AuditItem("capabilities", bool(extra), f"beyond Docker's 14: {','.join(extra) or 'none'}",
                  "capability drop to Docker's default set"),
        _from_escape("devices", esc["mknod-disk"],
                     "nodev mounts / devices cgroup; no CAP_MKNOD in a user namespace"),
        AuditItem("dev-cgroup", not (cgroup and cgroup.restricted),
                  cgroup.describe() if cgroup else "not in a kit cgroup: no device rules",
                  "devices cgroup with Docker's allow list (v1 devices.list, v2 eBPF)"),
        _from_escape("modules", esc["module"], "seccomp and no CAP_SYS_MODULE"),
        _from_escape("clock", esc["clock"], "no CAP_SYS_TIME (seccomp also blocks clock_settime)"),
        AuditItem("kernel-log", not facts["kernel_log"],
                  f"syslog(2) {'readable' if not facts['kernel_log'] else 'refused: ' + facts['kernel_log']}",
                  "seccomp and no CAP_SYSLOG"),
        AuditItem("keyrings", esc["keyctl"].escaped or "/proc/keys" in facts["kernel_info"],
                  f"/proc/keys {'lists keys' if '/proc/keys' in facts['kernel_info'] else 'reads empty'}; "
                  f"keyctl: {esc['keyctl'].stopped_by or esc['keyctl'].detail}",
                  "masked /proc/keys and seccomp (keyctl)"),
        AuditItem("kernel-info", any(p != "/proc/keys" for p in facts["kernel_info"]),
                  "readable: " + (",".join(p for p in facts["kernel_info"] if p != "/proc/keys") or "none"),
                  "masked paths (runc maskedPaths)"),
        AuditItem("uptime", abs(facts["uptime"] - host["uptime"]) < 5,
                  "/proc/uptime " + ("matches the host's" if abs(facts["uptime"] - host["uptime"]) < 5
                                     else "is shifted from the host's"),
                  "time namespace (--time-offset)"),
        AuditItem("seccomp", facts["seccomp"] != "2", f"Seccomp: {facts['seccomp']}",
                  "seccomp filter (Docker's default profile)"),
        AuditItem("no-new-privs", facts["nnp"] != "1", f"NoNewPrivs: {facts['nnp']}",
                  "prctl(PR_SET_NO_NEW_PRIVS)"),
        AuditItem("lsm", facts["lsm"] in ("", "unconfined"),
                  f"LSM label: {facts['lsm'] or 'none'}",
                  "an AppArmor or SELinux profile (not applied by this kit)"),
    ]


def audit_container(spec: ContainerSpec, stages: tuple[Stage, ...] = ()) -> list[AuditItem]:
    """Start a container from `spec` and `stages`, probe it from inside, and judge."""
    from kernel_helpers.audit.probe import run_inside
    readback = DevicesReadback()
    try:
        facts = run_inside(probe, spec, (*stages, readback), escapes.context_for(stages))
    finally:
        held_to = readback.result()
    return judge({**facts, "devices_cgroup": held_to}, host_facts())


def report(items: list[AuditItem]) -> str:
    """The audit as text: one line per item, then a count of leaks."""
    leaks = sum(item.leaks for item in items)
    return "\n".join([item.line() for item in items] + [f"{leaks} of {len(items)} items leak"])
