"""The image store's seams: who can reach its files, GC against imports, --userns writability.

Each test makes images named lktest-<id> and containers it removes itself.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from kernel_helpers import naming
from kernel_helpers.files import USERNS_ROOT_GID
from kernel_helpers.images import containerfs, docker_archive, layers, store
from kernel_helpers.images.crafted import crafted, docker_save_tar
from kernel_helpers.testing import labkit

pytestmark = pytest.mark.usefixtures("root")
NOBODY = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "--",
          "/bin/sh", "-c", 'exec "$@"', "sh"]
"""Run as an ordinary local user: uid and gid nobody, no supplementary groups. The shell
does the exec: setpriv's own execve still holds root's capabilities (it keeps them across
setresuid to call setgroups), so it would walk any path."""


@pytest.fixture
def images() -> Iterator[list[str]]:
    """Refs the test imports; removed (with their unused layers) afterwards."""
    made: list[str] = []
    yield made
    for ref in made:
        if store.exists(ref):
            store.remove(ref)


def as_nobody(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NOBODY, *argv], capture_output=True, text=True, timeout=30, check=False)


def test_a_setuid_file_in_a_layer_is_out_of_other_users_reach(tmp_path: Path,
                                                              images: list[str]) -> None:
    layer = crafted(("lkid", "file", Path("/usr/bin/id").read_bytes(), 0o4755))  # setuid root
    ref = f"lktest-{naming.new_name()}:suid"
    images.append(ref)
    image = docker_archive.import_archive(docker_save_tar(tmp_path / "img.tar", ref,
                                                          [layer.getvalue()]))
    planted = image.layer_dirs()[-1] / "lkid"
    assert planted.stat().st_mode & stat.S_ISUID and planted.stat().st_uid == 0
    # The control: the same file where a local user can reach it makes that user root.
    shown = Path(tempfile.mkdtemp(prefix="lk-reach-", dir=naming.DATA_ROOT))
    try:
        os.chmod(shown, 0o755)
        shutil.copy2(planted, shown / "lkid")
        assert "euid=0" in as_nobody(str(shown / "lkid")).stdout
    finally:
        shutil.rmtree(shown)
    blocked = as_nobody(str(planted))
    assert blocked.returncode == 126 and "Permission denied" in blocked.stderr
    assert "euid=0" not in blocked.stdout
    assert as_nobody("ls", str(layers.layers_root())).returncode != 0
    mode = layers.layers_root().stat()
    assert (stat.S_IMODE(mode.st_mode), mode.st_uid, mode.st_gid) == (0o710, 0, USERNS_ROOT_GID)


def test_a_setuid_file_in_a_running_containers_upper_dir_is_out_of_reach() -> None:
    started = labkit("run", "-d", "--", "/bin/sh", "-c",
                     "cp /bin/busybox /lksu && chmod 4755 /lksu && sleep 30")
    assert started.returncode == 0, started.stderr
    cid = started.stdout.strip()
    try:
        planted = containerfs.container_fs_dir(cid) / "upper" / "lksu"
        deadline = time.monotonic() + 10
        while not (planted.exists() and planted.stat().st_mode & stat.S_ISUID):  # cp, then chmod
            assert time.monotonic() < deadline, "the container never made its setuid file"
            time.sleep(0.05)
        assert planted.stat().st_uid == 0
        blocked = as_nobody(str(planted), "id")
        assert blocked.returncode == 126 and "Permission denied" in blocked.stderr
        assert as_nobody("stat", str(planted)).returncode != 0
    finally:
        assert labkit("rm", "-f", cid).returncode == 0


def test_an_upgraded_machine_gets_its_data_dirs_tightened() -> None:
    root = layers.layers_root()
    os.chmod(root, 0o755)  # as an older kit left it
    os.chown(root, 0, 0)
    assert labkit("image", "ls").returncode == 0
    mode = root.stat()
    assert (stat.S_IMODE(mode.st_mode), mode.st_gid) == (0o710, USERNS_ROOT_GID)


def _import_one(archive: Path) -> int:
    """In a forked process: 0 when the import reported success, 1 when it failed."""
    try:
        docker_archive.import_archive(archive)
    except Exception:
        return 1
    return 0


def _collect_until(stop: Path) -> None:
    while not stop.exists():
        store.collect_garbage()


def _forked(fn, *args) -> int:  # type: ignore[no-untyped-def]
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = fn(*args) or 0
        finally:
            os._exit(code)
    return pid


@pytest.mark.slow
def test_sixty_concurrent_imports_with_gc_running_lose_nothing(tmp_path: Path,
                                                               images: list[str]) -> None:
    shared = crafted(("etc", "dir", "", 0o755), ("etc/shared", "file", naming.new_name(), 0o644))
    archives = []
    for n in range(60):
        ref = f"lktest-{naming.new_name()}:c{n}"
        images.append(ref)
        own = crafted(("own", "file", ref, 0o644))
        archives.append(docker_save_tar(tmp_path / f"{n}.tar", ref,
                                        [shared.getvalue(), own.getvalue()]))
    stop = tmp_path / "stop"
    collectors = [_forked(_collect_until, stop) for _ in range(2)]
    importers = {_forked(_import_one, a): ref for a, ref in zip(archives, images)}
    reported = {ref: os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
                for pid, ref in importers.items()}
    stop.touch()
    for pid in collectors:
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0
    assert all(reported.values()), [ref for ref, ok in reported.items() if not ok]
    for ref in images:
        image = store.get(ref)
        assert all(layers.has_layer(d) and layers.diff_dir(d).is_dir() for d in image.layers)
        assert (image.layer_dirs()[-1] / "own").read_text() == ref
    listing = labkit("image", "ls")
    assert listing.returncode == 0 and all(ref in listing.stdout for ref in images)
    assert "Traceback" not in listing.stderr


def test_userns_root_can_write_the_image_and_join_a_network() -> None:
    write = labkit("run", "--userns", "--", "/bin/sh", "-c",
                   "touch /etc/lk && echo x > /bin/lk && rm /etc/hostname && ls -ld / /etc")
    assert write.returncode == 0, write.stderr
    assert all(line.split()[2:4] == ["root", "root"] for line in write.stdout.splitlines())
    net = labkit("run", "--userns", "--network", "default", "--", "/bin/sh", "-c",
                 "ip -4 -o addr show eth0; grep -c nameserver /etc/resolv.conf; grep -q localhost "
                 "/etc/hosts && echo hosts; cat /proc/self/uid_map")
    assert net.returncode == 0, net.stderr
    lines = net.stdout.splitlines()
    assert " inet " in lines[0] and lines[2] == "hosts" and lines[3].split() == ["0", "100000", "65536"]
    plain = store.get(store.BASE_IMAGE).layer_dirs()[0]
    assert (plain / "etc").stat().st_uid == 0 and (plain / "etc" / "hostname").exists()
