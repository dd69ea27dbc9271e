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


def cgroup_layout(mountinfo: str = "/proc/self/mountinfo") -> tuple[str, list[str], list[str]]:
    """("v1" | "v2" | "hybrid" | "none", v1 controllers, v2 controllers) from the mount table."""
    v1: list[str] = []
    v2_root = None
    for line in Path(mountinfo).read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype, _source, options = (right.split() + ["", "", ""])[:3]
        if fstype == "cgroup":
            v1 += [opt for opt in options.split(",")
                   if opt not in ("rw", "ro", "relatime", "nosuid", "nodev", "noexec")
                   and not opt.startswith("name=")]
        elif fstype == "cgroup2" and v2_root is None:
            v2_root = left.split()[4]
    v2 = Path(v2_root, "cgroup.controllers").read_text().split() if v2_root else []
    mode = "hybrid" if v1 and v2_root else "v1" if v1 else "v2" if v2_root else "none"
    return mode, sorted(set(v1)), v2


def check_cgroups() -> Finding:
    mode, v1, v2 = cgroup_layout()
    if mode == "none":
        return Finding("cgroups", False, "no cgroup filesystem is mounted",
                       "mount cgroup2 on /sys/fs/cgroup (the lab VM does)")
    detail = f"{mode}; v1: {', '.join(v1) or '-'}; v2: {', '.join(v2) or '-'}"
    return Finding("cgroups", True, detail)


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
    findings += [check_cgroups(), check_filesystem("overlayfs", "overlay"),
                 check_module("veth", "veth", "CONFIG_VETH"),
                 check_module("vxlan", "vxlan", "CONFIG_VXLAN"),
                 check_seccomp(), check_busybox()]
    return findings


def as_json(findings: list[Finding]) -> list[dict[str, object]]:
    return [asdict(f) for f in findings]
