"""Check a learner's runtime file through the harness, always in a separate process.

The notebook's check cells, `labkit check` and the TUI call `check_lab` or
`check_step`: each starts ``python -m kernel_helpers.course.harness`` (which takes
its own mount namespace and runs the learner's runtime under it), reads its JSON,
and turns it into the familiar PASS/FAIL lines. Nothing of the learner's runs in
the caller's process, so the caller's threads (ipykernel, Textual) never matter.

Taught in: lab 01.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel_helpers.course.catalog import Course, Step, load_course
from kernel_helpers.course.workfile import default_path
from kernel_helpers._sys import LINUX
from kernel_helpers.errors import KernelError, LabkitError, NotFound
from kernel_helpers.namespaces import Namespace

KIT_ROOT = str(Path(__file__).resolve().parents[2])
OVERALL_TIMEOUT = 300.0


@dataclass(frozen=True)
class StepVerdict:
    """One step of a runtime lab: passed when all its cases passed."""

    step: Step
    passed: bool
    message: str
    hint: str

    def line(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        text = f"{mark} {self.step.id}: {self.message}"
        return text if self.passed or not self.hint else f"{text}\nhint: {self.hint}"


def judge(path: Path, lab: str, mode: str = "piece", case: str | None = None,
          timeout: float | None = None) -> dict[str, Any]:
    """Run the harness on `path` for `lab`; its JSON verdict (raises LabkitError on no verdict)."""
    if not path.exists():
        raise NotFound(str(path), "does not exist yet", "run `labkit init` to make your runtime file")
    argv = [sys.executable, "-m", "kernel_helpers.course.harness", str(path), "--lab", lab,
            "--mode", mode, *(["--case", case] if case else []),
            *(["--timeout", str(timeout)] if timeout else [])]
    env = dict(os.environ, PYTHONPATH=KIT_ROOT)
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd="/",
                          timeout=OVERALL_TIMEOUT, stdin=subprocess.DEVNULL)
    lines = done.stdout.strip().splitlines()
    try:
        data: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        data = {}
    if "error" in data:
        raise LabkitError(*data["error"])
    if "cases" not in data:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise KernelError("the check harness", f"stopped without a verdict ({last})",
                          "run `labkit doctor` to see what this machine lacks")
    return data


def steps_of(verdict: dict[str, Any], course: Course | None = None) -> list[StepVerdict]:
    """Fold a lab verdict's cases into one verdict per step (the first failing case speaks)."""
    course = course or load_course()
    result = []
    for step_id in dict.fromkeys(c["step"] for c in verdict["cases"]):
        cases = [c for c in verdict["cases"] if c["step"] == step_id]
        bad = next((c for c in cases if c["status"] != "pass"), None)
        step = course.step(step_id)
        if bad is None:
            result.append(StepVerdict(step, True, f"{step.title}: every case passed "
                                      f"({', '.join(c['case'] for c in cases)})", ""))
        else:
            result.append(StepVerdict(step, False, f"case {verdict['lab']}.{bad['case']}: "
                                      f"{bad['message']}", bad["hint"] or step.hints[0]))
    return result


def check_lab(lab: str, path: Path | None = None, mode: str = "piece") -> tuple[list[StepVerdict], list[str]]:
    """Every runtime step of `lab` and the stand-in notes."""
    verdict = judge(path or default_path(), lab, mode)
    return steps_of(verdict), list(verdict.get("notes", []))


def check_step(step: Step, path: Path | None = None, mode: str = "piece") -> tuple[StepVerdict, list[str]]:
    course = load_course()
    lab = course.lab(step.lab_id)
    verdicts, notes = check_lab(f"{lab.number:02d}", path, mode)
    mine = next(v for v in verdicts if v.step.id == step.id)
    return mine, notes


def report(lab: str, path: Path | None = None) -> tuple[bool, str]:
    """The text a check cell or `labkit check NN` prints: notes, one line per step, both scores."""
    try:
        piece, notes = check_lab(lab, path, "piece")
    except LabkitError as err:
        return False, f"FAIL lab {lab}: {err}"
    lines = [f"note: {note}" for note in notes] + [v.line() for v in piece]
    done = sum(v.step.points for v in piece if v.passed)
    total = sum(v.step.points for v in piece)
    lines.append(f"lab {lab} piece score: {done}/{total}")
    if notes:
        own, _ = check_lab(lab, path, "own")
        own_done = sum(v.step.points for v in own if v.passed)
        lines.append(f"lab {lab} own-runtime score (no stand-ins): {own_done}/{total}")
    else:
        lines.append(f"lab {lab} own-runtime score (no stand-ins): {done}/{total}")
    return all(v.passed for v in piece), "\n".join(lines)


STOP_GRACE = 3.0
"""Seconds a timed-out runtime gets between SIGTERM and SIGKILL to undo what it made."""


def _throwaway_uts_ipc() -> None:
    LINUX.unshare(Namespace.UTS.flag | Namespace.IPC.flag)


def _throwaway_uts_ipc_net() -> None:
    LINUX.unshare(Namespace.UTS.flag | Namespace.IPC.flag | Namespace.NET.flag)


def try_runtime(argv: list[str], rootfs: str | None = None, path: Path | None = None,
                timeout: float = 30.0, options: tuple[str, ...] = ()) -> tuple[int, str]:
    """Run ``python myruntime.py run [--rootfs ROOTFS] [OPTIONS] -- ARGV`` as a learner would in
    a terminal, e.g. ``options=("--hostname", "web1")``.

    For notebook demos: returns (exit status, output) and never raises for the learner's
    bugs; a runtime that hangs is killed (its whole process group) after `timeout`. The
    runtime starts in throwaway uts and ipc namespaces: one that sets the hostname before
    unsharing (lab 02's classic mistake) renames only those, never the learner's machine.
    With ``--ip`` (lab 07) it starts in a throwaway network namespace too: the runtime's end of
    the veth lives there, never among the machine's own interfaces.
    """
    import signal
    path = path or default_path()
    argv_full = [sys.executable, str(path), "run", *(["--rootfs", rootfs] if rootfs else []),
                 *options, "--", *argv]
    env = dict(os.environ, PYTHONPATH=KIT_ROOT)
    proc = subprocess.Popen(argv_full, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, text=True, env=env, cwd="/",
                            start_new_session=True,
                            preexec_fn=_throwaway_uts_ipc_net if "--ip" in options
                            else _throwaway_uts_ipc)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # the CLI unwinds on it: its busybox copy goes
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_GRACE)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # the container, or a runtime that ignored TERM
        out, _ = proc.communicate()
        out += f"\n(stopped after {timeout:g} s)"
    return proc.returncode, out
