"""Each namespace isolates what the course says it does, proven on the real kernel."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from kernel_helpers import ipc
from kernel_helpers._sys import LINUX
from kernel_helpers._sys.linux import MS_PRIVATE, MS_REC
from kernel_helpers.namespaces import (ALL_NAMESPACE_KINDS, Namespace, enter, namespaces_of,
                                       shared_with, unshare)
from kernel_helpers.process import run_in_child
from kernel_helpers.runtime.foreground import run_captured
from kernel_helpers.runtime.run_options import spec_from_options

pytestmark = pytest.mark.usefixtures("root")


def run(command: str, **options: object) -> tuple[int, str]:
    return run_captured(spec_from_options(["/bin/sh", "-c", command], **options))  # type: ignore[arg-type]


def test_command_is_pid_1_and_sees_no_host_process() -> None:
    code, out = run("echo $$; ls /proc | grep -c '^[0-9]'; ls /proc")
    lines = out.split()
    assert code == 0
    assert lines[0] == "1"
    pids = {int(p) for p in lines[2:] if p.isdigit()}
    assert pids <= {1, 2, 3, 4, 5}, pids  # sh, ls, grep and the shell's own children only
    assert os.getpid() not in pids or os.getpid() <= 5


def test_pid_namespaces_nest() -> None:
    # The inner shell is PID 1 of its own namespace, and has a bigger pid in the outer one.
    code, out = run("unshare -p -f sh -c 'echo inner=$$; sleep 0.3' & sleep 0.1; "
                    "echo outer-sees=$(pidof sleep | wc -w); wait")
    assert code == 0
    assert sorted(out.split()) == ["inner=1", "outer-sees=1"]


def test_hostname_and_domainname_do_not_reach_the_host() -> None:
    host_name, host_domain = socket.gethostname(), os.uname()
    code, out = run("hostname; hostname changed-inside; echo lk-domain > /proc/sys/kernel/domainname;"
                    " hostname; cat /proc/sys/kernel/domainname", hostname="box1")
    assert code == 0
    assert out.split() == ["box1", "changed-inside", "lk-domain"]
    assert socket.gethostname() == host_name
    assert os.uname() == host_domain


def _ipc_inside(key: int, host_key: int) -> tuple[bool, bool, bool, bool]:
    unshare({Namespace.IPC})
    ids = {kind: ipc.make(kind, key) for kind in ipc.KINDS}
    seen = all(key in ipc.keys(kind) for kind in ipc.KINDS)
    host_seen = any(host_key in ipc.keys(kind) for kind in ipc.KINDS)
    for kind, ident in ids.items():
        ipc.remove(kind, ident)
    return seen, host_seen, True, bool(ids)


def test_sysv_ipc_objects_are_invisible_across_the_ipc_namespace() -> None:
    key, host_key = 0x4C4B1001, 0x4C4B1002
    host_ids = {kind: ipc.make(kind, host_key) for kind in ipc.KINDS}
    try:
        seen_inside, host_seen_inside, _, _ = run_in_child(_ipc_inside, key, host_key)
        assert seen_inside
        assert not host_seen_inside
        assert all(key not in ipc.keys(kind) for kind in ipc.KINDS)
        assert all(host_key in ipc.keys(kind) for kind in ipc.KINDS)
    finally:
        for kind, ident in host_ids.items():
            ipc.remove(kind, ident)


def _mount_inside(target: str) -> bool:
    unshare({Namespace.MNT})
    LINUX.mount(None, "/", None, MS_REC | MS_PRIVATE)
    LINUX.mount("lk-test", target, "tmpfs", 0, "size=64k")
    return target in Path("/proc/self/mountinfo").read_text()


def test_mounts_made_inside_do_not_appear_on_the_host() -> None:
    with tempfile.TemporaryDirectory() as target:
        assert run_in_child(_mount_inside, target) is True
        assert target not in Path("/proc/self/mountinfo").read_text()


def test_user_namespace_maps_container_root_to_an_unprivileged_host_uid() -> None:
    proc = subprocess.Popen(
        ["python3", "-m", "kernel_helpers", "run", "--ns", "user,pid,mnt,uts,ipc", "--",
         "/bin/sh", "-c", "id -u; cat /proc/self/uid_map; sleep 2"],
        stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()  # type: ignore[union-attr]
        uid_map = proc.stdout.readline().split()  # type: ignore[union-attr]
        pid = _container_pid(proc.pid)
        status = Path(f"/proc/{pid}/status").read_text()
        host_uid = [line for line in status.splitlines() if line.startswith("Uid:")][0].split()[1]
    finally:
        proc.wait(timeout=10)
    assert first.strip() == "0"
    assert uid_map == ["0", "100000", "65536"]
    assert host_uid == "100000"
    assert proc.returncode == 0


def _container_pid(supervisor: int) -> int:
    """The container's host pid, from the state file the supervisor wrote."""
    from kernel_helpers.state import all_states
    for state in all_states():
        if state.supervisor_pid == supervisor and state.pid:
            return state.pid
    raise AssertionError("no running container found for the supervisor")


def test_net_namespace_has_only_loopback() -> None:
    code, out = run("ls /sys/class/net")
    assert (code, out.split()) == (0, ["lo"])


def test_cgroup_namespace_shows_its_own_root() -> None:
    code, out = run("cat /proc/self/cgroup")
    assert code == 0
    assert all(line.endswith(":/") for line in out.splitlines()), out


def test_time_namespace_offsets_uptime() -> None:
    from dataclasses import replace
    spec = replace(spec_from_options(["/bin/cat", "/proc/uptime"],
                                     ns="pid,mnt,uts,ipc,net,time"), time_offset=86400 * 3)
    code, out = run_captured(spec)
    host_uptime = float(Path("/proc/uptime").read_text().split()[0])
    assert code == 0
    assert float(out.split()[0]) - host_uptime == pytest.approx(86400 * 3, abs=5)


def test_inspect_matches_lsns() -> None:
    ours = {kind: ns.inode for kind, ns in namespaces_of(os.getpid()).items()}
    out = subprocess.run(["lsns", "-p", str(os.getpid()), "-n", "-o", "TYPE,NS"],
                         capture_output=True, text=True, check=True).stdout
    theirs = {line.split()[0]: int(line.split()[1]) for line in out.splitlines()}
    assert ours == theirs


def test_a_new_process_shares_nothing_it_unshared() -> None:
    def child() -> list[str]:
        unshare({Namespace.UTS, Namespace.IPC, Namespace.NET})
        return shared_with("self", os.getppid())
    shared = run_in_child(child)
    assert "uts" not in shared and "ipc" not in shared and "net" not in shared
    assert "mnt" in shared


def test_enter_joins_a_running_containers_uts_namespace() -> None:
    proc = subprocess.Popen(["python3", "-m", "kernel_helpers", "run", "--hostname", "joined",
                             "--", "/bin/sh", "-c", "echo up; sleep 3"], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "up"  # type: ignore[union-attr]
        pid = _container_pid(proc.pid)

        def child() -> str:
            enter(pid, {Namespace.UTS})
            return socket.gethostname()
        assert run_in_child(child) == "joined"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_every_namespace_kind_is_known() -> None:
    assert set(ALL_NAMESPACE_KINDS) == set(os.listdir("/proc/self/ns")) - {
        "pid_for_children", "time_for_children"}
