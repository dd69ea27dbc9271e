"""Helpers for the OCI tests: a `runc spec` bundle over the busybox rootfs, run by `labkit oci`."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from kernel_helpers.testing import labkit, oci_bundle


class Oci:
    """Makes bundles and drives `labkit oci` the way the runtime-tools suite does."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.made: list[str] = []
        self.folders: list[Path] = []

    def bundle(self, args: list[str], edit: Callable[[dict[str, Any]], None] | None = None,
               name: str = "bundle", public: bool = False) -> Path:
        """With `public`, in a folder any user may enter (root of a user namespace is not host root)."""
        if public:
            folder = Path(tempfile.mkdtemp(prefix="lk-oci-"))
            folder.chmod(0o755)
            self.folders.append(folder)
            bundle = folder / name
        else:
            bundle = self.where / name
        return oci_bundle(bundle, args, edit)

    def create(self, bundle: Path, cid: str, *options: str) -> subprocess.CompletedProcess[str]:
        """`labkit oci create` with stdout and stderr in files (as the suite gives it): the
        container keeps them, so a pipe would stay open until the container exits."""
        self.made.append(cid)
        with open(self.where / f"{cid}.out", "w") as out, open(self.where / f"{cid}.err", "w") as err:
            done = subprocess.run([sys.executable, "-m", "kernel_helpers", "oci", "create",
                                   "--bundle", str(bundle), *options, cid], stdout=out,
                                  stderr=err, stdin=subprocess.DEVNULL, timeout=60, text=True)
        return subprocess.CompletedProcess(done.args, done.returncode, self.output(cid),
                                           (self.where / f"{cid}.err").read_text())

    def output(self, cid: str) -> str:
        return (self.where / f"{cid}.out").read_text()

    def state(self, cid: str) -> dict[str, Any]:
        return json.loads(labkit("oci", "state", cid).stdout)  # type: ignore[no-any-return]

    def wait(self, cid: str, status: str = "stopped", seconds: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while True:
            state = self.state(cid)
            if state["status"] == status or time.monotonic() > deadline:
                return state
            time.sleep(0.05)

    def run(self, bundle: Path, cid: str) -> str:
        """create, start, wait until it stopped, delete; return what it printed."""
        created = self.create(bundle, cid)
        assert created.returncode == 0, created.stderr
        started = labkit("oci", "start", cid)
        assert started.returncode == 0, started.stderr
        assert self.wait(cid)["status"] == "stopped"
        deleted = labkit("oci", "delete", cid)
        assert deleted.returncode == 0, deleted.stderr
        return self.output(cid)

    def cleanup(self) -> None:
        for cid in self.made:
            if labkit("oci", "state", cid).returncode == 0:
                labkit("oci", "delete", "--force", cid)
        for folder in self.folders:
            shutil.rmtree(folder)


@pytest.fixture
def oci(tmp_path: Path, root: None) -> Iterator[Oci]:
    helper = Oci(tmp_path)
    try:
        yield helper
    finally:
        helper.cleanup()
