"""What a case is: the checks that judge one run of a learner's runtime, and a failure's sentence.

A check returns None (fine) or a `Fail`: one sentence naming the mistake, and a hint.
A case's checks run in order and the first failure is the verdict, so each case lists
the most basic thing first (did the container start at all) and the subtlest last.
Messages are deterministic: no pids, inodes, times or paths of the scratch folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from kernel_helpers.course.harness.judge import Look, Run


@dataclass(frozen=True)
class Fail:
    message: str
    hint: str


Check = Callable[[Run], "Fail | None"]

@dataclass(frozen=True)
class Case:
    id: str
    release: int | None
    """The exit code the probe is released with; None: the judge SIGKILLs it instead."""
    rootfs: bool
    checks: tuple[Check, ...]
    extra: Callable[[], dict[str, Any]] | None = None
    """More Spec fields, made fresh for each run (vary names, ids, limits: no answer tuned to
    the demo's values passes)."""
    look: Look | None = None
    """Extra kernel state to read while the probe holds the container (into `run.seen`)."""
    before: str = ""
    """Shell the probe runs first, before it says ready; ``{dir}`` is the probe's folder as the
    container sees it (lab 05: ``cat /proc/self/cgroup > {dir}/cgroup`` catches a container
    that ran before its runtime put it in its cgroup)."""
    after: Look | None = None
    """Kernel state to read once the runtime has exited, before the janitor cleans up (into
    `run.seen["after"]`; lab 05: is the container's cgroup gone)."""
    netns: bool = False
    """Start the runtime in a fresh network namespace the judge makes (lab 07): the runtime's
    "host" side of any veth lives there, never on the machine, and dies with the case."""
    image: Callable[[Path], tuple[str, ...]] | None = None
    """Make this run's image in the given folder and return its layer folders, bottom first
    (lab 06): the runtime gets them as spec.image, with an empty spec.container_dir, and no
    rootfs; the probe's FIFOs reach the container as inherited fds (judge.probe_argv_fds)."""


def judge(case: Case, run: Run) -> Fail | None:
    for check in case.checks:
        failure = check(run)
        if failure is not None:
            return failure
    return None
