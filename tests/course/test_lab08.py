"""Lab 08 judged from the host: masked and read-only paths, capabilities, no_new_privs, seccomp,
and a /proc/meminfo that tells the container's memory limit.

Wrong runtimes fail the case they are meant to fail with a sentence naming the mistake;
correct runtimes written differently pass; the reference passes three times in a row; the
reference `run`, which calls lab 08's slots unconditionally, still grades an earlier lab's
work on a file whose lab 08 slots are the template's stubs; nothing is left on the machine.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_helpers.course.runtime_check import KIT_ROOT, judge
from kernel_helpers.course.standins import reference_slot
from kernel_helpers.security.capabilities import DOCKER_DEFAULT, to_mask
from runtime_variants import failed_case, statuses, runtime_file
from variants_lab08 import BY_STEP, RIGHT

WRONG = [(slot, case, name, code) for slot, cases in BY_STEP.values()
         for case, variants in cases.items() for name, code in variants.items()]

EXPECTED_WORDS = {
    "masks only files, not folders": "is not masked: the container sees the host's files",
    "folders under a writable tmpfs": "is writable: root inside can put files",
    "masks only /proc/kcore and /proc/keys": "/proc/timer_list is not masked",
    "masks, nothing read-only": "/proc/sys is writable in the container",
    "binds with MS_RDONLY in one call": "/proc/sys is writable in the container",
    "only /proc/sys read-only": "is writable in the container: root inside can write to it",
    "makes the masked paths read-only instead": "/proc/keys is not masked",
    "drops effective but not bounding": "bounding set holds SYS_ADMIN",
    "keeps SYS_ADMIN": "bounding set holds SYS_ADMIN",
    "ignores cap_add": "lacks the capabilities spec.cap_add asked for",
    "drops only the first 32 capabilities": "bounding set holds SYSLOG",
    "drops SETPCAP too": "lacks SETPCAP, one of Docker's defaults",
    "hardens before entering the user namespace": "unshare",
    "seccomp first, no_new_privs never": "NoNewPrivs is 0",
    "gives up on seccomp quietly, no no_new_privs": "NoNewPrivs is 0",
    "PR_SET_KEEPCAPS for no_new_privs": "seccomp_load",
    "never loads a filter": "no seccomp filter",
    "the profile for every capability": "unshare(CLONE_NEWUSER) worked inside",
    "loads before no_new_privs, errors ignored": "no seccomp filter",
    "seccomp after dropping SYS_ADMIN, before no_new_privs": "set no_new_privs",
    "MemTotal hard-coded to the demo's 64 MiB": "MemTotal in the container's /proc/meminfo is "
                                                "not its memory limit",
    "the limit in bytes, not kB": "is the limit in bytes",
    "replaces only MemTotal": "MemFree in the container's /proc/meminfo is larger than its "
                              "MemTotal",
    "caps MemFree, not MemAvailable": "MemAvailable in the container's /proc/meminfo is larger",
    "source and target swapped": "the container's /proc/meminfo is the host's",
    "writes the fake into the rootfs": "on a filesystem the host keeps",
    "fakes a demo limit when none is asked": "does not show the machine's memory",
    "binds an unchanged copy when no limit is asked": "something is mounted over /proc/meminfo",
    "a pids limit is enough to fake it": "something is mounted over /proc/meminfo",
}


def _host_state(scratch: Path) -> tuple[int, list[str]]:
    with open("/proc/self/mountinfo") as f:
        mounts = len(f.readlines())
    return mounts, sorted(p.name for p in scratch.iterdir())


@pytest.fixture(autouse=True)
def _leaves_nothing(root: None, tmp_path_factory: pytest.TempPathFactory,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    """No mount and no scratch folder is left on the machine by any case (masks included).

    The judges' scratch folders go to a folder of this test's own (TMPDIR), so another
    helper's judge running at the same time is not counted.
    """
    scratch = tmp_path_factory.mktemp("scratch")
    monkeypatch.setenv("TMPDIR", str(scratch))
    before = _host_state(scratch)
    yield
    assert _host_state(scratch) == before


def test_reference_passes_three_times(tmp_path: Path) -> None:
    path = runtime_file(tmp_path)
    for _ in range(3):
        verdict = judge(path, "08", "own")
        assert statuses(verdict) == ["pass"] * 8, verdict
        assert verdict["notes"] == []


@pytest.mark.parametrize("slot,case,name,code", WRONG, ids=[w[2] for w in WRONG])
def test_wrong_variant_fails_its_case(tmp_path: Path, slot: str, case: str, name: str,
                                      code: str | dict[str, str]) -> None:
    path = runtime_file(tmp_path, **(code if isinstance(code, dict) else {slot: code}))
    first = failed_case(path, "08", case, name)
    assert EXPECTED_WORDS[name] in first["message"], (name, first["message"])


RIGHT_ALL = [(name, {slot: code}) for slot, table in RIGHT.items() for name, code in table.items()]


@pytest.mark.parametrize("name,slots", RIGHT_ALL, ids=[r[0] for r in RIGHT_ALL])
def test_correct_alternates_pass(tmp_path: Path, name: str, slots: dict[str, str]) -> None:
    verdict = judge(runtime_file(tmp_path, **slots), "08", "own")
    assert statuses(verdict) == ["pass"] * 8, (name, verdict)


@pytest.mark.parametrize("lab,solved", [
    ("02", ("enter_uts_ipc",)),
    ("03", ("enter_rootfs", "mount_pseudo_fs")),
    ("04", ("enter_userns", "write_id_maps")),
])
def test_earlier_lab_with_stub_harden_passes(tmp_path: Path, lab: str,
                                             solved: tuple[str, ...]) -> None:
    """The template's mask_paths and harden are stubs: the reference run that stands in
    for the stub run calls them, and the reference's own stand in for them, unannounced."""
    path = runtime_file(tmp_path, base="template", **{s: reference_slot(s) for s in solved})
    piece = judge(path, lab, "piece")
    assert statuses(piece) == ["pass"] * len(piece["cases"]), piece
    assert not any("mask_paths" in note or "harden" in note for note in piece["notes"])


def test_a_run_without_the_new_calls_gets_a_stand_in(tmp_path: Path) -> None:
    """A run as of lab 04 never calls mask_paths or harden: the reference run stands in."""
    path = runtime_file(tmp_path, run=reference_slot("run", as_of_lab=4))
    piece = judge(path, "08", "piece")
    assert statuses(piece) == ["pass"] * 8, piece
    assert "stand-in used for run (lab 01): yours does not call" in piece["notes"][0]
    assert "fail" in statuses(judge(path, "08", "own"))


def test_stub_harden_fails_with_the_stub_message(tmp_path: Path) -> None:
    path = runtime_file(tmp_path, harden=reference_slot("harden").replace(
        "    keep =", "    raise NotImplementedError('lab 08, step security.capabilities: harden "
        "is not written yet')\n    keep =", 1))
    first = judge(path, "08", "own", "caps")["cases"][0]
    assert first["status"] == "fail" and "harden (lab 08) is still the stub" in first["message"]


def test_cli_cap_add_reaches_the_spec(tmp_path: Path) -> None:
    """`python myruntime.py run --cap-add` as a learner types it, on busybox."""
    path = runtime_file(tmp_path)
    done = subprocess.run([sys.executable, str(path), "run", "--rootfs", "busybox", "--cap-add",
                           "net_admin", "--cap-add", "CAP_SYS_NICE", "--", "/bin/sh", "-c",
                           "grep -E '^(CapBnd|CapEff|NoNewPrivs|Seccomp):' /proc/self/status; "
                           "cat /proc/keys | wc -c"],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=KIT_ROOT))
    assert done.returncode == 0, done.stderr
    mask = f"{to_mask(DOCKER_DEFAULT | {'NET_ADMIN', 'SYS_NICE'}):016x}"
    assert done.stdout.split() == ["CapEff:", mask, "CapBnd:", mask, "NoNewPrivs:", "1",
                                   "Seccomp:", "2", "0"]
    bad = subprocess.run([sys.executable, str(path), "run", "--cap-add", "NET_ADMINN", "--",
                          "true"], capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=KIT_ROOT))
    assert bad.returncode == 2 and "is not a Linux capability" in bad.stderr


def test_cli_memory_fakes_meminfo(tmp_path: Path) -> None:
    """`python myruntime.py run --memory 48m`: /proc/meminfo inside says 48 MiB; without
    --memory it is the host's, and nothing is mounted over it."""
    path = runtime_file(tmp_path)
    show = "grep -E '^Mem(Total|Free|Available):' /proc/meminfo; grep -c ' /proc/meminfo ' " \
           "/proc/self/mountinfo || true"
    outputs = []
    for memory in (("--memory", "48m"), ()):
        done = subprocess.run([sys.executable, str(path), "run", "--rootfs", "busybox", *memory,
                               "--", "/bin/sh", "-c", show], capture_output=True, text=True,
                              timeout=60, env=dict(os.environ, PYTHONPATH=KIT_ROOT))
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.split())
    limited, free = outputs
    assert limited[:3] == ["MemTotal:", "49152", "kB"] and limited[-1] == "1", limited
    assert int(limited[4]) <= 49152 and int(limited[7]) <= 49152, limited
    with open("/proc/meminfo") as f:
        assert free[:2] == f.readline().split()[:2] and free[-1] == "0", free
