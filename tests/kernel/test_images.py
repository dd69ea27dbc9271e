"""Images against independent tools: umoci makes OCI layouts, skopeo reads and writes docker tars.

Every image a test makes is named lktest-<id> and removed (with its unused
layers) when the test ends.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Callable, Iterator

import pytest

from kernel_helpers import naming
from kernel_helpers.errors import InvalidValue
from kernel_helpers.images import export_layout, import_layout, layers, store
from kernel_helpers.rootfs.overlay import snapshot, union_view
from kernel_helpers.testing import labkit
from kernel_helpers.images.crafted import (crafted, docker_save_tar, fingerprint, oci_layout_dir,
                                            sentinel_in, symlink_attacks)

pytestmark = pytest.mark.usefixtures("root")


def sh(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, cwd=cwd).stdout


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="lk-images-") as path:
        yield Path(path)


@pytest.fixture
def image_name() -> Iterator[Callable[[str], str]]:
    """Fresh image names; every image made under them is removed afterwards."""
    made: list[str] = []

    def name(tag: str = "latest") -> str:
        made.append(f"lktest-{naming.new_name()}:{tag}")
        return made[-1]

    yield name
    for ref in made:
        if store.exists(ref):
            store.remove(ref)


def umoci_layout(path: Path, marker: str) -> Path:
    """An OCI layout made by umoci alone: busybox as layer 1, then a layer that deletes and adds.

    `marker` goes into a file of the second layer, so each test's layer is new to the store.
    """
    rootfs = store.get(store.BASE_IMAGE).layer_dirs()[0]
    layout = path / "layout"
    sh("umoci", "init", "--layout", str(layout))
    sh("umoci", "new", "--image", f"{layout}:v1")
    sh("umoci", "unpack", "--image", f"{layout}:v1", str(path / "b1"))
    shutil.copytree(rootfs, path / "b1" / "rootfs", symlinks=True, dirs_exist_ok=True)
    sh("umoci", "repack", "--image", f"{layout}:v1", str(path / "b1"))
    sh("umoci", "config", "--image", f"{layout}:v1", "--config.cmd", "/bin/sh",
       "--config.env", "GREETING=from-umoci", "--config.workingdir", "/tmp")
    sh("umoci", "unpack", "--image", f"{layout}:v1", str(path / "b2"))
    root = path / "b2" / "rootfs"
    (root / "etc" / "hostname").unlink()
    shutil.rmtree(root / "var")
    (root / "var" / "new").mkdir(parents=True)
    (root / "marker").write_text(marker + "\n")
    sh("umoci", "repack", "--image", f"{layout}:v2", str(path / "b2"))
    return layout


def test_busybox_is_the_default_image_and_its_layer_is_verified() -> None:
    image = store.get("busybox")
    assert image.ref == store.BASE_IMAGE and len(image.layers) == 1
    layers.verify_layer(image.layers[0])
    assert (image.layer_dirs()[0] / "bin" / "busybox").is_file()
    listing = labkit("image", "ls")
    assert listing.returncode == 0 and "busybox:latest" in listing.stdout


def test_an_oci_layout_made_by_umoci_imports_and_runs(workdir: Path,
                                                      image_name: Callable[[str], str]) -> None:
    layout = umoci_layout(workdir, naming.new_name())
    ref = image_name("v2")
    result = labkit("image", "import", f"{layout}:v2", ref)
    assert result.returncode == 0, result.stderr
    assert len(store.get(ref).layers) == 2
    run = labkit("run", "--rootfs", ref, "--", "/bin/sh", "-c",
                 "pwd; echo $GREETING; ls /var; cat /etc/hostname 2>&1")
    lines = run.stdout.splitlines()
    assert lines[:3] == ["/tmp", "from-umoci", "new"]  # workdir, env, opaque /var from umoci
    assert "No such file" in lines[3]  # umoci's .wh.hostname hides the lower file
    userns = labkit("run", "--ns", "user,mnt,pid", "--rootfs", ref, "--", "/bin/ls", "/var")
    assert (userns.returncode, userns.stdout.split()) == (0, ["new"]), userns.stderr
    history = labkit("image", "history", ref).stdout
    assert history.count("umoci repack") == 2 and "umoci config" in history


def test_a_layer_whose_digest_does_not_match_is_refused(workdir: Path,
                                                        image_name: Callable[[str], str]) -> None:
    layout = umoci_layout(workdir, naming.new_name())
    manifest = json.loads(next(
        (layout / "blobs" / "sha256" / m["digest"][7:]).read_text()
        for m in json.loads((layout / "index.json").read_text())["manifests"]
        if m["annotations"]["org.opencontainers.image.ref.name"] == "v2"))
    top = layout / "blobs" / "sha256" / manifest["layers"][-1]["digest"][7:]
    before = set(layers.all_layers())
    with open(top, "ab") as f:
        f.write(b"\0")  # one byte more: the blob no longer has the digest that names it
    ref = image_name("bad")
    result = labkit("image", "import", f"{layout}:v2", ref)
    assert result.returncode == 2 and "has digest" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert not store.exists(ref) and set(layers.all_layers()) == before
    with open(top, "r+b") as f:
        f.truncate(os.path.getsize(top) - 1)  # repaired, the same layout imports
    assert labkit("image", "import", f"{layout}:v2", ref).returncode == 0


def test_a_stored_layer_that_changed_is_noticed_when_read(workdir: Path,
                                                          image_name: Callable[[str], str]) -> None:
    layout = umoci_layout(workdir, naming.new_name())
    image = import_layout(layout, "v2", image_name("v2"))
    stored = layers.layer_dir(image.layers[-1]) / layers.LAYER_TAR
    data = bytearray(stored.read_bytes())
    data[600] ^= 0xFF
    stored.write_bytes(bytes(data))
    with pytest.raises(InvalidValue, match="has digest"):
        export_layout(image.ref, workdir / "out")
    with pytest.raises(InvalidValue, match="has digest"):
        layers.verify_layer(image.layers[-1])


def test_an_exported_oci_layout_unpacks_with_umoci_to_the_same_tree(
        workdir: Path, image_name: Callable[[str], str]) -> None:
    layout = umoci_layout(workdir, naming.new_name())
    image = import_layout(layout, "v2", image_name("v2"))
    tag = export_layout(image.ref, workdir / "out")
    sh("umoci", "unpack", "--image", f"{workdir / 'out'}:{tag}", str(workdir / "bundle"))
    theirs = snapshot(workdir / "bundle" / "rootfs")
    ours = union_view(*image.layer_dirs())
    assert set(theirs) == set(ours) and "etc/hostname" not in theirs
    assert all(theirs[p][0] == ours[p][0] and theirs[p][4] == ours[p][4] for p in ours)
    config = json.loads((workdir / "bundle" / "config.json").read_text())
    assert config["process"]["cwd"] == "/tmp" and "GREETING=from-umoci" in config["process"]["env"]


def test_docker_save_archives_round_trip_through_skopeo(workdir: Path,
                                                        image_name: Callable[[str], str]) -> None:
    layout = umoci_layout(workdir, naming.new_name())
    image = import_layout(layout, "v2", image_name("v2"))
    ours = workdir / "ours.tar"
    assert labkit("image", "export", image.ref, str(ours)).returncode == 0
    inspected = json.loads(sh("skopeo", "inspect", f"docker-archive:{ours}"))
    assert inspected["Layers"] == list(image.layers)
    # skopeo writes a docker archive of its own from umoci's layout; we import that one
    theirs = workdir / "theirs.tar"
    ref = image_name("skopeo")
    sh("skopeo", "copy", f"oci:{layout}:v2", f"docker-archive:{theirs}:{ref}")
    result = labkit("image", "import", str(theirs))
    assert result.returncode == 0 and ref in result.stdout, result.stderr
    assert store.get(ref).layers == image.layers and store.get(ref).config == image.config


def test_image_rm_frees_only_layers_nothing_else_uses(workdir: Path,
                                                      image_name: Callable[[str], str]) -> None:
    layout = umoci_layout(workdir, naming.new_name())
    image = import_layout(layout, "v2", image_name("v2"))
    assert labkit("image", "rm", image.ref).returncode == 0
    assert not layers.has_layer(image.layers[-1])  # the marker layer was this image's alone
    assert layers.has_layer(store.get(store.BASE_IMAGE).layers[0])


@pytest.mark.parametrize("args, words", [
    (["image", "import", "/nonexistent/layout"], "does not exist"),
    (["image", "rm", "lktest-none:x"], "is not in the store"),
    (["commit", "lk00000000", "lktest-x:y"], "no kept filesystem"),
    (["run", "--rootfs", "Bad Name!", "--", "true"], "is not a valid image reference"),
])
def test_bad_input_gets_one_sentence(args: list[str], words: str) -> None:
    result = labkit(*args)
    assert result.returncode == 2 and words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("attack", sorted(symlink_attacks(Path("/x"))))
@pytest.mark.parametrize("shape", ["docker-save", "oci-layout"])
def test_a_crafted_image_never_changes_a_host_file(attack: str, shape: str, workdir: Path,
                                                   image_name: Callable[[str], str]) -> None:
    outside = workdir / "host"
    outside.mkdir()
    sentinel = sentinel_in(outside)
    before, listing, stored = fingerprint(sentinel), sorted(outside.iterdir()), set(layers.all_layers())
    harmless = crafted(("etc", "dir", "", 0o755), ("etc/motd", "file", naming.new_name(), 0o644))
    layer_tars = [harmless.getvalue(), symlink_attacks(outside)[attack][0].getvalue()]
    ref = image_name("evil")
    source = (str(docker_save_tar(workdir / "evil.tar", ref, layer_tars)) if shape == "docker-save"
              else f"{oci_layout_dir(workdir / 'layout', 'evil', layer_tars)}:evil")
    result = labkit("image", "import", source, ref)
    assert result.returncode == 2 and "is refused and nothing of it was kept" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert fingerprint(sentinel) == before and sorted(outside.iterdir()) == listing
    assert not store.exists(ref) and set(layers.all_layers()) == stored
