"""Grade every runtime lab of one learner's file in one judge process, both scores, streamed.

    python -m kernel_helpers.course.harness.batch FILE --labs 01 03 [--timeout S]

`labkit course grade` runs `grade_labs` in the learner's sandbox's PID 1 (`course.judge`),
which the learner's runtime cannot signal (the kernel drops a SIGKILL sent to a pid
namespace's init from inside it). One process for all labs, so everything the judge
runs is imported before the learner's runtime first runs, and the earlier labs'
own-runtime verdicts (which decide the stand-ins) are judged once. As a command, after
each lab it prints one JSON line:
``{"event": "lab", "lab": "03", "piece": LabVerdict, "own": LabVerdict}``.

What the learner's runtime could do to the judge, and why it changes no verdict:
- ptrace it, read its memory, open its stdout: the runtime has no CAP_SYS_PTRACE and the
  judge is not dumpable (`judge.RUNTIME_DENIED`, `sandbox.enter_judge_namespace`);
- patch the kit's files on disk (root can remount a read-only bind), or the probe's shell
  (the host's /bin/sh, the busybox image): their digest is taken before any learner code
  runs and again after every case, before the judge uses a module it has not imported
  yet; a change ends grading with a "tampered" event;
- mount a fake /proc/PID, cgroup folder or module folder over the real one: the judge's
  mount namespace receives nothing from the runtime's but the scratch folder
  (`sandbox.enter_judge_namespace`);
- leave a process that moved itself out of the case's cgroup (it can see the sandbox's
  whole cgroup tree) to meddle with later cases: with `sweep_after` (only in a grading
  sandbox) every process but the judge and its ancestors dies after each case;
- kill the judge: it is the sandbox's PID 1, so a signal from inside does nothing (run as
  a command, elsewhere, no verdict would come, which the grader scores as nothing passed).

Taught in: lab 00 (the instructor's side).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

from kernel_helpers.course.catalog import Course, Lab, load_course
from kernel_helpers.course.harness import sandbox
from kernel_helpers.course.harness.judge import CASE_TIMEOUT
from kernel_helpers.course.harness.labs import CaseVerdict, Grader, LabVerdict
from kernel_helpers.course.sandbox import files_digest, kit_digest
from kernel_helpers.errors import LabkitError
from kernel_helpers.rootfs.busybox import busybox_rootfs


def probe_digest() -> str:
    """A hash of what a case's probe runs: the host's /bin/sh (lab 01's cases run on the
    host's root) and the busybox image every rootfs is copied from. Root can rewrite
    either on the host; a shell forged to unshare by itself would pass a runtime that
    does not."""
    paths = [Path(os.path.realpath("/bin/sh")), *sorted(busybox_rootfs().rglob("*"))]
    return files_digest(p for p in paths if p.is_file() and not p.is_symlink())


def _digest() -> str:
    return kit_digest() + probe_digest()


class Tampered(Exception):
    """The kit's files changed while the learner's runtime ran."""


def runtime_labs(course: Course) -> list[Lab]:
    """The labs judged on the learner's runtime: those with a step on a slot (from course.toml)."""
    return [lab for lab in course.labs if any(step.slot and step.cases for step in lab.steps)]


def _ancestors() -> set[int]:
    found, pid = {os.getpid()}, os.getpid()
    while pid > 1:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            pid = int(f.read().rsplit(")", 1)[1].split()[1])
        found.add(pid)
    return found


def sweep() -> int:
    """Kill every process of this pid namespace but the judge and its ancestors; how many."""
    keep, killed = _ancestors(), 0
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in keep:
            try:
                os.kill(int(name), signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
    while True:  # reap the ones that were ours
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    return killed


PROC_PID_INIT_INO = 0xEFFFFFFC
"""The initial pid namespace's inode number (fixed by the kernel: include/linux/proc_ns.h)."""


def in_sandbox() -> bool:
    """True only in a grading sandbox: a pid namespace not the machine's, whose PID 1 is the
    kit's sandbox judge. Sweeping is safe there and nowhere else."""
    try:
        with open("/proc/1/cmdline", "rb") as f:
            init = f.read()
    except OSError:
        return False
    return (os.stat("/proc/self/ns/pid").st_ino != PROC_PID_INIT_INO
            and b"kernel_helpers.course.judge" in init)


class GuardedGrader(Grader):
    """A `Grader` that checks the kit is unchanged (and sweeps) after every case."""

    def __init__(self, path: Path, course: Course, scratch: Path, timeout: float, *,
                 digest: str, sweep_after: bool) -> None:
        super().__init__(path, course, scratch, timeout)
        self.digest = digest
        self.sweep_after = sweep_after

    def _run(self, lab: Lab, case_id: str, step_id: str, stand_ins: list[str]) -> CaseVerdict:
        verdict = super()._run(lab, case_id, step_id, stand_ins)
        if self.sweep_after:
            sweep()
        if _digest() != self.digest:
            raise Tampered(f"the kit's files or the probe's shell changed during case "
                           f"{lab.number:02d}.{case_id}")
        return verdict


def _emit(event: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


Emit = Callable[[dict[str, Any]], None]


def grade_labs(path: Path, course: Course, labs: list[Lab], timeout: float,
               sweep_after: bool, emit: Emit = _emit) -> None:
    """Judge each lab, own score first (cached for later labs' stand-ins), then the piece;
    `emit` gets one event per lab (or "tampered", which ends grading)."""
    if sweep_after and not in_sandbox():
        raise LabkitError("sweeping after each case", "would kill the machine's processes here "
                          "(this is not a grading sandbox)", "grade with `labkit course grade`")
    digest = _digest()
    sandbox.enter_judge_namespace()
    with sandbox.scratch() as scratch:
        grader = GuardedGrader(path, course, scratch, timeout, digest=digest,
                               sweep_after=sweep_after)
        for lab in labs:
            try:
                own = grader.own(lab)
                piece: LabVerdict = replace(own, mode="piece")  # no stand-in: the same runs
                if any(c.status != "pass" for c in own.cases) or grader._stand_ins(lab)[0]:
                    piece = grader.grade(lab, "piece")
            except Tampered as err:
                emit({"event": "tampered", "lab": f"{lab.number:02d}", "message": str(err)})
                return
            emit({"event": "lab", "lab": f"{lab.number:02d}", "piece": piece.as_dict(),
                   "own": own.as_dict()})


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m kernel_helpers.course.harness.batch")
    parser.add_argument("file", type=Path)
    parser.add_argument("--labs", nargs="+", required=True)
    parser.add_argument("--timeout", type=float, default=CASE_TIMEOUT)
    args = parser.parse_args(argv)
    course = load_course()
    try:
        grade_labs(args.file.resolve(), course, [course.lab(k) for k in args.labs],
                   args.timeout, sweep_after=False)
    except LabkitError as err:
        _emit({"event": "error", "message": str(err)})
        return 2
    _emit({"event": "done"})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
