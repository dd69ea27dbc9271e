"""The controller table is the one list: each row is complete, and one row is all a new one takes.

Everything that used to keep its own list of controllers (the layout's v1
hierarchies, the v2 controllers enabled, `labkit doctor`, the plan's order,
where `stats` reads, which hierarchies a container joins) reads the table; these
tests add a row and watch every one of them pick it up.
"""

from __future__ import annotations

import inspect
import pkgutil
import types
from dataclasses import fields
from pathlib import Path

import pytest

from kernel_helpers import cgroups, doctor
from kernel_helpers.cgroups import controllers
from kernel_helpers.cgroups.controllers import CONTROLLERS, Controller, names, needed, plan
from kernel_helpers.cgroups.devices import DOCKER_DEFAULT
from kernel_helpers.cgroups.layout import detect_layout
from kernel_helpers.cgroups.limits import Limits, Stats, Throttle, Write

EVERY_KNOB = Limits(memory=64 << 20, swap=0, cpus=0.5, cpu_shares=512, cpuset_cpus=(0,),
                    cpuset_mems=(0,), pids=20, io_weight=100,
                    io_throttle=(Throttle(7, 0, read_bps=1),), devices=DOCKER_DEFAULT,
                    net_cls_classid=0x100001)
"""Limits with every field set: every row with a plan writes something for it."""


def test_every_row_has_unique_names_and_a_module_of_the_expected_shape() -> None:
    assert len({c.name for c in CONTROLLERS}) == len(CONTROLLERS)
    for version in (1, 2):
        assert len(set(names(version))) == len(names(version))
    for c in CONTROLLERS:
        assert c.v1 or c.v2, c.name
        assert c.why
        if c.module is None:
            continue
        plan_fn, stats_fn = getattr(c.module, "plan", None), getattr(c.module, "stats", None)
        assert plan_fn or stats_fn, f"{c.module.__name__} has neither plan nor stats"
        if plan_fn:
            assert list(inspect.signature(plan_fn).parameters) == ["limits", "version"]
        if stats_fn:
            assert list(inspect.signature(stats_fn).parameters) == ["folder", "version"]


def test_every_controller_module_of_the_package_has_a_row() -> None:
    """A module defining a module-level plan or stats is a controller: it needs its row."""
    listed = {c.module for c in CONTROLLERS if c.module is not None}
    package = Path(cgroups.__file__).parent
    for info in pkgutil.iter_modules([str(package)]):
        module = __import__(f"kernel_helpers.cgroups.{info.name}", fromlist=["_"])
        own = [name for name in ("plan", "stats") if inspect.isfunction(getattr(module, name, None))
               and getattr(module, name).__module__ == module.__name__]
        if own and info.name != "controllers":
            assert module in listed, f"cgroups/{info.name}.py has {own} but no row in CONTROLLERS"


def test_each_plan_writes_only_to_its_own_rows_hierarchy() -> None:
    for version in (1, 2):
        for c in CONTROLLERS:
            if version == 2 and c.name == "net_cls":
                continue  # v2 has none: its plan refuses (test_cgroup_plans checks the sentence)
            for write in c.plan(EVERY_KNOB, version):
                assert write.controller == c.hierarchy(version), (c.name, version, write)
    # And the whole plan is the rows' plans in table order.
    assert plan(EVERY_KNOB, 1) == [w for c in CONTROLLERS for w in c.plan(EVERY_KNOB, 1)]


def test_stats_fields_come_from_the_table_and_cover_stats(tmp_path: Path) -> None:
    (tmp_path / "io.stat").write_text("")  # io reports nothing at all without its file
    (tmp_path / "blkio.throttle.io_service_bytes_recursive").write_text("")
    produced: set[str] = {"frozen"}  # the freezer is read by the group itself (v1 and v2)
    for version in (1, 2):
        for c in CONTROLLERS:
            if c.hierarchy(version):
                produced |= set(c.stats(str(tmp_path), version))
    assert produced == {f.name for f in fields(Stats)}


def test_a_container_joins_the_always_rows_and_those_its_limits_write_to() -> None:
    always = tuple(c.v1 for c in CONTROLLERS if c.always and c.v1)
    assert needed(Limits()) == always
    assert "cpuset" not in needed(Limits()) and "net_cls" not in needed(Limits())
    assert set(needed(Limits(cpuset_cpus=(0,)))) == {*always, "cpuset"}
    # What stats, pause and the device list read is always there.
    assert {"memory", "cpu", "cpuacct", "pids", "blkio", "devices", "freezer"} <= set(always)


def _rdma_module() -> types.ModuleType:
    """A made-up controller module: plans one write when a pids limit is set, reports one field."""
    module = types.ModuleType("rdma")

    def plan(limits: Limits, version: int) -> list[Write]:
        return [] if limits.pids is None else [Write("rdma", "rdma.max", "mlx5_0 hca_handle=2")]

    def stats(folder: str | None, version: int) -> dict[str, object]:
        return {} if folder is None else {"pids_denied": 99}

    module.plan, module.stats = plan, stats  # type: ignore[attr-defined]
    return module


def test_adding_one_row_is_enough(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    row = Controller("rdma", "rdma", "rdma", _rdma_module(), True, True, "made up for this test")
    monkeypatch.setattr(controllers, "CONTROLLERS", (*CONTROLLERS, row))
    # The layout finds its v1 hierarchy (and still ignores what the table does not list).
    table = tmp_path / "mountinfo"
    table.write_text("32 31 0:29 / /sys/fs/cgroup/rdma rw - cgroup cgroup rw,rdma\n"
                     "33 31 0:30 / /sys/fs/cgroup/perf_event rw - cgroup cgroup rw,perf_event\n")
    assert detect_layout(str(table)).v1 == {"rdma": "/sys/fs/cgroup/rdma"}
    # The plan writes to it, last (its place in the table), and a container joins it.
    assert cgroups.plan(Limits(pids=5), 1)[-1] == Write("rdma", "rdma.max", "mlx5_0 hca_handle=2")
    assert needed(Limits())[-1] == "rdma"
    # v2 enables it, doctor asks for it, and stats reads its folder.
    assert names(2)[-1] == "rdma" and names(1, required_only=True)[-1] == "rdma"
    folder = tmp_path / "rdma" / "labkit" / "lk00000009"
    folder.mkdir(parents=True)
    group = cgroups.Cgroup("lk00000009", 1, {"rdma": str(folder)}, [str(folder.parent)])
    assert group.stats().pids_denied == 99


def test_doctor_asks_for_exactly_the_tables_required_controllers() -> None:
    layout = detect_layout()
    wanted = names(layout.version, required_only=True)
    finding = doctor.check_cgroups()[1]
    assert finding.name == f"cgroup v{layout.version} controllers"
    have = layout.v1 if layout.version == 1 else layout.v2_controllers
    missing = [c for c in wanted if c not in have]
    assert finding.detail == (f"missing: {', '.join(missing)}" if missing else ", ".join(wanted))


def test_this_machines_layout_holds_only_table_controllers() -> None:
    assert set(detect_layout().v1) <= set(names(1))
