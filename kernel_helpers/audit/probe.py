"""Run a Python function as a container's process, and get its answer back.

The base image has no Python, so the audit and the escape battery do not exec
anything: a last `Stage` calls the function in the container's PID 1 after
every other stage's `inside()` (hardening included), writes its pickled
answer to stdout (the one fd the runtime lets in) and exits instead of exec'ing.
For root, capabilities set by capset() equal what exec would give,
and seccomp and no_new_privs are already in force, so the function meets
exactly the walls the command would. Everything it needs is imported before
fork: after pivot_root the host's Python files are out of reach.

Taught in: lab 08.
"""

from __future__ import annotations

import os
import pickle
import tempfile
from typing import Any, Callable, TypeVar

from kernel_helpers.errors import KernelError, LabkitError
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
        try:
            payload = pickle.dumps(("ok", self.fn(*self.args)))
        except LabkitError as err:
            payload = pickle.dumps(("err", err))
        except BaseException as err:
            payload = pickle.dumps(("crash", f"{type(err).__name__}: {err}"))
        while payload:
            payload = payload[os.write(1, payload):]
        os._exit(0)


def _answer(data: bytes, code: int) -> Any:
    if not data:
        raise KernelError("container probe", f"the container exited ({code}) before answering",
                          "run `labkit doctor`, then try again")
    kind, value = pickle.loads(data)
    if kind == "err":
        raise value
    if kind == "crash":
        raise KernelError("container probe", f"raised {value}",
                          "this is a bug in the kit; please report it")
    return value


def run_inside(fn: Callable[..., T], spec: ContainerSpec, stages: tuple[Stage, ...] = (),
               *args: Any, timeout: float = 60) -> T:
    """Start a container from `spec` and `stages`, call ``fn(*args)`` as its PID 1, return the result.

    `fn` must be a module-level function (it is called in a forked process)
    whose imports are already done. The container's command is never run.
    """
    return run_in_child(_supervise, fn, spec, stages, args, timeout=timeout)


def _supervise(fn: Callable[..., T], spec: ContainerSpec, stages: tuple[Stage, ...],
               args: tuple[Any, ...]) -> T:
    with tempfile.TemporaryFile() as out:
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)  # no terminal shared with the caller
        os.dup2(out.fileno(), 1)  # the probe's answer; stderr still shows errors
        code = run(spec, (*stages, _Probe(fn, args)))
        out.seek(0)
        return _answer(out.read(), code)  # type: ignore[no-any-return]
