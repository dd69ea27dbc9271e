"""Lab 05 judged from the host: the container's own cgroup, its limits, joined first, removed after.

Wrong runtimes fail the case they are meant to fail with a sentence naming the mistake;
correct runtimes written differently pass; the reference passes three times in a row; and
nothing a runtime made is left: no group of the kit's runtimes (named lkg... in a case's
group, or lk<pid> under the kit's folder from the command line) and no mount.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_helpers.cgroups.layout import SUBTREE, detect_layout
from kernel_helpers.cgroups.limits import weight_to_shares
from kernel_helpers.course.harness.cases.lab05 import CASES
from kernel_helpers.course.runtime_check import KIT_ROOT, judge
from kernel_helpers.course.standins import reference_slot
from runtime_variants import failed_case, statuses, runtime_file
from variants_lab05 import BY_STEP, RIGHT

ALL_PASS = ["pass"] * len(CASES)
WRONG = [(slot, case, name, code) for slot, cases in BY_STEP.values()
         for case, variants in cases.items() for name, code in variants.items()]

EXPECTED_WORDS = {
    "limits hard-coded to the notebook's demo values": "has another memory.max limit than",
    "never writes the limits": "has no memory.max limit",
    "writes the limits to the parent group": "has no memory.max limit",
    "a group named without the run prefix": "not named with spec.run_prefix",
    "the group under the kit's folder, not spec.cgroup_parent": "not under spec.cgroup_parent",
    "never writes pids.max": "has no pids.max limit",
    "pids limit hard-coded to the notebook's 10": "has another pids.max limit than",
    "the pids limit only when a memory limit is asked too": "has no pids.max limit",
    "writes the pids limit to the parent group": "has no pids.max limit",
    "releases the child before joining it (other set-up in between)":
        "ran before its runtime put it in its cgroup",
    "the child never waits for the join": "ran before its runtime put it in its cgroup",
    "joins the runtime, not the container": "runs in the cgroup its runtime was started in",
    "joins the parent group": "runs in the cgroup its runtime was started in",
    "never removes the group": "is still there after its runtime exited",
    "removes the group before waitpid": "while the container was still in it",
    "removes the group before waitpid, ignoring the error": "is still there after",
    "removes the parent group instead": "is still there after its runtime exited",
    "the quota in CPUs, not microseconds (1.5, not 150000)":
        "refused the CPU quota your runtime gave cpu.max",
    "the quota hard-coded to the notebook's 1.5 CPUs": "has another CPU quota than",
    "the period written, not the quota": "has no CPU quota",
    "period and quota swapped": "has another CPU quota than",
    "the quota written to the parent group": "is on the container's parent group",
    "the CPU limits only when a memory limit is asked too": "has no CPU quota",
    "run makes the group only for the memory and pids limits":
        "made no cgroup when only spec.cpu_quota was set",
    "the weight written to the parent group": "is on the container's parent group",
    "the weight hard-coded to the notebook's 500": "has another CPU weight than",
    "the weight converted to v1 shares before lk.write_limit (converted twice)":
        "has another CPU weight than",
    "the CPU weight only when a memory limit is asked too": "has the default CPU weight",
    "the weight written raw to v1's cpu.shares, by hand": "cpu.shares is spec.cpu_weight itself",
}


def _runtime_groups() -> set[str]:
    """Groups a runtime made: lkg* inside a case's group, lk<digits> (the CLI's) in the kit's."""
    layout = detect_layout()
    roots = sorted(set(layout.v1.values()) | ({layout.v2_root} if layout.v2_root else set()))
    found = set()
    for root in roots:
        kit = os.path.join(root, SUBTREE)
        for name in _listdir(kit):
            if name[2:].isdigit() and len(name) < 10:  # a pid has at most 7 digits; lk + 8
                found.add(os.path.join(kit, name))     # hex is a case's group (or another's)
            found.update(os.path.join(kit, name, sub) for sub in _listdir(os.path.join(kit, name))
                         if sub.startswith("lkg"))
    return found


def _listdir(folder: str) -> list[str]:
    try:  # other tests make and remove their groups meanwhile
        return os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _mounts() -> int:
    with open("/proc/self/mountinfo") as f:
        return len(f.readlines())


@pytest.fixture(autouse=True)
def _nothing_left(root: None) -> None:
    """No runtime's cgroup and no mount is left on the machine after a test."""
    groups, mounts = _runtime_groups(), _mounts()
    yield
    assert _runtime_groups() <= groups
    assert _mounts() == mounts


def test_reference_passes_three_times(tmp_path: Path) -> None:
    path = runtime_file(tmp_path)
    for _ in range(3):
        verdict = judge(path, "05", "own")
        assert statuses(verdict) == ALL_PASS, verdict
        assert verdict["notes"] == []


@pytest.mark.parametrize("slot,case,name,code", WRONG, ids=[w[2] for w in WRONG])
def test_wrong_variant_fails_its_case(tmp_path: Path, slot: str, case: str, name: str,
                                      code: str | dict[str, str]) -> None:
    path = runtime_file(tmp_path, **(code if isinstance(code, dict) else {slot: code}))
    first = failed_case(path, "05", case, name)
    assert EXPECTED_WORDS[name] in first["message"], (name, first["message"])


def test_every_case_has_three_wrong_variants() -> None:
    for _, cases in BY_STEP.values():
        for case, variants in cases.items():
            assert len(variants) >= 3, case


RIGHT_CASES = [(name, {slot: code}) for slot, table in RIGHT.items()
               for name, code in table.items()]


@pytest.mark.parametrize("name,slots", RIGHT_CASES, ids=[r[0] for r in RIGHT_CASES])
def test_correct_alternates_pass(tmp_path: Path, name: str, slots: dict[str, str]) -> None:
    verdict = judge(runtime_file(tmp_path, **slots), "05", "own")
    assert statuses(verdict) == ALL_PASS, (name, verdict)


def test_piece_passes_through_named_stand_ins(tmp_path: Path) -> None:
    """Labs 01 to 04 unsolved: lab 05's own slots still pass, and the notes say which stood in."""
    path = runtime_file(tmp_path, base="template",
                        **{name: reference_slot(name)
                           for name in ("create_cgroup", "join_cgroup", "remove_cgroup")})
    piece = judge(path, "05", "piece")
    assert statuses(piece) == ALL_PASS, piece
    assert piece["notes"] == [f"stand-in used for {name} (lab {lab}): yours is still the stub"
                              for name, lab in (("run", "01"), ("enter_uts_ipc", "02"),
                                                ("enter_rootfs", "03"), ("mount_pseudo_fs", "03"),
                                                ("enter_userns", "04"), ("write_id_maps", "04"))]
    assert "fail" in statuses(judge(path, "05", "own", "cgroup-limits"))


def test_a_run_without_the_new_calls_gets_a_stand_in(tmp_path: Path) -> None:
    """A run as of lab 04 never calls create_cgroup: the reference run stands in."""
    path = runtime_file(tmp_path, run=reference_slot("run", as_of_lab=4))
    piece = judge(path, "05", "piece")
    assert statuses(piece) == ALL_PASS, piece
    assert "stand-in used for run (lab 01): yours does not call" in piece["notes"][0]
    assert "fail" in statuses(judge(path, "05", "own"))


SHOW = '''
import json, os
from kernel_helpers import learn as lk
from kernel_helpers.cgroups import memory, pids
from kernel_helpers.cgroups.layout import detect_layout
v = detect_layout().version
lines = [l.split(":", 2) for l in open("/proc/self/cgroup").read().splitlines()]
path = next(p for _, c, p in lines if c == ("" if v == 2 else "pids"))
folders = lk.cgroup_folders(path)
mem = next(f for f in folders if v == 2 or "/memory/" in f)
tasks = next(f for f in folders if v == 2 or "/pids/" in f)
print(json.dumps([path, memory.stats(mem, v)["memory_max"], pids.stats(tasks, v)["pids_max"]]))
'''


def test_cli_options_reach_the_spec(tmp_path: Path) -> None:
    """`python myruntime.py run --memory 64m --pids 10` as a learner types it: the command runs
    in a group of its own under the kit's folder, with those limits, removed afterwards."""
    path = runtime_file(tmp_path)
    done = subprocess.run([sys.executable, str(path), "run", "--memory", "64m", "--pids", "10",
                           "--", sys.executable, "-c", SHOW],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=KIT_ROOT))
    assert done.returncode == 0, done.stderr
    group, memory_max, pids_max = json.loads(done.stdout)
    assert group.startswith(f"/{SUBTREE}/lk") and (memory_max, pids_max) == (64 << 20, 10)
    assert not any(os.path.isdir(folder) for folder in
                   __import__("kernel_helpers.learn", fromlist=["x"]).cgroup_folders(group))


@pytest.mark.parametrize("option,value,words", [("--memory", "64X", "not a size"),
                                                ("--pids", "0", "not a process count")])
def test_cli_refuses_bad_limits(tmp_path: Path, option: str, value: str, words: str) -> None:
    done = subprocess.run([sys.executable, str(runtime_file(tmp_path)), "run", option, value,
                           "--", "/bin/true"], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=KIT_ROOT))
    assert done.returncode == 2 and words in done.stderr, done.stderr


SHOW_CPU = '''
import json, os
from kernel_helpers import learn as lk
from kernel_helpers.cgroups.layout import detect_layout
v = detect_layout().version
lines = [l.split(":", 2) for l in open("/proc/self/cgroup").read().splitlines()]
path = next(p for _, c, p in lines if ("" if v == 2 else "cpu") in c.split(","))
folder = next(f for f in lk.cgroup_folders(path) if v == 2 or "/cpu/" in f or "/cpu," in f)
def read(name):
    return open(os.path.join(folder, name)).read().split()
if v == 2:
    print(json.dumps([path, read("cpu.max"), read("cpu.weight")]))
else:
    print(json.dumps([path, read("cpu.cfs_quota_us") + read("cpu.cfs_period_us"),
                      read("cpu.shares")]))
'''


def test_cli_cpu_options_reach_the_group(tmp_path: Path) -> None:
    """`run --cpus 1.37 --cpu-weight 250` alone (no memory or pids limit): the command runs in
    a group of its own with that quota (137000 per 100000) and weight (v1: its shares)."""
    done = subprocess.run([sys.executable, str(runtime_file(tmp_path)), "run", "--cpus", "1.37",
                           "--cpu-weight", "250", "--", sys.executable, "-c", SHOW_CPU],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=KIT_ROOT))
    assert done.returncode == 0, done.stderr
    group, quota, weight = json.loads(done.stdout)
    assert group.startswith(f"/{SUBTREE}/lk") and quota == ["137000", "100000"]
    assert weight == ["250" if detect_layout().version == 2 else str(weight_to_shares(250))]


@pytest.mark.parametrize("option,value,words", [("--cpus", "0", "not a number of CPUs"),
                                                ("--cpus", "1,5", "not a number of CPUs"),
                                                ("--cpu-weight", "10001", "not a CPU weight")])
def test_cli_refuses_bad_cpu_limits(tmp_path: Path, option: str, value: str, words: str) -> None:
    done = subprocess.run([sys.executable, str(runtime_file(tmp_path)), "run", option, value,
                           "--", "/bin/true"], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=KIT_ROOT))
    assert done.returncode == 2 and words in done.stderr, done.stderr


@pytest.mark.parametrize("knob,value", [("cpu.max", 1.5), ("cpu.max", "1.5 100000"),
                                        ("cpu.max", "999 100000"), ("cpu.weight", 0),
                                        ("cpu.weight", 10001), ("cpu.weight", "2.5")])
def test_write_limit_refuses_cpu_values_the_kernel_would(knob: str, value: object) -> None:
    """Refused before any file is touched (no group is needed), with the hint naming the units."""
    from kernel_helpers import learn as lk
    with pytest.raises(OSError) as err:
        lk.write_limit(f"{SUBTREE}/no-such-group", knob, value)  # type: ignore[arg-type]
    assert err.value.errno == 22 and "in whole microseconds" in str(err.value)
