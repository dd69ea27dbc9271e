"""Run a function in a forked child and get its result (or LabkitError) back.

Irreversible changes (unshare, seccomp, capability drops, chroot) must not hit
the calling process: notebooks, the TUI and the tests all use `run_in_child`.
"""

from __future__ import annotations

import os
import signal
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator, NoReturn, TypeVar

if TYPE_CHECKING:
    import threading

from kernel_helpers.errors import KernelError, NotRoot
from kernel_helpers.procfs import stat_fields
from kernel_helpers.outcome import pack_call, read_all, unpack, write_all

T = TypeVar("T")

FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                     signal.SIGUSR1, signal.SIGUSR2, signal.SIGWINCH)
"""What a supervisor, an init or `labkit exec` passes on to the process it runs."""


def require_root(command: str = "labkit run") -> None:
    """Fail early, before anything is made or read, when not root."""
    if os.geteuid() != 0:
        raise NotRoot(command, "works on namespaces, mounts and the kit's state, which need root",
                      "run it with sudo, inside the lab VM")


def run_in_child(fn: Callable[..., T], *args: Any, timeout: float | None = None,
                 **kwargs: Any) -> T:
    """Call ``fn(*args, **kwargs)`` in a forked child; return its value or re-raise its error.

    Args:
        timeout: seconds before the child is killed and KernelError raised.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read_fd)
        try:
            write_all(write_fd, pack_call(fn, *args, **kwargs))
        finally:
            os._exit(0)
    os.close(write_fd)
    watchdog = _arm_timeout(pid, timeout) if timeout is not None else None
    try:
        data = read_all(read_fd)
    finally:
        os.close(read_fd)
        if watchdog is not None:
            watchdog.cancel()  # before the reap: an unreaped pid cannot be reused by another
        _, status = os.waitpid(pid, 0)
    timed_out = watchdog is not None and watchdog.fired  # type: ignore[attr-defined]
    problem = (f"took longer than {timeout:g} s and was stopped" if timed_out else
               f"the child died without an answer (wait status {status})")
    who = getattr(fn, "__name__", "child")
    result: T = unpack(data, who, KernelError(who, problem, "see the kernel log or run the step again"))
    return result


def _arm_timeout(pid: int, timeout: float) -> threading.Timer:
    """Kill `pid` after `timeout` seconds from a watchdog thread; cancel it once `pid` is done."""
    import threading

    def watchdog() -> None:
        timer.fired = True  # type: ignore[attr-defined]
        signal_process(pid)

    timer = threading.Timer(timeout, watchdog)
    timer.fired = False  # type: ignore[attr-defined]
    timer.daemon = True
    timer.start()
    return timer


def wait_status_to_exit_code(status: int) -> int:
    """Shell convention: exit code, or 128 + signal number when killed by a signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)


def pid_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    fields = stat_fields(pid)
    return bool(fields) and fields[0] != "Z"


def same_process(pid: int, started: int) -> bool:
    """True while `pid` is alive and is still the process that started at `started`.

    Every record of a process the kit keeps (container, lease, cgroup owner) checks it
    this way, so a pid reused by an unrelated process is never taken for ours.
    """
    fields = stat_fields(pid)
    return bool(fields) and fields[0] != "Z" and fields[19] == str(started)


def start_time(pid: int) -> int:
    """The kernel's start time of `pid` (clock ticks since boot), 0 if gone.

    A pid plus its start time names one process for good, so cleanup never
    signals an unrelated process that later reused the pid.
    """
    fields = stat_fields(pid)
    return int(fields[19]) if fields else 0


def signal_process(pid: int, signum: int = signal.SIGKILL, started: int | None = None) -> bool:
    """Send `signum` to `pid` if it is still there (with `started`: still that very process).

    The one way the kit signals a process that may be gone. A pidfd pins the process
    before its start time is compared, so a pid reused in between is never signalled.
    Returns whether the signal was sent.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return False
    try:
        if started is not None and not same_process(pid, started):
            return False
        signal.pidfd_send_signal(fd, signum)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)


@contextmanager
def forwarding(target: Callable[[], int]) -> Iterator[None]:
    """Forward FORWARDED_SIGNALS to the pid `target()` names while inside the block.

    A container runs in a session of its own, so Ctrl-C in the caller's terminal
    reaches only the caller; this passes it on. While `target()` is still 0 (nothing
    started yet) the signal ends the caller instead, unwinding what it made.
    """
    def forward(signum: int, _frame: object) -> None:
        pid = target()
        if not pid:
            raise SystemExit(128 + signum)
        signal_process(pid, signum)

    old = {sig: signal.signal(sig, forward) for sig in FORWARDED_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def fork_and_forward(child: Callable[[], NoReturn], forked: Callable[[], None] = lambda: None) -> int:
    """Fork `child`, forward signals to it, reap every zombie until it exits; its wait status.

    Signals are blocked across the fork and the handlers are in place before
    `forked()` runs (which may tell someone the child exists), so a signal sent
    as soon as the child runs is never lost, even by a PID 1 (which silently
    drops signals it has no handler for). An init and `labkit exec` share it.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED_SIGNALS)
    pid = os.fork()
    if pid == 0:
        for sig in FORWARDED_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)
        child()
    with forwarding(lambda: pid):
        forked()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED_SIGNALS)
        while True:
            try:
                reaped, status = os.waitpid(-1, 0)
            except ChildProcessError:
                return 0
            if reaped == pid:
                return status
