"""Labs 02 and 04 judged from the host: uts and ipc namespaces, user namespaces and id maps.

Wrong runtimes fail the case they are meant to fail with a sentence naming the mistake (and
never rename the machine or touch its IPC objects: the judge's namespaces are private);
correct runtimes written differently pass; the reference passes three times in a row.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from kernel_helpers import ipc
from kernel_helpers.course.runtime_check import judge
from kernel_helpers.course.standins import reference_slot
from runtime_variants import failed_case, statuses, runtime_file
from variants_lab02 import BY_STEP as BY_STEP_02, RIGHT as RIGHT_02
from variants_lab04 import BY_STEP as BY_STEP_04, RIGHT as RIGHT_04

WRONG = [(lab, slot, case, name, code)
         for lab, table in (("02", BY_STEP_02), ("04", BY_STEP_04))
         for slot, cases in table.values()
         for case, variants in cases.items() for name, code in variants.items()]

EXPECTED_WORDS = {
    "sets the hostname before unsharing": "hostname changed outside the container",
    "never unshares uts": "hostname changed outside the container",
    "unshares uts in the runtime after fork": "shares the host's uts namespace",
    "hard-codes the hostname": "hostname is 'container', not the spec.hostname this run",
    "never sets the hostname": "the host's name",
    "cuts the name to 8 characters": "hostname is a name made from it, not",
    "unshares uts but not ipc": "shares the host's ipc namespace",
    "unshares ipc in the runtime after fork": "shares the host's ipc namespace",
    "a fixed 100000 base": "maps root to another outside uid",
    "a count of 1": "maps 1 id, not the count",
    "the uid map for gids too": "gid_map maps root to another outside gid",
    "only the uid map": "not mapped in this user namespace: wait until the parent has written "
                        "gid_map",
    "never denies setgroups": "setgroups of the container is 'allow'",
    "denies setgroups after gid_map, ignoring the error": "setgroups of the container is 'allow'",
    "unshares CLONE_NEWNS for CLONE_NEWUSER": "PID must be in a new user namespace",
    "writes its own maps": "failed before exec: myruntime: write_knob('/proc/self/uid_map'",
    "never unshares the user namespace": "PID must be in a new user namespace",
    "execs before the parent wrote the maps": "runs as the host's root",
    "never becomes root inside": "runs as the host's root",
    "enters the user namespace first, its pid namespace the host's":
        "enters its user namespace after the mounts (lab 04)",
    "setresuid only": "keeps a host group",
    "keeps the host's supplementary groups": "keeps the runtime's supplementary groups",
}


def _host() -> tuple[str, set[int], int]:
    with open("/proc/self/mountinfo") as f:
        return socket.gethostname(), ipc.keys("msg"), len(f.readlines())


@pytest.fixture(autouse=True)
def _host_untouched(root: None) -> None:
    """The machine's hostname, its message queues and its mount table are as they were."""
    before = _host()
    yield
    assert _host() == before


@pytest.mark.parametrize("lab", ["02", "04"])
def test_reference_passes_three_times(tmp_path: Path, lab: str) -> None:
    path = runtime_file(tmp_path)
    for _ in range(3):
        verdict = judge(path, lab, "own")
        assert statuses(verdict) == ["pass"] * len(verdict["cases"]), verdict
        assert verdict["notes"] == []


@pytest.mark.parametrize("lab,slot,case,name,code", WRONG, ids=[w[3] for w in WRONG])
def test_wrong_variant_fails_its_case(tmp_path: Path, lab: str, slot: str, case: str, name: str,
                                      code: str | dict[str, str]) -> None:
    path = runtime_file(tmp_path, **(code if isinstance(code, dict) else {slot: code}))
    first = failed_case(path, lab, case, name)
    if name in EXPECTED_WORDS:
        assert EXPECTED_WORDS[name] in first["message"], (name, first["message"])


RIGHT = [("02", name, code if isinstance(code, dict) else {"enter_uts_ipc": code})
         for name, code in RIGHT_02.items()] + \
        [("04", name, {slot: code}) for slot, table in RIGHT_04.items()
         for name, code in table.items()]


@pytest.mark.parametrize("lab,name,slots", RIGHT, ids=[r[1] for r in RIGHT])
def test_correct_alternates_pass(tmp_path: Path, lab: str, name: str,
                                 slots: dict[str, str]) -> None:
    verdict = judge(runtime_file(tmp_path, **slots), lab, "own")
    assert statuses(verdict) == ["pass"] * len(verdict["cases"]), (name, verdict)


def test_lab04_piece_passes_through_named_stand_ins(tmp_path: Path) -> None:
    """Labs 01 to 03 unsolved: lab 04's own slots still pass, and the notes say which stood in."""
    path = runtime_file(tmp_path, base="template", enter_userns=reference_slot("enter_userns"),
                        write_id_maps=reference_slot("write_id_maps"))
    piece = judge(path, "04", "piece")
    assert statuses(piece) == ["pass"] * len(piece["cases"]), piece
    assert piece["notes"] == [f"stand-in used for {name} (lab {lab}): yours is still the stub"
                              for name, lab in (("run", "01"), ("enter_uts_ipc", "02"),
                                                ("enter_rootfs", "03"),
                                                ("mount_pseudo_fs", "03"))]
    assert "fail" in statuses(judge(path, "04", "own", "root-inside"))


@pytest.mark.parametrize("lab,as_of", [("02", 1), ("04", 3)])
def test_a_run_without_the_new_calls_gets_a_stand_in(tmp_path: Path, lab: str, as_of: int) -> None:
    """A run as of the previous lab never calls this lab's slots: the reference run stands in."""
    path = runtime_file(tmp_path, run=reference_slot("run", as_of_lab=as_of))
    piece = judge(path, lab, "piece")
    assert statuses(piece) == ["pass"] * len(piece["cases"]), piece
    assert "stand-in used for run (lab 01): yours does not call" in piece["notes"][0]
    assert "fail" in statuses(judge(path, lab, "own"))


def test_cli_options_reach_the_spec(tmp_path: Path) -> None:
    """`python myruntime.py run --hostname --uid-map` as a learner types it, on busybox."""
    import subprocess
    import sys
    from kernel_helpers.course.runtime_check import KIT_ROOT
    path = runtime_file(tmp_path)
    done = subprocess.run([sys.executable, str(path), "run", "--rootfs", "busybox", "--hostname",
                           "lk-cli", "--uid-map", "0:200000:1000", "--", "/bin/sh", "-c",
                           "hostname; id -u; cat /proc/self/uid_map /proc/self/gid_map"],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=KIT_ROOT))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["lk-cli", "0", "0", "200000", "1000", "0", "200000", "1000"]


def test_a_slot_run_never_calls_is_not_blamed(tmp_path: Path) -> None:
    """Lab 02's slot is right but lab 01's run never calls it: run stands in, not the slot."""
    path = runtime_file(tmp_path, run=reference_slot("run", as_of_lab=1))
    piece = judge(path, "03", "piece", "pivot")
    assert statuses(piece) == ["pass"]
    assert piece["notes"] == ["stand-in used for run (lab 01): yours does not call enter_uts_ipc "
                              "(lab 02) yet"]
