"""`labkit run -d`: fork a supervisor that outlives the command, then print the id.

The supervisor starts a new session (no terminal), relays the container's
output into its log file (`logfile`: a pipe, capped and rotated), and reports back through a pipe once the command is
running, or the one-sentence error if it could not start.
"""

from __future__ import annotations

import gc
import os
from dataclasses import replace

from kernel_helpers import naming
from kernel_helpers.errors import LabkitError
from kernel_helpers.outcome import pack, pack_error, read_all, unpack, write_all
from kernel_helpers.runtime.logfile import DEFAULT_MAX_SIZE
from kernel_helpers.spec import ContainerSpec
from kernel_helpers.stage import Stage
from kernel_helpers.state import START_GATE, ContainerState
from kernel_helpers.runtime.supervisor import RestartPolicy, supervise


def run_detached(spec: ContainerSpec, stages: tuple[Stage, ...] = (), *, name: str = "",
                 keep: bool = True, policy: RestartPolicy = RestartPolicy(),
                 gated: bool = False, log_max_size: int | None = DEFAULT_MAX_SIZE,
                 passthrough: bool = False) -> str:
    """Start `spec` in the background and return its id once it runs.

    With `gated`, return once it is *created*: set up and blocked before exec
    until `labkit oci start` opens its start gate (the OCI create/start split).
    The log rotates at `log_max_size` bytes (None: never), keeping one older file.
    With `passthrough`, the container gets our stdin, stdout and stderr instead
    of a log, as runc's detached containers do (the caller reads its output).
    """
    state = ContainerState(id=naming.new_name(), command=list(spec.command), name=name,
                           detached=True)
    if gated:
        spec = replace(spec, start_gate=str(state.directory / START_GATE))
    read_fd, write_fd = os.pipe()
    gc.freeze()  # as launch.start: the supervisor need not copy what a collection would touch
    pid = os.fork()
    if pid == 0:  # the supervisor
        os.close(read_fd)
        _become_supervisor(spec, stages, state, keep, policy, write_fd, log_max_size, passthrough)
    os.close(write_fd)
    os.waitpid(pid, 0)  # the middle process forks the supervisor and leaves at once
    try:
        data = read_all(read_fd)  # one message: the id, or the error
    finally:
        os.close(read_fd)
    died = LabkitError("labkit run -d", "the supervisor died before the container started",
                       "run the same command without -d to see why")
    return str(unpack(data, "labkit run -d", died))


def _become_supervisor(spec: ContainerSpec, stages: tuple[Stage, ...], state: ContainerState,
                       keep: bool, policy: RestartPolicy, report_fd: int,
                       log_max_size: int | None, passthrough: bool = False) -> None:
    code = 1
    try:
        # Nothing of the caller's outlives it here: a check's result pipe held open by a
        # long-lived supervisor would keep the check waiting for EOF until the container ends.
        os.closerange(3, report_fd)
        os.closerange(report_fd + 1, os.sysconf("SC_OPEN_MAX"))
        os.setsid()
        if os.fork() != 0:  # double fork: the supervisor is re-parented, never a zombie
            os._exit(0)

        def started(running: ContainerState) -> None:
            if passthrough:  # the container has the caller's stdio; we keep no copy of it
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.close(null)
            write_all(report_fd, pack(running.id))
            os.close(report_fd)
        code = supervise(spec, stages, state, keep=keep, policy=policy, started=started,
                         log=not passthrough, log_max_size=log_max_size)
    except LabkitError as err:
        try:
            write_all(report_fd, pack_error(err))
        except OSError:
            pass  # already reported success; the error is in the log
    except BaseException:
        pass
    os._exit(code)
