"""overlayfs on the real kernel: whiteouts, opaque dirs, copy-on-write, commit replay.

Views are mounted read-only in a private mount namespace of a child process
(`union_view`), so the host's mount table never sees them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from kernel_helpers import naming
from kernel_helpers.images import containerfs, layers, store
from kernel_helpers.images.aufs_demo import aufs_demo
from kernel_helpers.process import run_in_child
from kernel_helpers.rootfs.overlay import (is_opaque, is_whiteout, make_whiteout,
                                           mounted_privately, overlay_step, set_opaque,
                                           union_view)
from kernel_helpers import state
from kernel_helpers.testing import labkit

pytestmark = pytest.mark.usefixtures("root")
LABKIT = [sys.executable, "-m", "kernel_helpers"]

@pytest.fixture
def branches() -> Iterator[tuple[Path, Path]]:
    """A lower dir (the image) with files and a dir, and an empty upper dir."""
    with tempfile.TemporaryDirectory(prefix="lk-branches-") as base:
        lower, upper = Path(base, "lower"), Path(base, "upper")
        (lower / "d").mkdir(parents=True)
        upper.mkdir()
        (lower / "gone.txt").write_text("lower file\n")
        (lower / "d" / "a").write_text("a\n")
        yield lower, upper


def test_a_whiteout_hides_the_lower_file_and_removing_it_shows_it_again(
        branches: tuple[Path, Path]) -> None:
    lower, upper = branches
    assert "gone.txt" in union_view(lower, upper)
    make_whiteout(upper / "gone.txt")
    hidden = union_view(lower, upper)
    assert "gone.txt" not in hidden and "d/a" in hidden
    os.unlink(upper / "gone.txt")
    assert "gone.txt" in union_view(lower, upper)


def _delete_in_rw_overlay(lower: str, upper: str, work: str) -> None:
    with mounted_privately(lambda target: overlay_step([lower], target, upper, work)) as target:
        os.unlink(os.path.join(target, "gone.txt"))
        os.unlink(os.path.join(target, "d", "a"))
        os.rmdir(os.path.join(target, "d"))
        os.mkdir(os.path.join(target, "d"))


def test_the_kernel_itself_writes_whiteouts_and_opaque_dirs(branches: tuple[Path, Path]) -> None:
    lower, upper = branches
    with tempfile.TemporaryDirectory(prefix="lk-work-", dir=upper.parent) as work:
        run_in_child(_delete_in_rw_overlay, str(lower), str(upper), work, timeout=60)
    assert is_whiteout(os.lstat(upper / "gone.txt"))
    assert is_opaque(upper / "d")
    assert (lower / "gone.txt").exists() and (lower / "d" / "a").exists()  # the image is unchanged


def test_an_opaque_dir_hides_the_lower_dirs_contents(branches: tuple[Path, Path]) -> None:
    lower, upper = branches
    (upper / "d").mkdir()
    (upper / "d" / "b").write_text("b\n")
    assert {"d/a", "d/b"} <= set(union_view(lower, upper))  # without the mark, the dirs merge
    set_opaque(upper / "d")
    merged = union_view(lower, upper)
    assert "d/b" in merged and "d/a" not in merged and "gone.txt" in merged


def test_the_aufs_explainer_runs_live() -> None:
    lines = aufs_demo()
    text = "\n".join(lines)
    assert "notes/a.txt(whiteout c 0,0)" in text and "notes/.wh.a.txt" in text
    assert "notes/(opaque)" in text and "notes/.wh..wh..opq" in text
    assert lines[-1].endswith("notes/a.txt=a  notes/b.txt=b")  # visible again
    assert lines[1] == lines[-1]
    doc = (Path(__file__).parents[2] / "docs" / "aufs-on-overlayfs.md").read_text()
    shown = doc.split("This is the output on the lab machine:\n\n```\n", 1)[1].split("```", 1)[0]
    assert shown.splitlines() == lines  # the explainer shows exactly what the kernel does


def _started_id(stderr: str) -> str:
    found = re.search(rf"labkit: ({naming.PREFIX}[0-9a-f]{{8}}) keeps its files", stderr)
    assert found, stderr
    return found.group(1)


def test_two_containers_from_one_image_write_independently() -> None:
    script = ("echo {0} > /data; mkdir -p /etc/{0}; rm /etc/hostname; sleep 1; cat /data; "
              "ls /etc | grep -c hostname; grep -c overlay /proc/self/mountinfo")
    procs = [subprocess.Popen([*LABKIT, "run", "--", "/bin/sh", "-c", script.format(who)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for who in ("one", "two")]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert [out.split() for out, _ in outputs] == [["one", "0", "1"], ["two", "0", "1"]]
    base = store.get(store.BASE_IMAGE).layer_dirs()[0]
    assert not (base / "data").exists() and (base / "etc" / "hostname").exists()
    with open("/proc/self/mountinfo") as f:
        assert str(naming.DATA_ROOT) not in f.read()


def test_a_committed_layer_replayed_on_the_base_gives_the_containers_view() -> None:
    changes = ("echo new > /hello; chmod 4750 /hello; ln -s /hello /etc/link; rm /etc/hostname;"
               " rm -r /var; mkdir -p /var/www; echo page > /var/www/index.html;"
               " rm /bin/vi; mkdir /usr/share; ln /hello /usr/share/hard; chown 7:8 /usr/share")
    result = labkit("run", "--keep", "--", "/bin/sh", "-c", changes)
    cid = _started_id(result.stderr)
    ref = f"lktest-{cid}:v1"
    try:
        assert result.returncode == 0, result.stderr
        commit = labkit("commit", cid, ref, "-m", "step 1")
        assert commit.returncode == 0, commit.stderr
        image = store.get(ref)
        upper = containerfs.container_fs_dir(cid) / "upper"
        base_dirs = [str(d) for d in store.get(store.BASE_IMAGE).layer_dirs()]
        container_view = union_view(*base_dirs, upper)
        replayed = union_view(*[str(d) for d in image.layer_dirs()])
        assert container_view != union_view(*base_dirs)  # the comparison can tell changes apart
        assert replayed == container_view
        assert "etc/hostname" not in replayed and "bin/vi" not in replayed and "var/log" not in replayed
        assert replayed["hello"][:4] == ("file", 0o4750, 0, 0)
        assert replayed["etc/link"] == ("link", 0o777, 0, 0, "/hello")
        assert replayed["usr/share"][2:4] == (7, 8)
        run = labkit("run", "--rootfs", ref, "--", "/bin/sh", "-c",
                     "cat /hello /var/www/index.html; ls /etc/hostname")
        assert run.stdout.split() == ["new", "page"] and run.returncode != 0
        # In a user namespace overlayfs reads user.overlay.* xattrs (userxattr): still opaque
        userns = labkit("run", "--ns", "user,mnt,pid", "--rootfs", ref, "--", "/bin/ls", "/var")
        assert (userns.returncode, userns.stdout.split()) == (0, ["www"]), userns.stderr
        history = labkit("image", "history", ref).stdout.splitlines()
        assert len(history) == 3 and "step 1" in history[1]
    finally:
        labkit("rm", cid)
        containerfs.remove_container_fs(cid)
        if store.exists(ref):
            store.remove(ref)
    assert not containerfs.container_fs_dir(cid).exists()
    assert all(layers.has_layer(d) for d in store.get(store.BASE_IMAGE).layers)


def test_cleanup_removes_the_files_of_a_killed_run() -> None:
    proc = subprocess.Popen([*LABKIT, "run", "--", "/bin/sleep", "30"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        mine: list[Path] = []
        for _ in range(500):
            mine = [s.directory for s in state.all_states() if s.supervisor_pid == proc.pid]
            mine = [containerfs.container_fs_dir(d.name) for d in mine]
            if mine and (mine[0] / "upper").is_dir():
                break
            time.sleep(0.02)
        assert mine, "the container never got its files"
        found = [item for item in containerfs.leftovers() if item.name == mine[0].name]
        assert found == []  # alive: not a leftover
    finally:
        proc.kill()  # SIGKILL: no chance to undo anything
        proc.wait()
    assert mine[0].is_dir()
    assert labkit("cleanup").returncode == 0
    assert not mine[0].exists()
    assert [item for item in containerfs.leftovers() if item.name == mine[0].name] == []
