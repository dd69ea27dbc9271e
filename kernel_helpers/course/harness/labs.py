"""Grade one lab of a learner's runtime: its cases in order, stand-ins for earlier slots, two scores.

- *piece* (the default): this lab's slots are always the learner's. A slot of an
  earlier lab that is still a stub, or fails that lab's own cases, is replaced by the
  reference (a stand-in), and the report says so. If the learner's own `run` never
  calls this lab's slots, the case is run again with the reference `run` as a stand-in.
- *own*: no stand-ins at all: the learner's runtime as it is.

A case that times out, and every later case of the lab, is "not run": never passed.

Taught in: lab 01.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kernel_helpers.course.catalog import Course, Lab
from kernel_helpers.course.harness import sandbox
from kernel_helpers.course.harness.cases import CASES, judge
from kernel_helpers.course.harness.judge import CASE_TIMEOUT, run_case
from kernel_helpers.course.standins import is_borrowed, reaches_reference
from kernel_helpers.course.workfile import is_stub, parse, read_text

ORCHESTRATION = "run"
"""The slot that calls all the others (lab 01's)."""


@dataclass
class CaseVerdict:
    case: str
    step: str
    status: str
    """pass, fail, timeout or not-run."""
    message: str = ""
    hint: str = ""
    stand_ins: list[str] = field(default_factory=list)


@dataclass
class LabVerdict:
    lab: str
    mode: str
    cases: list[CaseVerdict]
    notes: list[str]
    """One sentence per stand-in used, e.g. "stand-in used for run (lab 01): ..."."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _cases(lab: Lab, only: str | None) -> list[tuple[str, str]]:
    found = [(case, step.id) for step in lab.steps if step.slot for case in step.cases]
    return [item for item in found if only in (None, item[0])]


class Grader:
    """One judge process grading one file; it remembers the earlier labs it already judged."""

    def __init__(self, path: Path, course: Course, scratch: Path,
                 timeout: float = CASE_TIMEOUT) -> None:
        self.path = path
        self.course = course
        self.scratch = scratch
        self.timeout = timeout
        text = read_text(path)
        self.slots = parse(text).slots
        self.reaches = reaches_reference(text)
        self._own: dict[int, LabVerdict] = {}
        self._count = 0

    def _run(self, lab: Lab, case_id: str, step_id: str, stand_ins: list[str]) -> CaseVerdict:
        case = CASES[case_id]
        self._count += 1
        trace = [s.name for s in lab.slots]
        run = run_case(self.path, self.scratch, f"c{self._count}-{case_id}", case.release,
                       case.rootfs, stand_ins + self._later(lab, stand_ins), trace, self.timeout,
                       case.extra() if case.extra else None, case.look, case.before,
                       case.after, case.netns, case.image)
        if run.timed_out:
            return CaseVerdict(case_id, step_id, "timeout",
                               f"the case did not finish within {self.timeout:g} seconds: the "
                               "kit stopped your runtime and everything it started",
                               "look for a loop that never ends or a wait for a process that "
                               "never exits", stand_ins)
        failure = judge(case, run)
        verdict = CaseVerdict(case_id, step_id, "pass" if failure is None else "fail",
                              "" if failure is None else failure.message,
                              "" if failure is None else failure.hint, stand_ins)
        verdict.called = [s for s in trace if run.called(s)]  # type: ignore[attr-defined]
        return verdict

    def _later(self, lab: Lab, stand_ins: list[str]) -> list[str]:
        """With the reference `run` standing in, the slots of later labs are the reference's too.

        The reference `run` calls every lab's slots (harden, mount_overlay...); a learner at
        this lab has not written those yet, and this lab's verdict must not depend on them.
        Not a note: the learner's later slots are graded by their own labs.
        """
        if ORCHESTRATION not in stand_ins:
            return []
        return [s.name for later in self.course.labs if later.number > lab.number
                for s in later.slots if s.name not in stand_ins]

    def own(self, lab: Lab) -> LabVerdict:
        if lab.number not in self._own:
            self._own[lab.number] = self.grade(lab, "own")
        return self._own[lab.number]

    def _stand_ins(self, lab: Lab) -> tuple[list[str], list[str]]:
        names: list[str] = []
        notes: list[str] = []
        for earlier in self.course.labs:
            if earlier.number >= lab.number or not earlier.slots:
                continue
            stubs = [s.name for s in earlier.slots if is_stub(self.slots.get(s.name, ""), s.name)]
            for name in stubs:
                names.append(name)
                notes.append(f"stand-in used for {name} (lab {earlier.number:02d}): yours is "
                             "still the stub")
            for name in self._borrowed(earlier):
                names.append(name)
                notes.append(f"stand-in used for {name} (lab {earlier.number:02d}): yours is "
                             "borrowed from the course (labkit checkpoint wrote it)")
            stubs += self._borrowed(earlier)
            if len(stubs) == len(earlier.slots):
                continue
            verdict = self.own(earlier)
            for case in verdict.cases:
                slot = self.course.step(case.step).slot
                if (case.status != "pass" and slot and slot != ORCHESTRATION
                        and slot not in getattr(case, "called", [slot])):
                    if ORCHESTRATION not in names:  # the slot may be right: run never calls it
                        names.append(ORCHESTRATION)
                        notes.append(f"stand-in used for {ORCHESTRATION} (lab 01): yours does "
                                     f"not call {slot} (lab {earlier.number:02d}) yet")
                    continue
                if case.status != "pass" and slot and slot not in names:
                    names.append(slot)
                    notes.append(f"stand-in used for {slot} (lab {earlier.number:02d}): yours "
                                 f"fails {earlier.number:02d}.{case.case} ({case.message})")
        return names, notes

    def _borrowed(self, lab: Lab) -> list[str]:
        return [s.name for s in lab.slots if is_borrowed(self.slots.get(s.name, ""))]

    def _not_yours(self, lab: Lab) -> tuple[str, str] | None:
        """(message, hint) when this lab's verdict could not be the learner's own work."""
        if self.reaches:
            return (f"myruntime.py uses {self.reaches}, the course's own runtime, so no verdict "
                    "on it would be yours", "remove that import and write the slots yourself")
        mine = self._borrowed(lab)
        if mine:
            return (f"{mine[0]} is borrowed from the course (labkit checkpoint wrote it), but it "
                    f"is a slot of this lab", f"write your own {mine[0]} in myruntime.py")
        return None

    def grade(self, lab: Lab, mode: str = "piece", only: str | None = None) -> LabVerdict:
        refused = self._not_yours(lab)
        if refused:
            return LabVerdict(f"{lab.number:02d}", mode, [
                CaseVerdict(case, step, "fail", *refused) for case, step in _cases(lab, only)], [])
        if mode == "own":
            borrowed = [name for earlier in self.course.labs if earlier.number <= lab.number
                        for name in self._borrowed(earlier)]
            if borrowed:  # the own-runtime score counts only the learner's code
                return LabVerdict(f"{lab.number:02d}", mode, [
                    CaseVerdict(case, step, "fail", f"{borrowed[0]} is borrowed from the course "
                                "(labkit checkpoint wrote it), so this is not yet your own runtime",
                                f"write your own {borrowed[0]} in myruntime.py")
                    for case, step in _cases(lab, only)], [])
        stand_ins, notes = self._stand_ins(lab) if mode == "piece" else ([], [])
        verdicts: list[CaseVerdict] = []
        stopped = False
        for case_id, step_id in _cases(lab, only):
            if stopped:
                verdicts.append(CaseVerdict(case_id, step_id, "not-run",
                                            "not run: an earlier case of this lab timed out",
                                            "fix the case that timed out first"))
                continue
            verdict = self._run(lab, case_id, step_id, stand_ins)
            own_slots = {s.name for s in lab.slots}
            if (mode == "piece" and verdict.status == "fail"
                    and ORCHESTRATION not in stand_ins and ORCHESTRATION not in own_slots
                    and not getattr(verdict, "called", [None])):
                first = sorted(own_slots)[0]
                stand_ins = [*stand_ins, ORCHESTRATION]
                notes.append(f"stand-in used for {ORCHESTRATION} (lab 01): yours does not call "
                             f"{first} yet; add the calls in run's child, before exec (lab "
                             f"{lab.number:02d})")
                verdict = self._run(lab, case_id, step_id, stand_ins)
            verdicts.append(verdict)
            stopped = verdict.status == "timeout"
        return LabVerdict(f"{lab.number:02d}", mode, verdicts, notes)


def grade_file(path: Path, course: Course, lab_key: str, mode: str = "piece",
               only: str | None = None, timeout: float = CASE_TIMEOUT) -> LabVerdict:
    """Grade one lab of `path` in this (judge) process: own mount namespace, scratch tmpfs."""
    sandbox.enter_judge_namespace()
    with sandbox.scratch() as scratch:
        return Grader(path, course, scratch, timeout).grade(course.lab(lab_key), mode, only)
