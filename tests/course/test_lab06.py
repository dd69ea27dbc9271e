"""Lab 06 judged from the host: the container's root is an overlay of the image's layers, in its
own mount namespace, the top layer winning, writes copied up, and its folder gone afterwards.

Wrong runtimes fail the case they are meant to fail with a sentence naming the mistake; correct
runtimes written differently pass; the reference passes three times in a row (a new image of 3
to 5 randomly named layers each run). Nothing is left on the machine: no mount, no scratch or
container folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_helpers.course.runtime_check import KIT_ROOT, judge
from kernel_helpers.course.standins import reference_slot
from runtime_variants import failed_case, statuses, runtime_file
from variants_lab06 import BY_STEP, RIGHT

WRONG = [(slot, case, name, code) for slot, cases in BY_STEP.values()
         for case, variants in cases.items() for name, code in variants.items()]

EXPECTED_WORDS = {
    "mounts the overlay in the host's mount namespace": "the overlay shows in the host's mount "
                                                        "table",
    "unshares but forgets MS_PRIVATE": "the overlay shows in the host's mount table",
    "copies the layers instead of mounting an overlay": "not an overlay of the image's layers",
    "only the top and bottom layers": "the overlay's lower dirs leave out layer 2 of",
    "layers in the wrong order (bottom first)": "the topmost layer holding a file must win",
    "lowerdir written for two layers": "the topmost layer holding a file must win",
    "the top layer placed last": "the topmost layer holding a file must win",
    "the top layer as the upper dir": "the container's upper dir is layer",
    "upper dir inside the top layer": "the container's upper dir is a folder inside layer",
    "a read-only overlay (no upper dir)": "has no upper dir",
    "never removes it": "spec.container_dir is still there after your runtime exited",
    "removes upper and work only": "spec.container_dir is still there after your runtime exited",
    "os.rmdir on a folder that is not empty": "spec.container_dir is still there",
    "copies the layers with cp -a (whiteouts copied as devices)": "shows in the container as a "
                                                                  "character device 0/0",
    "copies the layers, skipping the whiteout devices": "the layers were copied into one folder, "
                                                        "which drops the deletion",
    "lowerdir bottom first (whiteouts under what they delete)": "so the whiteout lies under what "
                                                                "it should hide",
    "lowerdir of the top and bottom layers only (the whiteout's layer left out)":
        "which holds the whiteout, is not one of the overlay's lower dirs",
    "copies the layers with cp -a (opaque dirs merged)": "merges the directory with the one below",
    "lowerdir bottom first (opaque dir under what it hides)": "so the opaque dir lies under what "
                                                              "it should hide",
    "lowerdir of the top and bottom layers only (the opaque dir's layer left out)":
        "which holds the opaque dir, is not one of the overlay's lower dirs",
    "mounted with userxattr (trusted.overlay.opaque ignored)": "mounted with userxattr",
}
CASES = ["overlay-root", "layer-order", "copy-up", "whiteout", "opaque", "cleanup"]


def _mounts() -> int:
    with open("/proc/self/mountinfo") as f:
        return len(f.readlines())


@pytest.fixture(autouse=True)
def _leaves_nothing(root: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No mount is left on the machine, and no grading scratch or container folder in this
    test's own TMPDIR (its own: other graders running at the same time use /tmp)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))  # the judge and the CLI make their folders here
    before = _mounts()
    yield
    assert (_mounts(), sorted(os.listdir(tmp))) == (before, [])


def _all_pass(verdict: dict) -> bool:
    return [c["case"] for c in verdict["cases"]] == CASES and statuses(verdict) == ["pass"] * 6


def test_reference_passes_three_times(tmp_path: Path) -> None:
    path = runtime_file(tmp_path)
    for _ in range(3):
        verdict = judge(path, "06", "own")
        assert _all_pass(verdict), verdict
        assert verdict["notes"] == []


@pytest.mark.parametrize("slot,case,name,code", WRONG, ids=[w[2] for w in WRONG])
def test_wrong_variant_fails_its_case(tmp_path: Path, slot: str, case: str, name: str,
                                      code: str | dict[str, str]) -> None:
    path = runtime_file(tmp_path, **(code if isinstance(code, dict) else {slot: code}))
    first = failed_case(path, "06", case, name)
    assert "/tmp/" not in first["message"] and "labkit-grade" not in first["message"]
    if name in EXPECTED_WORDS:
        assert EXPECTED_WORDS[name] in first["message"], (name, first["message"])


RIGHT_CASES = [(name, {slot: code}) for slot, table in RIGHT.items() for name, code in table.items()]


@pytest.mark.parametrize("name,slots", RIGHT_CASES, ids=[r[0] for r in RIGHT_CASES])
def test_correct_alternates_pass(tmp_path: Path, name: str, slots: dict[str, str]) -> None:
    verdict = judge(runtime_file(tmp_path, **slots), "06", "own")
    assert _all_pass(verdict), (name, verdict)


def test_image_deletes_the_way_unpacked_oci_layers_do(tmp_path: Path) -> None:
    """The whiteout case's image: a bottom file deleted by a 0/0 device in a middle layer (its
    neighbour kept), a middle layer's folder deleted by one in the top layer; the opaque case's:
    a middle layer's folder with trusted.overlay.opaque=y over the bottom's, the top adding a
    file. New names each build. (What overlayfs makes of them: the reference's runs.)"""
    from kernel_helpers.course.harness.cases import lab06
    seen = []
    for n, kind in enumerate(("whiteouts", "opaque", "whiteouts")):
        layers = list(lab06.make_image(tmp_path / f"image{n}", **{kind: True}))
        union = {rel: lab06._union(layers, rel) for rel in lab06._lk_files(layers)}
        gone = sorted((hider, how, rel.split("/")[0]) for rel, (want, hider, how) in union.items()
                      if want is None)
        middle = [hider for hider, _, _ in gone if 0 < hider < len(layers) - 1]
        if kind == "whiteouts":
            assert gone == [(middle[0], "whiteout", "srv"), (len(layers) - 1, "whiteout", "var")]
            kept = [rel for rel, (want, _, _) in union.items() if want == 0]
            assert len(kept) == 1 and kept[0].startswith("srv/")  # beside the deleted one
        else:
            assert gone == [(middle[0], "opaque", "home")]
            shown = sorted(want for rel, (want, _, _) in union.items()
                           if rel.startswith("home/") and want is not None)
            assert shown == [middle[0], len(layers) - 1]
        seen.append(set(union))
    assert not seen[0] & seen[2]  # random names: nothing tuned to one build passes the next


def test_piece_passes_through_named_stand_ins(tmp_path: Path) -> None:
    """Earlier labs unsolved: lab 06's own slots still pass, and the notes say which stood in."""
    path = runtime_file(tmp_path, base="template", mount_overlay=reference_slot("mount_overlay"),
                        remove_container_dir=reference_slot("remove_container_dir"))
    piece = judge(path, "06", "piece")
    assert _all_pass(piece), piece
    stood_in = [note.split()[3] for note in piece["notes"]]
    assert {"run", "enter_uts_ipc", "enter_rootfs", "mount_pseudo_fs"} <= set(stood_in)
    assert not {"mount_overlay", "remove_container_dir"} & set(stood_in)
    assert all(note.endswith("yours is still the stub") for note in piece["notes"])
    assert "fail" in statuses(judge(path, "06", "own", "overlay-root"))


def test_a_run_without_the_new_calls_gets_a_stand_in(tmp_path: Path) -> None:
    """A run as of lab 05 never calls mount_overlay: the reference run stands in."""
    path = runtime_file(tmp_path, run=reference_slot("run", as_of_lab=5))
    piece = judge(path, "06", "piece")
    assert _all_pass(piece), piece
    assert "stand-in used for run (lab 01): yours does not call" in piece["notes"][0]
    assert "fail" in statuses(judge(path, "06", "own"))


def _cli(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(path), "run", *args], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, PYTHONPATH=KIT_ROOT))


def test_cli_image_busybox(tmp_path: Path) -> None:
    """`--image busybox` as a learner types it: / is an overlay, a write never reaches the image."""
    path = runtime_file(tmp_path)
    for _ in range(2):
        done = _cli(path, "--image", "busybox", "--", "/bin/sh", "-c",
                    "cat /lk-cli.txt 2>/dev/null; echo mine > /lk-cli.txt; "
                    "awk '$5 == \"/\" {print $9}' /proc/self/mountinfo")
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["overlay"]  # the first run's file is not in the second


def test_cli_image_folders_top_wins(tmp_path: Path) -> None:
    """`--image DIR:DIR:DIR`, bottom first: the top folder's file wins."""
    from kernel_helpers.rootfs.busybox import busybox_rootfs
    layers = [str(busybox_rootfs())]
    for name in ("middle", "top"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "which.txt").write_text(name + "\n")
        layers.append(str(tmp_path / name))
    done = _cli(runtime_file(tmp_path), "--image", ":".join(layers), "--", "/bin/cat",
                "/which.txt")
    assert (done.returncode, done.stdout) == (0, "top\n"), done.stderr
    assert not os.path.exists(tmp_path / "top" / "lk-cli.txt")


def test_cli_image_unknown_is_one_sentence(tmp_path: Path) -> None:
    done = _cli(runtime_file(tmp_path), "--image", "lk-no-such-image", "--", "true")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "image 'lk-no-such-image'" in done.stderr
    done = _cli(runtime_file(tmp_path), "--image", "/nonexistent/a:/nonexistent/b", "--", "true")
    assert done.returncode == 2 and "is not a folder" in done.stderr
