"""`labkit oci`: the process part of a config, read back from inside the container (real kernel).

One test per gap of issue #16: stdio reaches the caller, the five capability
sets, rlimits, a non-root user (its start pipe), user/groups/umask, uid and gid
maps, oomScoreAdj, sysctl, --pid-file, and one sentence for invalid configs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kernel_helpers.security.capabilities import from_mask
from kernel_helpers.testing import labkit

pytestmark = pytest.mark.usefixtures("root")
CAPS = ["/bin/sh", "-c", "grep ^Cap /proc/self/status"]


def caps_inside(output: str) -> dict[str, frozenset[str]]:
    return {line.split(":")[0]: from_mask(int(line.split()[1], 16)) for line in output.splitlines()}


def test_the_containers_stdout_and_stderr_reach_the_caller_of_create(oci: Any) -> None:
    bundle = oci.bundle(["/bin/sh", "-c", "echo to-out; echo to-err >&2"])
    assert oci.run(bundle, "lk-oci-stdio") == "to-out\n"
    assert (oci.where / "lk-oci-stdio.err").read_text() == "to-err\n"


def test_all_five_capability_sets_are_set_as_the_config_lists_them(oci: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["process"]["capabilities"] = {
            "bounding": ["CAP_KILL", "CAP_CHOWN", "CAP_NET_RAW"], "permitted": ["CAP_KILL", "CAP_CHOWN"],
            "effective": ["CAP_KILL"], "inheritable": ["CAP_CHOWN"], "ambient": ["CAP_CHOWN"]}
        config["process"]["user"] = {"uid": 1000, "gid": 1000}  # non-root: sets survive exec as given
    sets = caps_inside(oci.run(oci.bundle(CAPS, edit), "lk-oci-caps"))
    assert sets["CapBnd"] == {"KILL", "CHOWN", "NET_RAW"}
    assert sets["CapInh"] == {"CHOWN"}
    assert sets["CapAmb"] == {"CHOWN"}
    assert sets["CapPrm"] == sets["CapEff"] == {"CHOWN"}  # a non-root exec keeps its ambient set


def test_root_gets_its_bounding_and_inheritable_sets(oci: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["process"]["capabilities"] = {
            "bounding": ["CAP_KILL", "CAP_SYS_ADMIN"], "permitted": ["CAP_KILL", "CAP_SYS_ADMIN"],
            "effective": ["CAP_KILL", "CAP_SYS_ADMIN"], "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]}
    sets = caps_inside(oci.run(oci.bundle(CAPS, edit), "lk-oci-caps-root"))
    assert sets["CapBnd"] == sets["CapPrm"] == sets["CapEff"] == {"KILL", "SYS_ADMIN"}
    assert sets["CapInh"] == sets["CapAmb"] == {"KILL"}


def test_rlimits_are_set_before_the_command_runs(oci: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 300, "hard": 400},
                                        {"type": "RLIMIT_NPROC", "soft": 77, "hard": 88}]
    out = oci.run(oci.bundle(["/bin/sh", "-c", "grep -E 'open files|processes' /proc/self/limits"],
                             edit), "lk-oci-rlimits")
    rows = {("files" if "open files" in line else "processes"):
            [word for word in line.split() if word.isdigit()] for line in out.splitlines()}
    assert rows == {"files": ["300", "400"], "processes": ["77", "88"]}


def test_a_non_root_user_starts_and_runs_with_its_groups_and_umask(oci: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["process"]["user"] = {"uid": 1000, "gid": 1001, "additionalGids": [5, 1002],
                                     "umask": 0o027}
        config["process"]["cwd"] = "/tmp"
    out = oci.run(oci.bundle(["/bin/sh", "-c", "id -u; id -g; id -G; umask"], edit), "lk-oci-user")
    uid, gid, groups, umask = out.split("\n")[:4]
    assert (uid, gid, umask) == ("1000", "1001", "0027")
    assert set(groups.split()) == {"1001", "5", "1002"}


def test_a_non_root_user_in_a_user_namespace_starts_with_both_maps(oci: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["linux"]["namespaces"].append({"type": "user"})
        config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 200000, "size": 65536}]
        config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 300000, "size": 65536}]
        config["process"]["user"] = {"uid": 1000, "gid": 1000}
        config["mounts"] = [m for m in config["mounts"] if m["type"] != "cgroup"]
    out = oci.run(oci.bundle(["/bin/sh", "-c", "id -u; cat /proc/self/uid_map /proc/self/gid_map"],
                             edit, public=True), "lk-oci-userns")
    lines = [line.split() for line in out.splitlines()]
    assert lines == [["1000"], ["0", "200000", "65536"], ["0", "300000", "65536"]]


def test_oom_score_adj_and_sysctl_are_the_containers_own(oci: Any) -> None:
    def edit(config: dict[str, Any]) -> None:
        config["process"]["oomScoreAdj"] = 567
        config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234"}
    host_shmmni = Path("/proc/sys/kernel/shmmni").read_text()
    out = oci.run(oci.bundle(["/bin/sh", "-c", "cat /proc/self/oom_score_adj "
                              "/proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni"], edit),
                  "lk-oci-sysctl")
    assert out.split() == ["567", "1", "1234"]
    assert Path("/proc/sys/kernel/shmmni").read_text() == host_shmmni


def test_create_writes_the_pid_file(oci: Any) -> None:
    bundle = oci.bundle(["/bin/sleep", "30"])
    pid_file = oci.where / "pid"
    assert oci.create(bundle, "lk-oci-pidfile", "--pid-file", str(pid_file)).returncode == 0
    assert int(pid_file.read_text()) == oci.state("lk-oci-pidfile")["pid"] > 0
    assert labkit("oci", "delete", "--force", "lk-oci-pidfile").returncode == 0


@pytest.mark.parametrize(("edit", "sentence"), [
    (lambda c: c["process"].update(capabilities={"bounding": ["CAP_NOT_A_CAP"]}),
     "labkit: capability 'CAP_NOT_A_CAP': is not a Linux capability."),
    (lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}]),
     "labkit: process.rlimits type 'RLIMIT_NOPE': is not a resource limit."),
    (lambda c: c["process"].update(rlimits=[{"type": "RLIMIT_NOFILE", "soft": 9, "hard": 1}]),
     "labkit: process.rlimits RLIMIT_NOFILE: soft 9 is above hard 1."),
    (lambda c: c.update(hooks={"prestop": [{"path": "/bin/true"}]}),
     "labkit: hooks.prestop: is not a hook kind."),
    (lambda c: c["linux"].update(sysctl={"../../etc": "1"}), "labkit: sysctl '../../etc': is not"),
    (lambda c: c["process"].update(apparmorProfile="lk-none"),
     "labkit: process.apparmorProfile 'lk-none': asks for a security label"),
    (lambda c: c["linux"]["namespaces"].append({"type": "network", "path": "/nonexistent/ns"}),
     "labkit: namespace network path '/nonexistent/ns': does not exist."),
])
def test_invalid_configs_get_one_sentence_and_leave_nothing(oci: Any, edit: Any, sentence: str) -> None:
    result = oci.create(oci.bundle(["/bin/true"], edit), "lk-oci-invalid")
    assert result.returncode == 2 and result.stderr.startswith(sentence), result.stderr
    assert "Traceback" not in result.stderr
    assert labkit("oci", "state", "lk-oci-invalid").returncode == 2
