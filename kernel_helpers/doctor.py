"""`labkit doctor`: what this machine supports, each missing thing with what to do.

Each check asks the kernel itself (a real unshare in a child, the mount
table, /proc) rather than guessing from the kernel version.

Taught in: lab 00.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from kernel_helpers.errors import LabkitError
from kernel_helpers.namespaces import NAMESPACE_ORDER, Namespace
from kernel_helpers.process import run_in_child


@dataclass(frozen=True)
class Finding:
    """One line of the report."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = "ok  " if self.ok else "MISS"
        text = f"{mark} {self.name:<22} {self.detail}"
        return text + (f"\n     {'':<22} -> {self.fix}" if not self.ok and self.fix else "")


def _try_unshare(flag: int) -> bool:
    from kernel_helpers._sys import LINUX
    LINUX.unshare(flag)
    return True


def check_namespace(ns: Namespace) -> Finding:
    """Create the namespace in a throwaway child: the only proof that it works."""
    name = f"namespace {ns.proc_name}"
    if os.geteuid() != 0 and ns is not Namespace.USER:
        return Finding(name, False, "cannot test without root", "run `sudo labkit doctor`")
    try:
        run_in_child(_try_unshare, ns.flag, timeout=10)
    except LabkitError as err:
        fix = ("enable user namespaces: sysctl -w user.max_user_namespaces=15000"
               if ns is Namespace.USER else "use a kernel built with this namespace (the lab VM has it)")
        return Finding(name, False, err.problem, fix)
    return Finding(name, True, "can be created")


def check_cgroups() -> list[Finding]:
    """The cgroup layout, the course's controllers in the version used, and eBPF device programs."""
    from kernel_helpers.cgroups import describe, detect_layout
    from kernel_helpers.cgroups.group import V2_CONTROLLERS
    layout = detect_layout()
    if layout.version == 1 and not layout.v1 or layout.version == 2 and not layout.v2_root:
        return [Finding("cgroups", False, "no cgroup filesystem is mounted",
                        "mount cgroup2 on /sys/fs/cgroup (the lab VM does)")]
    wanted = (("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids")
              if layout.version == 1 else V2_CONTROLLERS)
    have = layout.v1 if layout.version == 1 else layout.v2_controllers
    missing = [c for c in wanted if c not in have]
    return [Finding("cgroups", True, describe(layout)),
            Finding(f"cgroup v{layout.version} controllers", not missing,
                    f"missing: {', '.join(missing)}" if missing else ", ".join(wanted),
                    "the labs using them will say so; the lab VM has them all"),
            _check_bpf_devices()]


def _check_bpf_devices() -> Finding:
    """Load (not attach) the v2 device program: proves bpf(2) and the verifier accept it."""
    from kernel_helpers.cgroups import bpf_devices, deny
    try:
        os.close(bpf_devices.load(deny()))
    except LabkitError as err:
        return Finding("cgroup eBPF devices", False, err.problem,
                       "use a kernel with CONFIG_CGROUP_BPF (the lab VM has it)")
    return Finding("cgroup eBPF devices", True, "device programs load")


def check_filesystem(name: str, fstype: str) -> Finding:
    known = Path("/proc/filesystems").read_text().split()
    if fstype in known or Path(f"/sys/module/{fstype}").exists():
        return Finding(name, True, "available")
    return Finding(name, False, "not in /proc/filesystems", f"run `modprobe {fstype}`")


def check_module(name: str, module: str, config: str) -> Finding:
    """Loaded (/sys/module), or built in (modules.builtin, or =y in /proc/config.gz)."""
    release = os.uname().release
    builtin = Path(f"/lib/modules/{release}/modules.builtin")
    if Path(f"/sys/module/{module}").exists() or (
            builtin.exists() and f"/{module}.ko" in builtin.read_text()):
        return Finding(name, True, "loaded or built in")
    if Path("/proc/config.gz").exists():
        import gzip
        if f"\n{config}=y" in gzip.decompress(Path("/proc/config.gz").read_bytes()).decode():
            return Finding(name, True, "built into the kernel")
    return Finding(name, False, "module not loaded", f"run `modprobe {module}`")


def check_veth() -> Finding:
    """Make a veth pair in a throwaway net namespace (in a child): proof, not a guess."""
    if os.geteuid() != 0:
        return Finding("veth", False, "cannot test without root", "run `sudo labkit doctor`")
    from kernel_helpers.net.netdev import probe_veth
    try:
        return Finding("veth", True, run_in_child(probe_veth, timeout=10))
    except LabkitError as err:
        return Finding("veth", False, err.problem, "run `modprobe veth`")


def check_seccomp() -> Finding:
    status = Path("/proc/self/status").read_text()
    if "Seccomp:" in status:
        return Finding("seccomp", True, "filter mode available")
    return Finding("seccomp", False, "kernel built without seccomp", "use the lab VM's kernel")


def check_root() -> Finding:
    if os.geteuid() == 0:
        return Finding("root", True, "running as root")
    return Finding("root", False, "not running as root", "run `sudo labkit doctor`")


def check_busybox() -> Finding:
    from kernel_helpers.rootfs.busybox import find_busybox
    try:
        return Finding("busybox (base image)", True, str(find_busybox()))
    except LabkitError as err:
        return Finding("busybox (base image)", False, err.problem, err.fix)


def diagnose() -> list[Finding]:
    """Every check, in the order the labs need them."""
    findings = [check_root()]
    findings += [check_namespace(ns) for ns in NAMESPACE_ORDER]
    findings += [*check_cgroups(), check_filesystem("overlayfs", "overlay"),
                 check_veth(),
                 check_module("vxlan", "vxlan", "CONFIG_VXLAN"),
                 check_seccomp(), check_busybox()]
    return findings


def as_json(findings: list[Finding]) -> list[dict[str, object]]:
    return [asdict(f) for f in findings]
