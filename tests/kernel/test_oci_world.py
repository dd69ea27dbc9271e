"""`labkit oci`: the container's world from a config, read inside and from the host (real kernel).

One test per gap of issue #16: mounts in config order with their options,
rootfs propagation, masked and read-only paths inside the rootfs, cgroupsPath,
device nodes and device cgroup rules, hooks with their failure semantics,
namespaces joined by path, and a config that lists no mount namespace.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kernel_helpers.cgroups.layout import detect_layout
from kernel_helpers.testing import labkit

pytestmark = pytest.mark.usefixtures("root")


def test_mounts_are_made_in_config_order_with_their_options(oci: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["mounts"] += [
            {"destination": "/data", "type": "tmpfs", "source": "lktmp", "options": ["nosuid", "size=1m"]},
            {"destination": "/data/inner", "type": "bind", "source": str(oci.where / "shared"),
             "options": ["rbind", "ro", "noexec"]}]
    (oci.where / "shared").mkdir()
    (oci.where / "shared" / "file").write_text("from the host\n")
    out = oci.run(oci.bundle(["/bin/sh", "-c", "cut -d' ' -f5,6 /proc/self/mountinfo; "
                              "cat /data/inner/file; touch /data/inner/x || echo ro"], edit),
                  "lk-oci-mounts")
    lines = out.splitlines()
    targets = [line.split()[0] for line in lines if line.startswith("/")]
    wanted = ["/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/data", "/data/inner"]
    assert [t for t in targets if t in wanted] == wanted  # runc spec's order, then ours
    assert "nosuid" in next(line for line in lines if line.startswith("/data "))
    inner = next(line for line in lines if line.startswith("/data/inner "))
    assert "ro" in inner.split()[1].split(",") and "noexec" in inner
    assert lines[-2:] == ["from the host", "ro"]


def test_shared_rootfs_propagation_shows_inside_and_never_reaches_the_host(oci: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["linux"]["rootfsPropagation"] = "shared"
        config["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
        config["process"]["capabilities"]["effective"].append("CAP_SYS_ADMIN")
        config["process"]["capabilities"]["permitted"].append("CAP_SYS_ADMIN")
        config["root"]["readonly"] = False
    before = Path("/proc/self/mountinfo").read_text().count("\n")
    out = oci.run(oci.bundle(["/bin/sh", "-c", "awk '$5 == \"/\"' /proc/self/mountinfo"
                              " | grep -o 'shared:[0-9]*'"], edit), "lk-oci-prop")
    assert out.startswith("shared:")
    assert Path("/proc/self/mountinfo").read_text().count("\n") == before


def test_masked_and_read_only_paths_in_the_rootfs_are_enforced_inside(oci: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["linux"]["maskedPaths"] = ["/masked-dir", "/masked-file"]
        config["linux"]["readonlyPaths"] = ["/ro-dir"]
        config["root"]["readonly"] = False
    bundle = oci.bundle(["/bin/sh", "-c", "ls /masked-dir | wc -l; cat /masked-file | wc -c; "
                         "touch /ro-dir/x 2>/dev/null || echo ro"], edit)
    (bundle / "rootfs/masked-dir").mkdir()
    (bundle / "rootfs/masked-dir/secret").write_text("x")
    (bundle / "rootfs/masked-file").write_text("secret")
    (bundle / "rootfs/ro-dir").mkdir()
    assert oci.run(bundle, "lk-oci-masked").split() == ["0", "0", "ro"]


def test_cgroups_path_puts_the_container_there_and_delete_removes_it(oci: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["linux"]["cgroupsPath"] = "/lk-oci-test/inner"
        config["linux"]["resources"]["pids"] = {"limit": 42}
    assert oci.create(oci.bundle(["/bin/sleep", "30"], edit), "lk-oci-cgpath").returncode == 0
    pid = oci.state("lk-oci-cgpath")["pid"]
    layout = detect_layout()
    folder = Path(layout.v1["pids"] if layout.version == 1 else str(layout.v2_root), "lk-oci-test/inner")
    assert (folder / "pids.max").read_text() == "42\n"
    assert str(pid) in (folder / "cgroup.procs").read_text().split()
    assert labkit("oci", "delete", "--force", "lk-oci-cgpath").returncode == 0
    assert not folder.parent.exists()  # the parent it made goes too


def test_devices_are_made_and_the_device_cgroup_follows_the_rules(oci: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["linux"]["devices"] = [{"path": "/dev/lkfuse", "type": "c", "major": 10, "minor": 229,
                                       "fileMode": 0o640, "uid": 7, "gid": 8}]
        config["linux"]["resources"]["devices"] = [{"allow": False, "access": "rwm"},
                                                   {"allow": True, "type": "c", "major": 10,
                                                    "minor": 229, "access": "rw"}]
    bundle = oci.bundle(["/bin/sh", "-c", "stat -c '%t:%T %a %u %g' /dev/lkfuse; "
                         "echo x > /dev/null && echo null-ok"], edit)
    assert oci.create(bundle, "lk-oci-devices").returncode == 0
    layout = detect_layout()
    if layout.version == 1:  # the rules in the kernel's devices cgroup, in the config's order
        pid = oci.state("lk-oci-devices")["pid"]
        where = next(line.split(":", 2)[2] for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
                     if "devices" in line.split(":")[1].split(","))
        rules = Path(layout.v1["devices"], where.lstrip("/"), "devices.list").read_text().splitlines()
        assert rules[0] == "c 10:229 rw" and "a *:* rwm" not in rules
        assert "c 1:3 rwm" in rules  # runc's standard nodes stay usable after the config's rules
    assert labkit("oci", "start", "lk-oci-devices").returncode == 0
    assert oci.wait("lk-oci-devices")["status"] == "stopped"
    assert labkit("oci", "delete", "lk-oci-devices").returncode == 0
    assert oci.output("lk-oci-devices").splitlines() == ["a:e5 640 7 8", "null-ok"]


def test_hooks_run_at_their_points_with_the_state_on_stdin(oci: Any) -> None:
    log = oci.where / "hooks.log"
    def hook(kind: str) -> dict[str, Any]:
        return {"path": "/bin/sh", "args": ["sh", "-c", f"echo {kind} $(grep -o '\"status\": *\"[a-z]*\"'"
                                            f" | tr -d '\" ' ) >> {log}"]}
    def edit(config: dict[str, Any]) -> None:
        config["hooks"] = {kind: [hook(kind)] for kind in ("prestart", "createRuntime",
                                                           "poststart", "poststop")}
    bundle = oci.bundle(["/bin/true"], edit)
    assert oci.create(bundle, "lk-oci-hooks").returncode == 0
    assert log.read_text().split("\n")[:2] == ["prestart status:created", "createRuntime status:created"]
    assert labkit("oci", "start", "lk-oci-hooks").returncode == 0
    assert oci.wait("lk-oci-hooks")["status"] == "stopped"
    assert labkit("oci", "delete", "lk-oci-hooks").returncode == 0
    assert log.read_text().splitlines()[2:] == ["poststart status:running", "poststop status:stopped"]


def test_a_failing_prestart_hook_fails_create_and_removes_the_container(oci: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["hooks"] = {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo nope >&2; exit 3"]}],
                           "poststop": [{"path": "/bin/false"}]}
    result = oci.create(oci.bundle(["/bin/true"], edit), "lk-oci-hookfail")
    assert result.returncode != 0
    assert "prestart hook /bin/sh: exited with status 3 (nope)" in result.stderr
    assert labkit("oci", "state", "lk-oci-hookfail").returncode == 2


def test_namespaces_given_by_path_are_joined(oci: Any) -> None:
    holder = subprocess.Popen(["unshare", "--uts", "--net", "sh", "-c", "hostname lk-joined; sleep 60"])
    try:
        uts, net = f"/proc/{holder.pid}/ns/uts", f"/proc/{holder.pid}/ns/net"
        for _ in range(100):  # until unshare has moved it
            if os.readlink(uts) != os.readlink("/proc/self/ns/uts"):
                break
        def edit(config: dict[str, Any]) -> None:
            config["linux"]["namespaces"] = [
                ns for ns in config["linux"]["namespaces"] if ns["type"] not in ("uts", "network")]
            config["linux"]["namespaces"] += [{"type": "uts", "path": uts}, {"type": "network", "path": net}]
            config["mounts"] = [m for m in config["mounts"] if m["type"] not in ("sysfs", "cgroup")]
            del config["hostname"]
        bundle = oci.bundle(["/bin/sh", "-c", "readlink /proc/self/ns/net; sleep 0.2; hostname"], edit)
        out = oci.run(bundle, "lk-oci-join").split()
        assert out == [os.readlink(net), "lk-joined"]
    finally:
        holder.kill()
        holder.wait()


def test_a_config_without_a_mount_namespace_shares_ours_and_leaves_no_mount(oci: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"]
                                         if ns["type"] != "mount"]
    before = Path("/proc/self/mountinfo").read_text()
    bundle = oci.bundle(["/bin/sh", "-c", "readlink /proc/self/ns/mnt; ls /proc | grep -c ."], edit)
    out = oci.run(bundle, "lk-oci-nomnt").split()
    assert out[0] == os.readlink("/proc/self/ns/mnt")  # the runtime's, as the spec says
    assert int(out[1]) > 0  # its /proc was mounted (in our namespace, under its root only)
    assert Path("/proc/self/mountinfo").read_text() == before  # and detached once it was gone
