"""doctor's module logic against fake /proc, /sys and /lib/modules trees (the parsing only).

The real run of `labkit doctor` is in tests/kernel/test_run_cli.py; these trees stand in
for kernels this machine is not (Debian 12's, where overlay and vxlan are modules that
load on first use).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from kernel_helpers.doctor import module_status

RELEASE = "6.1.0-28-amd64"
VXLAN = "kernel/drivers/net/vxlan/vxlan.ko.xz"
UDP_TUNNEL = "kernel/net/ipv4/udp_tunnel.ko.xz"
OVERLAY = "kernel/fs/overlayfs/overlay.ko"


def fake_kernel(root: Path, *, filesystems: str = "nodev\tproc\n\text4\n",
                builtin: tuple[str, ...] = (), dep: dict[str, tuple[str, ...]] | None = None,
                files: tuple[str, ...] = (), loaded: tuple[str, ...] = (),
                config: str = "", modules_disabled: str = "0") -> Path:
    """A /proc, /sys/module and /lib/modules/RELEASE tree as a modular kernel has it."""
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/osrelease").write_text(RELEASE + "\n")
    (root / "proc/sys/kernel/modules_disabled").write_text(modules_disabled + "\n")
    (root / "proc/filesystems").write_text(filesystems)
    if config:
        (root / "proc/config.gz").write_bytes(gzip.compress(config.encode()))
    for module in loaded:
        (root / "sys/module" / module).mkdir(parents=True)
    base = root / "lib/modules" / RELEASE
    base.mkdir(parents=True)
    (base / "modules.builtin").write_text("".join(f"{path}\n" for path in builtin))
    (base / "modules.dep").write_text("".join(f"{path}: {' '.join(deps)}\n".replace(" \n", "\n")
                                              for path, deps in (dep or {}).items()))
    for path in files:
        (base / path).parent.mkdir(parents=True, exist_ok=True)
        (base / path).write_bytes(b"\x7fELF")
    return root


def test_debian_12_modules_not_yet_loaded_count_as_loadable(tmp_path: Path) -> None:
    root = fake_kernel(tmp_path, dep={OVERLAY: (), VXLAN: (UDP_TUNNEL,), UDP_TUNNEL: ()},
                       files=(OVERLAY, VXLAN, UDP_TUNNEL))
    assert module_status("overlay", "CONFIG_OVERLAY_FS", "overlay", str(root)) == (
        True, f"loads on first use ({OVERLAY})")
    assert module_status("vxlan", "CONFIG_VXLAN", root=str(root)) == (
        True, f"loads on first use ({VXLAN})")


def test_a_module_whose_file_or_dependency_is_gone_is_missing(tmp_path: Path) -> None:
    root = fake_kernel(tmp_path, dep={VXLAN: (UDP_TUNNEL,), UDP_TUNNEL: ()}, files=(VXLAN,))
    assert module_status("vxlan", "CONFIG_VXLAN", root=str(root)) == (
        False, f"modules.dep lists {UDP_TUNNEL}, which is not there")


def test_module_loading_disabled_makes_a_loadable_module_missing(tmp_path: Path) -> None:
    root = fake_kernel(tmp_path, dep={OVERLAY: ()}, files=(OVERLAY,), modules_disabled="1")
    ok, detail = module_status("overlay", "CONFIG_OVERLAY_FS", "overlay", str(root))
    assert not ok and "modules_disabled=1" in detail


@pytest.mark.parametrize(("how", "expected"), [
    ({"filesystems": "nodev\toverlay\n"}, "loaded"),
    ({"loaded": ("overlay",)}, "loaded or built in"),
    ({"builtin": (OVERLAY,)}, "built into the kernel"),
    ({"config": "CONFIG_X=m\nCONFIG_OVERLAY_FS=y\n"}, "built into the kernel"),
])
def test_loaded_or_built_in(tmp_path: Path, how: dict[str, object], expected: str) -> None:
    root = fake_kernel(tmp_path, **how)  # type: ignore[arg-type]
    assert module_status("overlay", "CONFIG_OVERLAY_FS", "overlay", str(root)) == (True, expected)


def test_a_kernel_without_the_module_says_which_kernel(tmp_path: Path) -> None:
    root = fake_kernel(tmp_path, dep={VXLAN: ()}, files=(VXLAN,),
                       config="CONFIG_OVERLAY_FS=m\n")
    assert module_status("overlay", "CONFIG_OVERLAY_FS", "overlay", str(root)) == (
        False, f"neither loaded, built in, nor a module of kernel {RELEASE}")
