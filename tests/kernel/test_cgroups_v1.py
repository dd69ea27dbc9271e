"""cgroup v1 only: net_cls, which has no v2 form (v2 matches the group's path instead)."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Callable

import pytest

from kernel_helpers import cgroups
from kernel_helpers._sys import LINUX
from kernel_helpers._sys.linux import MS_PRIVATE, MS_REC
from kernel_helpers.cgroups import Layout, Limits, Mode
from kernel_helpers.cgroups.run import run_in
from kernel_helpers.namespaces import Namespace
from kernel_helpers.process import run_in_child

pytestmark = pytest.mark.usefixtures("root")


def _proc_cgroup() -> str:
    with open("/proc/self/cgroup") as f:
        return f.read()


def _net_cls() -> tuple[int, int]:
    """(hierarchy id, number of groups) of net_cls from /proc/cgroups; id 0 = not bound."""
    for line in open("/proc/cgroups"):
        if line.split()[0] == "net_cls":
            return int(line.split()[1]), int(line.split()[2])
    raise AssertionError("this kernel has no net_cls controller")


def _wait_for(done: Callable[[], bool], timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.01)
    return done()


def _net_cls_in_a_private_mount(classid: int) -> tuple[str, str, str]:
    """Mount a v1 net_cls hierarchy where only this child sees it; leave it empty, so it goes.

    A v1 hierarchy lives on while it has child groups, even unmounted, so the
    group and the kit's folder are removed before the unmount.
    """
    LINUX.unshare(Namespace.MNT.flag)
    LINUX.mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount_point = tempfile.mkdtemp(prefix="lk-net_cls-")
    try:
        LINUX.mount("cgroup", mount_point, "cgroup", 0, "net_cls")
        try:
            group = cgroups.create(limits=Limits(net_cls_classid=classid),
                                   layout=Layout(Mode.V1, {"net_cls": mount_point}))
            try:
                value = open(f"{group.paths[0]}/net_cls.classid").read().strip()
                seen = run_in(group, _proc_cgroup)
                return value, seen, group.name
            finally:
                group.delete()
                os.rmdir(f"{mount_point}/labkit")
                # rmdir finishes asynchronously; unmounting while a child is still dying
                # would leave the hierarchy bound, unmounted, for good.
                _wait_for(lambda: _net_cls()[1] == 1)
        finally:
            LINUX.umount2(mount_point)
    finally:
        os.rmdir(mount_point)


def test_net_cls_classid_tags_the_group() -> None:
    # 0x100001 is tc class 10:1; the kernel shows it in decimal.
    value, seen, name = run_in_child(_net_cls_in_a_private_mount, 0x100001, timeout=30)
    assert value == "1048577"
    assert f":net_cls:/labkit/{name}\n" in seen
    assert not any("net_cls" in line.split()[4] for line in open("/proc/self/mountinfo")
                   if "cgroup" in line)  # the mount never reached this namespace
    assert _wait_for(lambda: _net_cls()[0] == 0), "the net_cls hierarchy was left bound"
