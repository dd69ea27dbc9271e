"""`labkit run` in the foreground: start, forward signals, wait, clean up, pass the exit code."""

from __future__ import annotations

import os
import signal
import sys
from contextlib import contextmanager
from typing import Iterator

from kernel_helpers import naming
from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers._sys.linux import PR_SET_CHILD_SUBREAPER
from kernel_helpers.cleanup import Registry, remove_tree
from kernel_helpers.process import wait_status_to_exit_code
from kernel_helpers.runtime.launch import FORWARDED_SIGNALS, Stage, require_root, start
from kernel_helpers.runtime.spec import ContainerSpec
from kernel_helpers.runtime.state import ContainerState


def run(spec: ContainerSpec, stages: tuple[Stage, ...] = (), kernel: Kernel = LINUX,
        container_id: str | None = None) -> int:
    """Run `spec` to completion and return its exit code (128+N if killed by signal N).

    Must run in a process that may become a child subreaper (the CLI, or a
    `run_in_child` child in notebooks and tests).
    """
    require_root()
    kernel.prctl(PR_SET_CHILD_SUBREAPER, 1)
    state = ContainerState(id=container_id or naming.new_name(), command=list(spec.command),
                           supervisor_pid=os.getpid())
    with Registry() as registry:
        state.save()
        registry.push(f"state of {state.id}", lambda: remove_tree(str(state.directory)))
        with _forwarding(state):
            pid = start(spec, state, stages, registry, kernel)
            with _foreground_tty(pid):
                status = _wait_for(pid)
        return wait_status_to_exit_code(status)


def _wait_for(pid: int) -> int:
    """Wait for `pid`, also reaping anything else re-parented to us meanwhile."""
    while True:
        reaped, status = os.waitpid(-1, 0)
        if reaped == pid:
            return status


@contextmanager
def _forwarding(state: ContainerState) -> Iterator[None]:
    """Forward the usual signals to the container's PID 1 as soon as its pid is known."""

    def forward(signum: int, _frame: object) -> None:
        if not state.pid:
            raise SystemExit(128 + signum)  # not forked yet: unwind what was made
        try:
            os.kill(state.pid, signum)
        except ProcessLookupError:
            pass

    old = {sig: signal.signal(sig, forward) for sig in FORWARDED_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


@contextmanager
def _foreground_tty(pid: int) -> Iterator[None]:
    """Give the terminal to the container's process group, so Ctrl-C reaches it directly."""
    fd = sys.stdin.fileno() if sys.stdin and sys.stdin.isatty() else -1
    if fd < 0:
        yield
        return
    old_ttou = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    mine = os.tcgetpgrp(fd)
    try:
        try:
            os.tcsetpgrp(fd, pid)
        except OSError:
            pass  # the container already exited or has another session
        yield
    finally:
        try:
            os.tcsetpgrp(fd, mine)
        except OSError:
            pass
        signal.signal(signal.SIGTTOU, old_ttou)


def run_captured(spec: ContainerSpec, stages: tuple[Stage, ...] = (),
                 timeout: float = 60) -> tuple[int, str]:
    """Run `spec` from a throwaway child and return (exit code, combined output).

    Notebooks, the TUI and tests use this: the caller never becomes a subreaper
    and the container's output comes back as text instead of going to a terminal.
    """
    from kernel_helpers.process import run_in_child
    return run_in_child(_run_to_file, spec, stages, timeout=timeout)


def _run_to_file(spec: ContainerSpec, stages: tuple[Stage, ...]) -> tuple[int, str]:
    import tempfile
    with tempfile.TemporaryFile() as out:
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        code = run(spec, stages)
        out.seek(0)
        return code, out.read().decode(errors="replace")
