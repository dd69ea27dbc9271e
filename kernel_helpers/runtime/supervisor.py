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
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Callable

from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers._sys.linux import PR_SET_CHILD_SUBREAPER
from kernel_helpers.cleanup import Registry, remove_tree
from kernel_helpers.errors import InvalidValue
from kernel_helpers.process import forwarding, require_root, wait_status_to_exit_code
from kernel_helpers.runtime.console import relay
from kernel_helpers.runtime.launch import start
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
              terminal: bool = False, kernel: Kernel = LINUX) -> int:
    """Start, wait, restart as the policy says, clean up; return the last exit code.

    Each attempt's resources (cgroup, network...) are undone when it exits. The
    state dir goes too unless `keep` (then `labkit rm` removes it later); it
    always goes if the first start fails, so a failed run leaves nothing.
    With `log`, stdin is /dev/null and output goes through a pipe to the container's
    log file, rotated at `log_max_size` (None: never).
    With `terminal`, the container gets a pty of its own, relayed to our stdin
    and stdout (never our terminal itself: see `runtime.console`).
    """
    require_root()
    kernel.prctl(PR_SET_CHILD_SUBREAPER, 1)
    state.supervisor_pid = os.getpid()
    with Registry() as outer:
        claim_name(state)
        if spec.start_gate:  # the command's user must open it, after it switched to that user
            os.mkfifo(spec.start_gate, 0o600)
            os.chown(spec.start_gate, *spec.host_ids())
        logfile = ContainerLog(state.directory / LOG_FILE, log_max_size) if log else None
        removal = ("state of " + state.id, lambda: remove_tree(str(state.directory)))
        if not keep:
            outer.push(*removal)
        while True:
            with Registry() as registry, forwarding(lambda: state.pid):
                masters: list[int] = []  # the pty master, once the container sent it
                registry.push("console", partial(_close_all, masters))
                try:
                    with logfile.attached() if logfile else nullcontext():
                        pid = start(spec, state, stages, registry, kernel,
                                    console=masters.append if terminal else None)
                except BaseException:
                    if keep and state.restarts == 0:
                        outer.push(*removal)
                    raise
                if started is not None and state.restarts == 0:
                    started(state)
                if logfile:
                    logfile.relay(pid)
                if masters:
                    relay(masters.pop(), pid)  # returns once the container has exited
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


def _close_all(fds: list[int]) -> None:
    while fds:
        os.close(fds.pop())
