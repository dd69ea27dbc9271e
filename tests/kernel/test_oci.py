"""OCI bundles: one `runc spec` bundle runs the same under runc, crun and labkit."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernel_helpers.cgroups.layout import Mode, detect_layout
from kernel_helpers.testing import labkit, oci_bundle

pytestmark = pytest.mark.usefixtures("root")
PROBE = ("hostname; id -u; echo pid=$$; ls /; grep -c . /proc/self/mountinfo >/dev/null && echo ok; "
         "grep -E '^(Cap...|NoNewPrivs|Seccomp):' /proc/self/status; "
         "echo timer_list=$(wc -c < /proc/timer_list); touch /proc/sys/x 2>/dev/null || echo ro-proc-sys; "
         "touch /x 2>/dev/null || echo read-only-root")


def make_bundle(where: Path, args: list[str], **changes: object) -> Path:
    return oci_bundle(where / "bundle", args, lambda config: config.update(changes))


def wait_status(cid: str, status: str, seconds: float = 10) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while True:
        state = json.loads(labkit("oci", "state", cid).stdout)
        if state["status"] == status or time.monotonic() > deadline:
            return state  # type: ignore[no-any-return]
        time.sleep(0.05)


def create(bundle: Path, cid: str) -> subprocess.CompletedProcess[str]:
    """`labkit oci create`, its stdio (which the container keeps, as under runc) in files."""
    out, err = bundle.parent / f"{cid}.out", bundle.parent / f"{cid}.err"
    with open(out, "w") as stdout, open(err, "w") as stderr:
        done = subprocess.run([sys.executable, "-m", "kernel_helpers", "oci", "create", "--bundle",
                               str(bundle), cid], stdout=stdout, stderr=stderr, timeout=60)
    return subprocess.CompletedProcess(done.args, done.returncode, out.read_text(), err.read_text())


def run_with_labkit(bundle: Path, cid: str) -> str:
    """create, start, wait, delete; what the container printed reached the caller of create."""
    assert create(bundle, cid).returncode == 0
    assert labkit("oci", "start", cid).returncode == 0
    wait_status(cid, "stopped")
    assert labkit("oci", "delete", cid).returncode == 0
    return (bundle.parent / f"{cid}.out").read_text()


def crun_run(bundle: Path, cid: str) -> list[str]:
    """`crun run`, which refuses a hybrid cgroup layout: there, it gets pure v1 in a private
    mount namespace (its unified tree hidden under a tmpfs); on v1 or v2 it runs as is."""
    command = ["crun", "run", "--bundle", str(bundle), cid]
    layout = detect_layout()
    if layout.mode is not Mode.HYBRID:
        return command
    hide = f"mount -t tmpfs lk-crun {shlex.quote(str(layout.v2_root))}"
    return ["unshare", "-m", "sh", "-c", f"{hide} && exec {shlex.join(command)}"]


def test_the_same_bundle_gives_the_same_view_under_runc_crun_and_labkit(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c", PROBE])
    ours = run_with_labkit(bundle, "lk-oci-same")
    runc = subprocess.run(["runc", "run", "--bundle", str(bundle), "lk-oci-runc"],
                          capture_output=True, text=True, timeout=60)
    crun = subprocess.run(crun_run(bundle, "lk-oci-crun"), capture_output=True, text=True,
                          timeout=60)
    assert runc.returncode == 0 and crun.returncode == 0, runc.stderr + crun.stderr
    assert ours == runc.stdout == crun.stdout
    assert ours.splitlines()[:3] == ["runc", "0", "pid=1"]
    assert ours.splitlines()[-1] == "read-only-root"


def test_the_containers_own_limit_reads_the_same_under_runc_crun_and_labkit(tmp_path: Path) -> None:
    knob = ("/sys/fs/cgroup/memory.max" if detect_layout().version == 2
            else "/sys/fs/cgroup/memory/memory.limit_in_bytes")
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c", f"cat {knob}; echo 1 > {knob} || echo ro"])
    config = json.loads((bundle / "config.json").read_text())
    config["linux"]["resources"]["memory"] = {"limit": 48 << 20}
    (bundle / "config.json").write_text(json.dumps(config))
    ours = run_with_labkit(bundle, "lk-oci-knob")
    runc = subprocess.run(["runc", "run", "--bundle", str(bundle), "lk-oci-knob-runc"],
                          capture_output=True, text=True, timeout=60)
    crun = subprocess.run(crun_run(bundle, "lk-oci-knob-crun"), capture_output=True, text=True,
                          timeout=60)
    assert runc.stdout == crun.stdout == f"{48 << 20}\nro\n", runc.stderr + crun.stderr
    assert ours == runc.stdout  # the same bytes on the caller's stdout as runc's


def test_lifecycle_created_running_stopped_and_kill(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, ["/bin/sh", "-c", "trap 'exit 9' TERM; "
                                    "while true; do sleep 0.05; done"])
    assert create(bundle, "lk-oci-life").returncode == 0
    created = json.loads(labkit("oci", "state", "lk-oci-life").stdout)
    assert (created["status"], created["bundle"]) == ("created", str(bundle))
    assert created["pid"] > 0
    assert labkit("oci", "start", "lk-oci-life").returncode == 0
    assert wait_status("lk-oci-life", "running")["status"] == "running"
    again = labkit("oci", "start", "lk-oci-life")
    assert again.returncode == 2 and "is running, not created" in again.stderr
    assert labkit("oci", "kill", "lk-oci-life", "TERM").returncode == 0
    assert wait_status("lk-oci-life", "stopped")["status"] == "stopped"
    assert json.loads(labkit("inspect", "lk-oci-life").stdout)["exit_code"] == 9
    assert labkit("oci", "delete", "lk-oci-life").returncode == 0
    assert labkit("oci", "state", "lk-oci-life").returncode == 2


def test_resources_become_the_containers_cgroup_limits(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, ["/bin/sleep", "30"])
    config = json.loads((bundle / "config.json").read_text())
    config["linux"]["resources"].update({"memory": {"limit": 48 * 2**20}, "pids": {"limit": 32},
                                         "cpu": {"quota": 20000, "period": 100000}})
    (bundle / "config.json").write_text(json.dumps(config))
    assert create(bundle, "lk-oci-limits").returncode == 0
    try:
        from kernel_helpers.cgroups import open_group
        from kernel_helpers.state import find
        stats = open_group(find("lk-oci-limits").id).stats()
        assert (stats.memory_max, stats.pids_max) == (48 * 2**20, 32)
    finally:
        assert labkit("oci", "delete", "--force", "lk-oci-limits").returncode == 0


def test_a_created_container_can_be_deleted_without_starting(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path, ["/bin/true"])
    assert create(bundle, "lk-oci-never").returncode == 0
    assert labkit("oci", "delete", "--force", "lk-oci-never").returncode == 0


@pytest.mark.parametrize(("change", "sentence"), [
    ({"process": {"terminal": True, "args": ["sh"]}},
     "labkit: process.terminal: is true, which needs a console socket (--console-socket is not "
     "supported yet)."),
    ({"root": {"path": "missing"}}, "labkit: root.path"),
    ({"linux": {"namespaces": [{"type": "net"}]}},
     "labkit: namespace type 'net': is unknown. Use some of: pid, network,"),
    ({"ociVersion": "invalid"}, "labkit: ociVersion 'invalid': is not a runtime-spec 1.x version."),
])
def test_bad_bundles_get_one_sentence(tmp_path: Path, change: dict[str, object],
                                      sentence: str) -> None:
    bundle = make_bundle(tmp_path, ["/bin/true"], **change)
    result = create(bundle, "lk-oci-bad")
    assert result.returncode == 2 and result.stderr.startswith(sentence), result.stderr
    assert labkit("oci", "state", "lk-oci-bad").returncode == 2


def test_a_directory_without_config_is_refused(tmp_path: Path) -> None:
    (tmp_path / "bundle").mkdir()
    result = create(tmp_path / "bundle", "lk-oci-none")
    assert result.stderr == (f"labkit: bundle '{tmp_path / 'bundle'}': has no config.json. "
                             "Make one with `runc spec` in the bundle directory.\n")
