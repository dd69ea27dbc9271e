"""The supervisor: the process that starts a container, waits for it, and cleans up.

`labkit run` is a supervisor in the foreground; `labkit run -d` forks one that
relays the container's output through a pipe into its capped log (`logfile`).
Like Docker's containerd-shim, it outlives the command that asked for it, so the container's exit code,
restart policy and cleanup never depend on the learner's terminal.

Taught in: lab 09, lab 10.
"""

from __future__ import annotations

import os
import re
import signal
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Callable, Iterator

from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers._sys.linux import PR_SET_CHILD_SUBREAPER
from kernel_helpers.cleanup import Registry, remove_tree
from kernel_helpers.errors import InvalidValue
from kernel_helpers.process import signal_process, wait_status_to_exit_code
from kernel_helpers.runtime.launch import FORWARDED_SIGNALS, require_root, start
from kernel_helpers.runtime.logfile import DEFAULT_MAX_SIZE, ContainerLog
from kernel_helpers.spec import ContainerSpec
from kernel_helpers.stage import Stage
from kernel_helpers.state import LOG_FILE, ContainerState, claim_name

STOP_REQUESTED = "stop-requested"
"""File a `labkit stop` drops in the state dir: do not restart after this exit."""

_RESTART = re.compile(r"^(no|always|on-failure)(?::(\d+))?$")


@dataclass(frozen=True)
class RestartPolicy:
    """Docker's --restart: no, always, or on-failure[:max-retries]."""

    name: str = "no"
    max_retries: int = 0

    def should_restart(self, exit_code: int, restarts: int) -> bool:
        if self.name == "always":
            return True
        if self.name == "on-failure" and exit_code != 0:
            return self.max_retries == 0 or restarts < self.max_retries
        return False


def parse_restart(text: str) -> RestartPolicy:
    """'on-failure:3' -> RestartPolicy; a bad value gets one sentence."""
    match = _RESTART.match(text)
    if not match or (match[2] and match[1] != "on-failure"):
        raise InvalidValue(f"restart policy '{text}'", "is not a restart policy",
                           "use no, always or on-failure[:N], e.g. on-failure:3")
    return RestartPolicy(match[1], int(match[2] or 0))


def supervise(spec: ContainerSpec, stages: tuple[Stage, ...], state: ContainerState, *,
              keep: bool = False, policy: RestartPolicy = RestartPolicy(),
              started: Callable[[ContainerState], None] | None = None,
              log: bool = False, log_max_size: int | None = DEFAULT_MAX_SIZE,
              kernel: Kernel = LINUX) -> int:
    """Start, wait, restart as the policy says, clean up; return the last exit code.

    Each attempt's resources (cgroup, network...) are undone when it exits. The
    state dir goes too unless `keep` (then `labkit rm` removes it later); it
    always goes if the first start fails, so a failed run leaves nothing.
    With `log`, stdin is /dev/null and output goes through a pipe to the container's
    log file, rotated at `log_max_size` (None: never).
    """
    require_root()
    kernel.prctl(PR_SET_CHILD_SUBREAPER, 1)
    state.supervisor_pid = os.getpid()
    with Registry() as outer:
        claim_name(state)
        if spec.start_gate:
            os.mkfifo(spec.start_gate, 0o600)
        logfile = ContainerLog(state.directory / LOG_FILE, log_max_size) if log else None
        removal = ("state of " + state.id, lambda: remove_tree(str(state.directory)))
        if not keep:
            outer.push(*removal)
        while True:
            with Registry() as registry, _forwarding(state):
                try:
                    with logfile.attached() if logfile else nullcontext():
                        pid = start(spec, state, stages, registry, kernel)
                except BaseException:
                    if keep and state.restarts == 0:
                        outer.push(*removal)
                    raise
                if started is not None and state.restarts == 0:
                    started(state)
                with _foreground_tty(pid):
                    if logfile:
                        logfile.relay(pid)
                    code = wait_status_to_exit_code(_wait_for(pid))
            state.status, state.exit_code, state.pid = "exited", code, 0
            if not state.directory.exists():
                return code  # removed meanwhile (`labkit rm`): do not bring it back
            if (state.directory / STOP_REQUESTED).exists() or not policy.should_restart(
                    code, state.restarts):
                state.save()
                return code
            state.restarts += 1
            state.save()


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
        signal_process(state.pid, signum, state.pid_start or None)

    old = {sig: signal.signal(sig, forward) for sig in FORWARDED_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


@contextmanager
def _foreground_tty(pid: int) -> Iterator[None]:
    """Give the terminal to the container's process group, so Ctrl-C reaches it directly."""
    fd = 0 if os.isatty(0) else -1
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
