"""An image's symlinks never send what the kit makes or mounts out to the host.

The kit makes mount points (/proc, /sys, /dev, the network's /etc/hosts and
/etc/resolv.conf, masked paths) inside an image it did not write. Each image
here points one of those at a host folder; the folder must stay as it was.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from kernel_helpers import naming
from kernel_helpers.images import docker_archive, layers, store
from kernel_helpers.images.crafted import crafted, docker_save_tar, fingerprint
from kernel_helpers.testing import labkit

pytestmark = pytest.mark.usefixtures("root")


@pytest.fixture
def host_dir() -> Iterator[Path]:
    """A host folder an image's symlinks aim at, with one file in it."""
    with tempfile.TemporaryDirectory(prefix="lk-hostdir-") as path:
        (Path(path) / "keep").write_text("host\n")
        yield Path(path)


def state_of(folder: Path) -> list[tuple[str, tuple[int, ...]]]:
    return sorted((p.name, fingerprint(p)) for p in folder.iterdir())


def image_with(tmp: Path, *members: tuple[str, str, str, int]) -> str:
    """busybox plus one layer of `members`; removed again by the `made` fixture."""
    base = store.get(store.BASE_IMAGE).layers[0]
    ref = f"lktest-{naming.new_name()}:links"
    base_tar = (layers.layer_dir(base) / layers.LAYER_TAR).read_bytes()
    docker_archive.import_archive(docker_save_tar(tmp / "img.tar", ref,
                                                  [base_tar, crafted(*members).getvalue()]))
    return ref


@pytest.fixture
def tmp(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    for image in store.all_images():
        if image.ref.startswith("lktest-") and image.ref.endswith(":links"):
            store.remove(image.ref)


def test_hosts_and_resolv_conf_links_resolve_inside_the_container(tmp: Path,
                                                                  host_dir: Path) -> None:
    before = state_of(host_dir)
    ref = image_with(tmp, ("etc/hosts", "symlink", f"{host_dir}/hosts", 0o777),
                     ("etc/resolv.conf", "symlink", f"{host_dir}/new/resolv.conf", 0o777))
    run = labkit("run", "--network", "default", "--hostname", "linked", "--rootfs", ref, "--",
                 "/bin/sh", "-c", f"grep -c linked /etc/hosts; grep -c nameserver {host_dir}/new/"
                 "resolv.conf; readlink /etc/hosts")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["1", "1", f"{host_dir}/hosts"]  # the kit's files, in the container
    assert state_of(host_dir) == before  # and nothing made or changed in the host folder


def test_an_etc_that_is_a_link_to_a_host_folder_is_followed_inside(tmp: Path,
                                                                   host_dir: Path) -> None:
    before = state_of(host_dir)
    ref = image_with(tmp, ("etc", "symlink", str(host_dir), 0o777))
    run = labkit("run", "--network", "default", "--rootfs", ref, "--", "/bin/sh", "-c",
                 "grep -q localhost /etc/hosts && echo kit; ls /etc")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["kit", "hosts", "resolv.conf"]  # no host `keep` in there
    assert state_of(host_dir) == before


@pytest.mark.parametrize("kernel_dir", ["proc", "sys", "dev"])
def test_a_kernel_filesystem_mount_point_that_is_a_link_is_refused(
        kernel_dir: str, tmp: Path, host_dir: Path) -> None:
    before = state_of(host_dir)
    ref = image_with(tmp, (kernel_dir, "symlink", str(host_dir), 0o777))
    run = labkit("run", "--rootfs", ref, "--", "/bin/true")
    assert run.returncode != 0 and f"image path '/{kernel_dir}'" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
    assert state_of(host_dir) == before
