"""The harness judges a learner's runtime from the host, on the real kernel, as root.

Wrong runtimes fail the case they are meant to fail with a sentence naming the mistake;
correct runtimes written differently from the reference pass; runtimes that hang, leak
or crash are stopped, cleaned and scored, and the next case still runs; nothing is left.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kernel_helpers.course.runtime_check import judge
from runtime_variants import (MISBEHAVING, RIGHT, WRONG_ENTER, WRONG_PSEUDO, WRONG_RUN,
                              WRONG_STATUS, runtime_file)

WRONG = [(lab, slot, case, name, code)
         for lab, slot, table in (("01", "run", WRONG_RUN), ("01", "run", WRONG_STATUS),
                                  ("03", "enter_rootfs", WRONG_ENTER),
                                  ("03", "mount_pseudo_fs", WRONG_PSEUDO))
         for case, variants in table.items() for name, code in variants.items()]

EXPECTED_WORDS = {
    "forks before unsharing": "forked before unsharing",
    "forks twice: the command is PID 2": "not its PID 1",
    "forgets MS_PRIVATE": "appeared in the host's mount table",
    "chroots instead of pivot_root": "chroot only changes",
    "leaves the old root mounted on top": "old root is still mounted",
    "leaves the old root at /.old": "old root is still mounted at /.old",
    "never unshares the mount namespace": "shares the runtime's mount namespace",
    "sysfs writable": "/sys is writable",
    "the host's devtmpfs": "devtmpfs",
}


def _host_state() -> tuple[int, list[str]]:
    with open("/proc/self/mountinfo") as f:
        mounts = len(f.readlines())
    return mounts, sorted(p for p in os.listdir("/tmp") if p.startswith("labkit-grade-"))


@pytest.fixture(autouse=True)
def _leaves_nothing(root: None) -> None:
    before = _host_state()
    yield
    assert _host_state() == before


def _case(verdict: dict, case: str) -> dict:
    return next(c for c in verdict["cases"] if c["case"] == case)


@pytest.mark.parametrize("lab", ["01", "03"])
def test_reference_passes_three_times(tmp_path: Path, lab: str) -> None:
    path = runtime_file(tmp_path)
    for _ in range(3):
        verdict = judge(path, lab, "own")
        assert [c["status"] for c in verdict["cases"]] == ["pass"] * len(verdict["cases"]), verdict
        assert verdict["notes"] == []


@pytest.mark.parametrize("lab,slot,case,name,code", WRONG, ids=[w[3] for w in WRONG])
def test_wrong_variant_fails_its_case(tmp_path: Path, lab: str, slot: str, case: str, name: str,
                                      code: str) -> None:
    path = runtime_file(tmp_path, **{slot: code})
    first = _case(judge(path, lab, "own", case), case)
    assert first["status"] == "fail", (name, first)
    assert first["hint"], "a failed case must say what to try"
    assert "labkit cleanup" not in first["message"] + first["hint"]
    if name in EXPECTED_WORDS:
        assert EXPECTED_WORDS[name] in first["message"], (name, first["message"])


@pytest.mark.parametrize("slot,name", [(s, n) for s, table in RIGHT.items() for n in table])
def test_correct_alternates_pass(tmp_path: Path, slot: str, name: str) -> None:
    path = runtime_file(tmp_path, **{slot: RIGHT[slot][name]})
    for lab in ("01", "03") if slot == "run" else ("03",):
        verdict = judge(path, lab, "own")
        assert all(c["status"] == "pass" for c in verdict["cases"]), (name, verdict)


def test_stub_names_its_lab_and_step(tmp_path: Path) -> None:
    path = runtime_file(tmp_path, base="template")
    verdict = judge(path, "01", "own", "pid1")
    assert _case(verdict, "pid1")["message"] == (
        "run (lab 01) is still the stub: it raises NotImplementedError")


def test_lab03_piece_passes_through_a_named_stand_in(tmp_path: Path) -> None:
    """Lab 01 unsolved: lab 03's own slots still pass, through the reference run, and it says so."""
    from kernel_helpers.course.standins import reference_slot
    path = runtime_file(tmp_path, base="template", enter_rootfs=reference_slot("enter_rootfs"),
                        mount_pseudo_fs=reference_slot("mount_pseudo_fs"))
    piece = judge(path, "03", "piece")
    assert all(c["status"] == "pass" for c in piece["cases"]), piece
    assert piece["notes"] == ["stand-in used for run (lab 01): yours is still the stub",
                              "stand-in used for enter_uts_ipc (lab 02): yours is still the stub"]
    own = judge(path, "03", "own", "pivot")
    assert _case(own, "pivot")["status"] == "fail"


def test_a_failing_run_is_named_with_its_case(tmp_path: Path) -> None:
    path = runtime_file(tmp_path, run=WRONG_RUN["pid1"]["forks before unsharing"])
    piece = judge(path, "03", "piece", "pivot")
    assert _case(piece, "pivot")["status"] == "pass"
    assert piece["notes"][0].startswith("stand-in used for run (lab 01): yours fails 01.pid1 (")


def test_a_run_without_the_lab03_calls_gets_a_stand_in(tmp_path: Path) -> None:
    from kernel_helpers.course.standins import reference_slot
    path = runtime_file(tmp_path, run=reference_slot("run", as_of_lab=2))
    piece = judge(path, "03", "piece", "proc")
    assert _case(piece, "proc")["status"] == "pass"
    assert "does not call enter_rootfs yet" in piece["notes"][0]
    assert _case(judge(path, "03", "own", "proc"), "proc")["status"] == "fail"


@pytest.mark.parametrize("name", sorted(MISBEHAVING))
def test_misbehaving_runtime_is_stopped_cleaned_and_scored(tmp_path: Path, name: str) -> None:
    path = runtime_file(tmp_path, run=MISBEHAVING[name])
    # Only the endless loop needs a short deadline; the others must finish well inside the
    # default one, also on a slow (emulated, loaded) machine.
    verdict = judge(path, "01", "own", **({"timeout": 3} if name == "loops forever" else {}))
    statuses = [c["status"] for c in verdict["cases"]]
    assert len(statuses) == 4
    if name == "loops forever":
        assert statuses == ["timeout", "not-run", "not-run", "not-run"]
    elif name == "prints a lot":
        assert statuses == ["pass"] * 4  # output costs nothing
    else:
        assert "fail" in statuses and "timeout" not in statuses, verdict
    if name in ("forks a process that never exits", "leaves a mount", "leaves a cgroup"):
        words = {"forks a process that never exits": "processes still running",
                 "leaves a mount": "a mount at", "leaves a cgroup": "a cgroup it made"}[name]
        assert all(words in c["message"] for c in verdict["cases"]), verdict


def test_a_standing_in_run_brings_later_labs_slots_along(tmp_path: Path) -> None:
    """The reference run calls every lab's slots: at lab 02, lab 03's and 04's are the reference's."""
    from kernel_helpers.course.catalog import load_course
    from kernel_helpers.course.harness.labs import Grader
    course = load_course()
    grader = Grader(runtime_file(tmp_path), course, tmp_path)
    later = grader._later(course.lab("02"), ["run"])
    assert {"enter_rootfs", "mount_pseudo_fs", "enter_userns", "write_id_maps"} <= set(later)
    assert "enter_uts_ipc" not in later and "run" not in later
    assert grader._later(course.lab("02"), ["enter_uts_ipc"]) == []
