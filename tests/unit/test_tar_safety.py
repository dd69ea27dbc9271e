"""A layer tar can never write outside its destination, and good tars still unpack.

Each attack is paired with a harmless tar of the same shape, so the checks are
shown to tell the two apart (not to refuse everything).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from kernel_helpers.errors import InvalidValue
from kernel_helpers.images import layers
from kernel_helpers.images.crafted import crafted, fingerprint, sentinel_in, symlink_attacks
from kernel_helpers.images.tarsafe import UnsafeArchive, extract_layer
from kernel_helpers.rootfs.overlay import is_opaque, is_whiteout

pytestmark = pytest.mark.usefixtures("root")  # owners in a tar are set with chown




@pytest.fixture
def outside() -> Iterator[Path]:
    """A directory an attack would aim at; it must stay empty."""
    with tempfile.TemporaryDirectory(prefix="lk-outside-") as path:
        yield Path(path)


@pytest.fixture
def dest() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="lk-dest-") as path:
        yield Path(path)


def test_path_traversal_is_refused(dest: Path, outside: Path) -> None:
    depth = "../" * 12
    with pytest.raises(UnsafeArchive, match="climbs out"):
        extract_layer(crafted((f"{depth}{outside}/pwned", "file", "x")), dest)
    assert list(outside.iterdir()) == []
    extract_layer(crafted(("a/b", "file", "x")), dest)  # the same shape, staying inside
    assert (dest / "a" / "b").read_text() == "x"


def test_absolute_member_names_are_refused(dest: Path, outside: Path) -> None:
    with pytest.raises(UnsafeArchive, match="absolute path"):
        extract_layer(crafted((f"{outside}/pwned", "file", "x")), dest)
    assert list(outside.iterdir()) == []


def test_writing_through_an_absolute_symlink_is_refused(dest: Path, outside: Path) -> None:
    tar = crafted(("escape", "symlink", str(outside)), ("escape/pwned", "file", "x"))
    with pytest.raises(UnsafeArchive, match="through the symlink 'escape'"):
        extract_layer(tar, dest)
    assert list(outside.iterdir()) == []


def test_an_absolute_symlink_alone_is_kept_as_a_link(dest: Path) -> None:
    # Normal in images (/etc/mtab -> /proc/self/mounts): it resolves inside the container.
    extract_layer(crafted(("etc", "dir", ""), ("etc/mtab", "symlink", "/proc/self/mounts")), dest)
    assert os.readlink(dest / "etc" / "mtab") == "/proc/self/mounts"


def test_a_relative_symlink_climbing_out_is_refused(dest: Path) -> None:
    with pytest.raises(UnsafeArchive, match="pointing outside the layer"):
        extract_layer(crafted(("a", "dir", ""), ("a/up", "symlink", "../../etc")), dest)
    extract_layer(crafted(("a", "dir", ""), ("a/up", "symlink", "../etc")), dest)
    assert os.readlink(dest / "a" / "up") == "../etc"


def test_hard_links_must_point_into_the_layer(dest: Path, outside: Path) -> None:
    secret = outside / "secret"
    secret.write_text("host file")
    with pytest.raises(UnsafeArchive, match="climbs out|absolute"):
        extract_layer(crafted(("steal", "hardlink", str(secret))), dest)
    with pytest.raises(UnsafeArchive, match="not in the layer"):
        extract_layer(crafted(("steal", "hardlink", "missing")), dest)
    assert secret.stat().st_nlink == 1
    extract_layer(crafted(("f", "file", "same"), ("g", "hardlink", "f")), dest)
    assert os.stat(dest / "f").st_ino == os.stat(dest / "g").st_ino


def test_device_nodes_are_refused(dest: Path) -> None:
    with pytest.raises(UnsafeArchive, match="device node"):
        extract_layer(crafted(("sda", "chr", "")), dest)
    assert not os.path.lexists(dest / "sda")


def test_oci_whiteouts_become_overlay_whiteouts(dest: Path) -> None:
    extract_layer(crafted(("d", "dir", ""), ("d/.wh.gone", "file", ""),
                           ("d/.wh..wh..opq", "file", ""), ("keep", "file", "k")), dest)
    assert is_whiteout(os.lstat(dest / "d" / "gone"))
    assert is_opaque(dest / "d")
    assert not is_opaque(dest) and not os.path.lexists(dest / "d" / ".wh.gone")
    assert stat.S_ISREG(os.lstat(dest / "keep").st_mode)


def test_a_refused_layer_leaves_nothing_in_the_store(outside: Path) -> None:
    before = set(layers.layers_root().iterdir()) if layers.layers_root().is_dir() else set()
    tar = crafted(("ok", "file", "fine"), ("escape", "symlink", str(outside)),
                   ("escape/pwned", "file", "x"))
    with pytest.raises(UnsafeArchive):
        layers.add_layer(tar)
    assert set(layers.layers_root().iterdir()) == before
    assert list(outside.iterdir()) == []


def test_a_layer_with_the_wrong_digest_is_refused() -> None:
    tar = crafted(("hello", "file", "hi"))
    with pytest.raises(InvalidValue, match="has digest"):
        layers.add_layer(tar, expected="sha256:" + "0" * 64)
    tar.seek(0)
    digest = layers.add_layer(tar)
    try:
        assert layers.has_layer(digest)
        tar.seek(0)
        assert layers.add_layer(tar, expected=digest) == digest
    finally:
        layers.remove_layer(digest)


def test_a_hard_link_through_a_symlink_is_refused(dest: Path, outside: Path) -> None:
    (outside / "secret").write_text("host file")
    tar = crafted(("out", "symlink", str(outside)), ("steal", "hardlink", "out/secret"))
    with pytest.raises(UnsafeArchive, match="not in the layer"):
        extract_layer(tar, dest)
    assert (outside / "secret").stat().st_nlink == 1


@pytest.mark.parametrize("attack", sorted(symlink_attacks(Path("/x"))))
def test_no_trick_changes_a_host_file(attack: str, dest: Path, outside: Path) -> None:
    sentinel = sentinel_in(outside)
    before, listing = fingerprint(sentinel), sorted(outside.iterdir())
    tar, words = symlink_attacks(outside)[attack]
    with pytest.raises(UnsafeArchive, match=words) as caught:
        extract_layer(tar, dest)
    assert fingerprint(sentinel) == before and sorted(outside.iterdir()) == listing
    assert "\n" not in str(caught.value)


def test_the_harmless_shapes_still_unpack(dest: Path, outside: Path) -> None:
    """A symlink replaced by a file, a dir named twice, a whited-out dir: all inside, all fine."""
    sentinel = sentinel_in(outside)
    before = fingerprint(sentinel)
    extract_layer(crafted(("s", "symlink", str(sentinel), 0o777), ("s", "file", "mine\n", 0o4755),
                          ("d", "dir", "", 0o700), ("d", "dir", "", 0o2755),
                          ("w", "dir", "", 0o755), (".wh.w", "file", "", 0o644)), dest)
    assert fingerprint(sentinel) == before
    assert (dest / "s").read_text() == "mine\n" and stat.S_IMODE(os.lstat(dest / "s").st_mode) == 0o4755
    assert stat.S_IMODE(os.lstat(dest / "d").st_mode) == 0o2755 and os.lstat(dest / "d").st_mtime == 0
    assert is_whiteout(os.lstat(dest / "w"))
