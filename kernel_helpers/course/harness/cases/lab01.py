"""Lab 01's cases: the command as PID 1 of a new pid namespace, its pidfile, its exit status."""

from __future__ import annotations

from kernel_helpers.course.harness.cases.base import Case, Check, Fail
from kernel_helpers.course.harness.cases.common import no_leftovers, started
from kernel_helpers.course.harness.judge import Run


def new_pid_namespace(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    if held.ns.get("pid") == run.judge_ns.get("pid"):
        return Fail("the command runs in the host's pid namespace, so it is not PID 1: you "
                    "forked before unsharing, or never unshared",
                    "call lk.unshare(lk.CLONE_NEWPID) in the runtime before os.fork(): the new "
                    "namespace is for the children made after the call")
    return None


def is_pid1(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    levels = held.status.get("NSpid", "").split()
    if levels[-1:] != ["1"]:
        return Fail("the command is in a new pid namespace but is not its PID 1",
                    "fork exactly once after unshare and exec in that child: the first child "
                    "is PID 1")
    return None


def pidfile_names_container(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    text = (run.pidfile or "").strip()
    if not text:
        return Fail("spec.pidfile was not written", "after fork, in the parent: "
                    "lk.write_pidfile(spec, pid)")
    if text != str(held.pid):
        return Fail("spec.pidfile names another process, not the container's command",
                    "write the pid os.fork() returned in the parent, as the host sees it")
    return None


def waited(run: Run) -> Fail | None:
    if not run.runtime_waiting:
        return Fail("your runtime returned while the container was still running",
                    "wait for it: os.waitpid(pid, 0)")
    return None


def _returned(run: Run) -> str:
    """What run returned, as the runner saw it (for the message only; the verdict is the exit)."""
    said = next((line[len("returned "):] for line in run.report if line.startswith("returned ")),
                None)
    return said if said is not None else str(run.status)


def exit_status(expected: int) -> Check:
    def check(run: Run) -> Fail | None:
        if run.status == expected:
            return None
        returned = _returned(run)
        if expected >= 128:
            return Fail(f"the container was killed by signal {expected - 128} but run returned "
                        f"{returned}, not {expected}",
                        "decode the wait status: os.WIFSIGNALED(status) -> 128 + "
                        "os.WTERMSIG(status)")
        return Fail(f"the container exited with {expected} but run returned {returned}",
                    "return os.WEXITSTATUS(status) from the status os.waitpid gives")
    return check



CASES = (
    Case("pid1", 0, False, (started, new_pid_namespace, is_pid1, no_leftovers)),
    Case("pidfile", 0, False, (started, pidfile_names_container, no_leftovers)),
    Case("exit-code", 7, False, (started, waited, exit_status(7), no_leftovers)),
    Case("killed", None, False, (started, waited, exit_status(137), no_leftovers)),
)
