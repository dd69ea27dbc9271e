"""Image provenance: layer digests re-checked (a tampered layer is caught) and content listed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kernel_helpers.security.provenance import rootfs_content
from kernel_helpers.testing import labkit

pytestmark = pytest.mark.usefixtures("root")


def test_layers_verify_and_a_tampered_layer_is_caught(tmp_path: Path) -> None:
    env = {**os.environ, "LABKIT_DATA_ROOT": str(tmp_path)}  # a private store: tamper freely
    good = labkit("provenance", "busybox", "--all", env=env)
    assert good.returncode == 0, good.stderr
    assert good.stdout.startswith("verified sha256:")
    assert "/bin/busybox" in good.stdout
    (tar,) = tmp_path.glob("layers/*/layer.tar")
    with open(tar, "ab") as f:
        f.write(b"\0" * 512)  # one more (empty) tar block: same files, different digest
    bad = labkit("provenance", "busybox", env=env)
    assert bad.returncode == 1 and bad.stdout.startswith("MISMATCH sha256:"), bad.stdout


def test_rootfs_listing_flags_setuid_devices_and_world_writable(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    for name, mode in (("su", 0o4755), ("wall", 0o2755), ("open", 0o666), ("ls", 0o755)):
        (tmp_path / "bin" / name).write_bytes(b"#!/bin/sh\n")
        os.chmod(tmp_path / "bin" / name, mode)
    os.mknod(tmp_path / "disk", stat.S_IFBLK | 0o600, os.makedev(7, 0))
    flags = {entry.path: entry.flags for entry in rootfs_content(tmp_path)}
    assert flags == {"/bin": [], "/bin/ls": [], "/bin/open": ["world-writable"],
                     "/bin/su": ["setuid"], "/bin/wall": ["setgid"], "/disk": ["device"]}
