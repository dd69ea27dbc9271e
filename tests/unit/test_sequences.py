"""Syscall order of the root filesystem switch, and error paths, with the recording kernel."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from kernel_helpers._sys.linux import MNT_DETACH, MS_PRIVATE, MS_REC
from kernel_helpers._sys.recording import RecordingKernel
from kernel_helpers.errors import Busy, InvalidValue, NotFound
from kernel_helpers.process import run_in_child
from kernel_helpers.rootfs.mounts import enter_rootfs, plan_mounts


@pytest.fixture
def rootfs() -> Path:
    path = Path(tempfile.mkdtemp(prefix="lk-unit-root-"))
    (path / "bin").mkdir()
    yield path
    import shutil
    shutil.rmtree(path)


def _trace(root: str, kernel: RecordingKernel) -> list[str]:
    enter_rootfs(plan_mounts(root), kernel)
    return [str(call) for call in kernel.calls]


def test_root_switch_order(rootfs: Path) -> None:
    calls = run_in_child(_trace, str(rootfs), RecordingKernel())
    root = str(rootfs.resolve())
    assert calls[0] == f"mount(None, '/', None, {MS_REC | MS_PRIVATE}, None)"  # nothing leaks out
    assert calls[1].startswith(f"mount('{root}', '{root}', None")          # root is a mount point
    assert calls[-2:] == ["pivot_root('.', '.')", f"umount2('.', {MNT_DETACH})"]
    targets = [c.split("'")[3] for c in calls if c.startswith("mount(") and "'/'" not in c]
    assert targets.index(f"{root}/dev") < targets.index(f"{root}/dev/pts")


def test_an_injected_busy_mount_names_the_target(rootfs: Path) -> None:
    kernel = RecordingKernel(fail={"mount": Busy("mount proc", "the resource is busy", "retry")},
                             fail_on=3)
    with pytest.raises(Busy, match="mount proc"):
        run_in_child(_trace, str(rootfs), kernel)


def test_a_directory_without_bin_or_usr_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="is not a root filesystem"):
        plan_mounts(tmp_path)


def test_a_rootfs_without_a_pid_namespace_is_refused(rootfs: Path) -> None:
    with pytest.raises(InvalidValue, match="pid namespace"):
        plan_mounts(rootfs, new_pid=False)


def test_sys_is_bind_mounted_read_only_without_a_net_namespace(rootfs: Path) -> None:
    steps = {step.target: step for step in plan_mounts(rootfs, new_net=False).steps}
    sys_step = steps[f"{rootfs.resolve()}/sys"]
    assert (sys_step.source, sys_step.fstype) == ("/sys", None)
    assert str(sys_step).endswith(" ro")


def test_unknown_verbs_are_not_recorded() -> None:
    with pytest.raises(AttributeError):
        RecordingKernel().fork  # noqa: B018
    assert os.getpid()  # the test process itself was never changed


def test_cgroup_create_order_makes_the_group_before_any_limit(tmp_path: Path) -> None:
    from kernel_helpers import naming
    from kernel_helpers.cgroups import _owner
    from kernel_helpers.cgroups.group import OWNER_KIND, create
    from kernel_helpers.cgroups.layout import Layout, Mode
    from kernel_helpers.cgroups.limits import Limits

    kit = tmp_path / "labkit"
    kit.mkdir()
    for name in ("cgroup.controllers", "cgroup.subtree_control"):
        (kit / name).write_text("cpu memory pids\n")
    layout = Layout(Mode.V2, v2_root=str(tmp_path), v2_controllers=("cpu", "memory", "pids"))
    kernel, name = RecordingKernel(), naming.new_name()
    (kit / name).mkdir()  # the double records mkdir without making it; delete() needs the folder
    try:
        create(name, Limits(memory=64 * 2**20, pids=20), layout, kernel=kernel).delete()
    finally:
        _owner.forget(OWNER_KIND, name)
    calls = [(c.verb, str(c.args[0])) for c in kernel.calls]
    group = str(kit / name)
    made, removed = calls.index(("mkdir", group)), calls.index(("rmdir", group))
    writes = [i for i, (verb, path) in enumerate(calls) if verb == "write_knob"
              and path.startswith(group + "/")]
    assert {calls[i][1].rsplit("/", 1)[1] for i in writes} >= {"memory.max", "pids.max"}
    assert made < min(writes) and max(writes) < removed  # no limit before mkdir, none after rmdir
    assert calls.index(("mkdir", str(kit))) < made       # the kit's parent first


def test_ipc_objects_go_through_the_seam() -> None:
    from kernel_helpers import ipc
    kernel = RecordingKernel()
    ipc.make("msg", 42, kernel)
    ipc.remove("sem", 7, kernel)
    assert kernel.verbs() == ["msgget", "semctl"]


def test_id_maps_are_written_setgroups_first_each_in_one_write() -> None:
    from kernel_helpers.runtime.launch import write_id_maps
    from kernel_helpers.spec import ContainerSpec, IdMap
    kernel = RecordingKernel()
    write_id_maps(4242, ContainerSpec(("true",), id_map=IdMap(0, 231072, 65536)), kernel)
    assert [str(c) for c in kernel.calls] == [
        "write_knob('/proc/4242/setgroups', 'deny')",
        "write_knob('/proc/4242/uid_map', '0 231072 65536\\n')",
        "write_knob('/proc/4242/gid_map', '0 231072 65536\\n')"]
