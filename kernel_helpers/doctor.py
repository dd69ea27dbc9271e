"""`labkit doctor`: what this machine supports, each missing thing with what to do.

Each check asks the kernel itself (a real unshare in a child, the mount
table, /proc) rather than guessing from the kernel version.

Taught in: lab 00.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from kernel_helpers import procfs
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
    from kernel_helpers.cgroups.controllers import names
    layout = detect_layout()
    if layout.version == 1 and not layout.v1 or layout.version == 2 and not layout.v2_root:
        return [Finding("cgroups", False, "no cgroup filesystem is mounted",
                        "mount cgroup2 on /sys/fs/cgroup (the lab VM does)")]
    wanted = names(layout.version, required_only=True)
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


MODULE_SUFFIXES = (".ko", ".ko.xz", ".ko.zst", ".ko.gz")
"""How a module file's name ends: plain, or compressed as Debian (.xz) and Ubuntu (.zst) do."""


def _module_name(path: str) -> str:
    """kernel/fs/overlayfs/overlay.ko.xz -> overlay ('-' and '_' are the same to the kernel)."""
    name = path.rsplit("/", 1)[-1]
    for suffix in MODULE_SUFFIXES:
        name = name.removesuffix(suffix)
    return name.replace("-", "_")


def module_status(module: str, config: str, fstype: str = "", root: str = "/") -> tuple[bool, str]:
    """Whether the kernel has `module` now or loads it on first use, and how that is known.

    Debian's and Ubuntu's kernels build overlay and vxlan as modules that the
    kernel loads the first time an overlay is mounted or a vxlan link made: so
    "loadable" (a module file for the running kernel, per modules.dep) counts,
    not only "loaded". `root` lets a test point /proc, /sys and /lib/modules at
    a fake tree.
    """
    top = Path(root)
    if fstype and fstype in (top / "proc/filesystems").read_text().split():
        return True, "loaded"
    if (top / "sys/module" / module).exists():
        return True, "loaded or built in"
    release = (top / "proc/sys/kernel/osrelease").read_text().strip()
    base = top / "lib/modules" / release
    wanted = module.replace("-", "_")
    if (base / "modules.builtin").exists() and wanted in {
            _module_name(line) for line in (base / "modules.builtin").read_text().split()}:
        return True, "built into the kernel"
    config_gz = top / "proc/config.gz"
    if config_gz.exists() and f"\n{config}=y" in gzip.decompress(config_gz.read_bytes()).decode():
        return True, "built into the kernel"
    if (base / "modules.dep").exists():
        for line in (base / "modules.dep").read_text().splitlines():
            path, _, deps = line.partition(":")
            if _module_name(path) != wanted:
                continue
            missing = [f for f in (path, *deps.split()) if not (base / f).exists()]
            disabled = top / "proc/sys/kernel/modules_disabled"
            if missing:
                return False, f"modules.dep lists {missing[0]}, which is not there"
            if disabled.exists() and disabled.read_text().strip() == "1":
                return False, "module loading is disabled (kernel.modules_disabled=1)"
            return True, f"loads on first use ({path})"
    return False, f"neither loaded, built in, nor a module of kernel {release}"


def check_module(name: str, module: str, config: str, fstype: str = "") -> Finding:
    """A kernel feature that may be a module: present, or loadable on first use."""
    ok, detail = module_status(module, config, fstype)
    return Finding(name, ok, detail, "" if ok else
                   f"install the kernel's modules package and run `modprobe {module}`")


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
    if "Seccomp" in procfs.status("self"):
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
    findings += [*check_cgroups(),
                 check_module("overlayfs", "overlay", "CONFIG_OVERLAY_FS", fstype="overlay"),
                 check_veth(),
                 check_module("vxlan", "vxlan", "CONFIG_VXLAN"),
                 check_seccomp(), check_busybox()]
    return findings


def as_json(findings: list[Finding]) -> list[dict[str, object]]:
    return [asdict(f) for f in findings]
