"""Run a Python function as a container's process, and get its answer back.

The base image has no Python, so the audit and the escape battery do not exec
anything: a last `Stage` calls the function in the container's PID 1 after
every other stage's `inside()` (hardening included), writes its pickled
answer to stdout (a pipe: the runtime lets in only stdio) and exits instead
of exec'ing. For root, capabilities set by capset() equal what exec would give,
and seccomp and no_new_privs are already in force, so the function meets
exactly the walls the command would. Everything it needs is imported before
fork: after pivot_root the host's Python files are out of reach.

Taught in: lab 08.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, TypeVar

from kernel_helpers.errors import KernelError
from kernel_helpers.outcome import pack_call, unpack, write_all
from kernel_helpers.process import run_in_child
from kernel_helpers.runtime.foreground import run
from kernel_helpers.stage import LaunchContext, Stage
from kernel_helpers.spec import ContainerSpec

T = TypeVar("T")


class _Probe(Stage):
    """Calls `fn` inside the container and writes the pickled outcome to its stdout."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.fn, self.args = fn, args

    def inside(self, ctx: LaunchContext) -> None:
        write_all(1, pack_call(self.fn, *self.args))
        os._exit(0)


def run_inside(fn: Callable[..., T], spec: ContainerSpec, stages: tuple[Stage, ...] = (),
               *args: Any, timeout: float = 60) -> T:
    """Start a container from `spec` and `stages`, call ``fn(*args)`` as its PID 1, return the result.

    `fn` must be a module-level function (it is called in a forked process)
    whose imports are already done. The container's command is never run.
    """
    result: T = run_in_child(_supervise, fn, spec, stages, args, timeout=timeout)
    return result


def _supervise(fn: Callable[..., T], spec: ContainerSpec, stages: tuple[Stage, ...],
               args: tuple[Any, ...]) -> T:
    # Pipes, not files: the container must hold no host file (the battery's log-fd attempt
    # checks exactly that). Two threads drain them while the container runs.
    answer: list[bytes] = []
    devnull = os.open(os.devnull, os.O_RDWR)
    caller_stderr = os.dup(2)
    readers = []
    for fd, sink in ((1, answer.append), (2, lambda data: write_all(caller_stderr, data))):
        read_end, write_end = os.pipe()
        os.dup2(write_end, fd)
        os.close(write_end)
        readers.append(threading.Thread(target=_drain, args=(read_end, sink), daemon=True))
    for reader in readers:
        reader.start()
    os.dup2(devnull, 0)  # no terminal shared with the caller
    try:
        code = run(spec, (*stages, _Probe(fn, args)))
    finally:
        os.dup2(devnull, 1)  # our last write ends: the readers see EOF
        os.dup2(caller_stderr, 2)
        for reader in readers:
            reader.join()
    result: T = unpack(b"".join(answer), "container probe",
                       KernelError("container probe", f"the container exited ({code}) before answering",
                                   "run `labkit doctor`, then try again"))
    return result


def _drain(fd: int, sink: Callable[[bytes], object]) -> None:
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(65536):
            sink(chunk)
