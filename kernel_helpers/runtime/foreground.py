"""Run a container to completion: `labkit run` in the foreground, and `run_captured`."""

from __future__ import annotations

import os

from kernel_helpers import naming
from kernel_helpers.runtime.console import wants_console
from kernel_helpers.spec import ContainerSpec
from kernel_helpers.stage import Stage
from kernel_helpers.state import ContainerState
from kernel_helpers.runtime.supervisor import RestartPolicy, supervise


def run(spec: ContainerSpec, stages: tuple[Stage, ...] = (), *, name: str = "",
        keep: bool = False, policy: RestartPolicy = RestartPolicy()) -> int:
    """Run `spec` to completion in this process; return its exit code (128+N if killed by N).

    The calling process becomes a child subreaper: call it from the CLI, or from
    a throwaway child (`run_captured`) in notebooks and tests. When stdin is a
    terminal, the container gets a pty of its own, relayed (as `docker run -it`).
    """
    state = ContainerState(id=naming.new_name(), command=list(spec.command), name=name)
    return supervise(spec, stages, state, keep=keep, policy=policy, terminal=wants_console())


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
