"""Inside a learner's sandbox: the judge (its PID 1) and one fresh check process per step.

``python -m kernel_helpers.course.judge init`` is started by `sandbox.Sandbox`;
it joins the sandbox's cgroup and takes new mount, net, ipc, uts and cgroup
namespaces (`sandbox.enter`), then forks the sandbox's PID 1, which mounts a private view
(`sandbox_mounts`), then reads the job (JSON on stdin) and, per step, starts
``... judge step ID``: a new interpreter that imports the checks before any
learner code exists in it, loads the learner's definitions as data and runs the
step's check. The check process cannot reach the judge: it has no
CAP_SYS_PTRACE (so no ptrace, /proc/1/mem or /proc/1/fd of a process holding
more capabilities), it inherits no descriptor of the judge's, and the judge
ignores the signals a process may send its namespace's init. The judge reads
one JSON verdict from each step's own pipe, checks its shape, and itself
writes the verdict on the line to the grader. Between steps it kills every
process left in the sandbox (the janitor), so one step's leftovers cannot
touch the next. The kit's digest, taken before any learner code runs, is checked
before each new process: a patched kit ends the sandbox with a "tampered" event.

A learner's runtime (``job["runtime"]``: the text of myruntime.py and the labs) is
written into the sandbox's own /tmp and judged by this PID 1 itself
(`harness.batch.grade_labs`, sweeping after every case), which the learner's runtime
cannot signal; its lab verdicts are relayed reduced to their known fields.

Taught in: lab 00 (the instructor's side).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from kernel_helpers._sys import LINUX
from kernel_helpers._sys.linux import PR_SET_DUMPABLE
from kernel_helpers.course import checks
from kernel_helpers.course.catalog import load_course
from kernel_helpers.course.harness.batch import grade_labs
from kernel_helpers.course.sandbox import enter, kit_digest
from kernel_helpers.course.sandbox_mounts import private_view
from kernel_helpers.errors import LabkitError
from kernel_helpers.security.capabilities import PR_CAPBSET_DROP

CAP_SYS_PTRACE = 19
VERDICT_BYTES = 65536
"""At most this much of a check process's output is read."""
STATUSES = ("pass", "fail", "timeout")


def _emit(event: dict[str, Any]) -> None:
    """One JSON line to the grader (the judge's stdout; no check process holds it)."""
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def _no_ptrace() -> None:
    """In a step's child before exec: CAP_SYS_PTRACE leaves the bounding set for good."""
    LINUX.prctl(PR_CAPBSET_DROP, CAP_SYS_PTRACE)


def janitor() -> int:
    """SIGKILL every process of the sandbox but its init; returns how many there were."""
    me = os.getpid()
    found = 0
    for _ in range(50):
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
        if not pids:
            return found
        found = max(found, len(pids))
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _reap_all()
        time.sleep(0.01)
    return found


def _reap_all() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def verdict_of(output: bytes) -> dict[str, str] | None:
    """The last line of a check process's output, if it is a well-formed verdict."""
    lines = output[:VERDICT_BYTES].decode("utf-8", errors="replace").strip().splitlines()
    try:
        data = json.loads(lines[-1]) if lines else None
    except ValueError:
        return None
    if not (isinstance(data, dict) and data.get("status") in STATUSES):
        return None
    return {"status": data["status"], "message": str(data.get("message", ""))[:500],
            "hint": str(data.get("hint", ""))[:500]}


def _drain(pipe: Any, into: bytearray, lock: threading.Lock) -> None:
    """Keep at most VERDICT_BYTES of a step's output; read (and drop) the rest until EOF."""
    while chunk := pipe.read1(65536):
        with lock:
            into += chunk[: max(0, VERDICT_BYTES - len(into))]


def _run_step(step_id: str, code: str, timeout: float) -> dict[str, str]:
    """One step in a fresh check process; its verdict is what it printed by the time it exited."""
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "kernel_helpers.course.judge", "step", step_id,
                             str(timeout)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, close_fds=True, start_new_session=True,
                            preexec_fn=_no_ptrace)
    out, lock = bytearray(), threading.Lock()
    reader = threading.Thread(target=_drain, args=(proc.stdout, out, lock), daemon=True)
    reader.start()
    try:
        proc.stdin.write(code.encode())  # type: ignore[union-attr]
        proc.stdin.close()  # type: ignore[union-attr]
    except BrokenPipeError:
        pass
    try:
        proc.wait(timeout=timeout + 20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return {"status": "timeout", "message": f"the check did not end within {timeout + 20:g} s",
                "hint": "look for a loop that never ends or a wait that never returns"}
    reader.join(0.5)  # a leftover child may hold the pipe: the janitor ends it
    with lock:
        found = verdict_of(bytes(out))
    if found is None:
        return {"status": "fail", "message": f"the check process ended without a verdict "
                f"(exit {proc.returncode}, after {time.monotonic() - started:.1f} s)",
                "hint": "your code may have ended the process (os._exit, a signal) or printed "
                        "over the check's result"}
    return found


def _lab_verdict(data: Any) -> dict[str, Any] | None:
    """A lab verdict from the harness, reduced to its known fields (anything else: None)."""
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list):
        return None
    cases = []
    for case in data["cases"]:
        if not isinstance(case, dict) or case.get("status") not in (*STATUSES, "not-run"):
            return None
        cases.append({k: str(case.get(k, ""))[:500] for k in ("case", "step", "status", "message",
                                                              "hint")})
    notes = [str(n)[:500] for n in data.get("notes", []) if isinstance(n, str)]
    return {"cases": cases, "notes": notes}


def _relay(event: dict[str, Any]) -> None:
    """The harness's lab events, reduced to their known fields, to the grader."""
    kind = event.get("event")
    if kind == "lab":
        piece, own = _lab_verdict(event.get("piece")), _lab_verdict(event.get("own"))
        if piece and own:
            _emit({"event": "runtime-lab", "lab": str(event.get("lab", ""))[:8], "piece": piece,
                   "own": own})
    elif kind in ("tampered", "error"):
        _emit({"event": f"runtime-{kind}", "lab": str(event.get("lab", ""))[:8],
               "message": str(event.get("message", ""))[:500]})


def _run_runtime(runtime: dict[str, Any]) -> None:
    """The learner's myruntime.py, every runtime lab, both scores, judged by this process.

    This process is the sandbox's PID 1: the learner's runtime (root, but without
    CAP_SYS_PTRACE: harness.judge.RUNTIME_DENIED) can neither kill nor trace it. The file is
    written into the sandbox's own /tmp (the submissions stay hidden).
    """
    folder = "/tmp/learner"
    os.makedirs(folder, mode=0o755, exist_ok=True)
    path = os.path.join(folder, "myruntime.py")
    with open(path, "w", encoding="utf-8") as f:
        f.write(runtime["code"])
    course = load_course()
    try:
        grade_labs(Path(path), course, [course.lab(key) for key in runtime["labs"]],
                   float(runtime["timeout"]), sweep_after=True, emit=_relay)
    except LabkitError as err:
        _relay({"event": "error", "message": str(err)})


def _init(job: dict[str, Any]) -> None:
    """The sandbox's PID 1: private mounts, then each step in a fresh check process."""
    LINUX.prctl(PR_SET_DUMPABLE, 0)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,
                signal.SIGPIPE, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    private_view(job["hide"], job["keep_readonly"], job["cgroup_mounts"])
    os.environ.update(LABKIT_PROGRESS="/tmp/labkit-progress.json", HOME="/tmp")
    os.chdir("/tmp")
    digest = kit_digest()  # before any learner code has run
    _emit({"event": "ready"})
    for step_id, code in job["answers"].items():
        if kit_digest() != digest:
            _emit({"event": "tampered", "message": f"the kit's files changed before {step_id}"})
            return
        _emit({"event": "start", "step": step_id})
        result = _run_step(step_id, job["setup"] + "\n\n" + code, job["timeout"])
        result["leftovers"] = str(janitor())
        _emit({"event": "verdict", "step": step_id, **result})
    if job.get("runtime") and kit_digest() == digest:
        _run_runtime(job["runtime"])
        janitor()
    _emit({"event": "done"})


def _launcher() -> int:
    """Outside the new pid namespace still: fork its PID 1 and wait for it."""
    job = json.loads(sys.stdin.readline())
    enter(job["cgroup_folders"])
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            _init(job)
        except BaseException as err:  # PID 1 reports in one line, never a traceback
            _emit({"event": "error", "message": f"{type(err).__name__}: {err}"})
            code = 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _step(step_id: str, timeout: float) -> int:
    """A check process: checks imported first, then the learner's definitions, then the check."""
    checks.registry()
    step = load_course().step(step_id)
    code = sys.stdin.read()
    result = checks._evaluate_check(
        step.check, lambda: checks._answer_from(code, step.answer, "<submission>"),
        timeout, step.hints[0])
    timed_out = not result.passed and result.message.startswith("did not finish within")
    status = "pass" if result.passed else "timeout" if timed_out else "fail"
    sys.stdout.write("\n" + json.dumps({"status": status,
                                        "message": result.message, "hint": result.hint}) + "\n")
    sys.stdout.flush()
    return 0


def main(argv: list[str]) -> int:
    if argv[:1] == ["init"]:
        return _launcher()
    if argv[:1] == ["step"] and len(argv) == 3:
        return _step(argv[1], float(argv[2]))
    print("usage: python -m kernel_helpers.course.judge init | step STEP_ID TIMEOUT", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

