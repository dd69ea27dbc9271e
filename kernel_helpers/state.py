"""Container state under /run/labkit/containers/<id>/, written atomically.

The state directory exists from before the first fork until after the last
process is reaped, so a SIGKILLed `labkit run` leaves a record that
`labkit cleanup` uses to kill the orphaned container and remove the rest.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from kernel_helpers import naming, validate
from kernel_helpers.cleanup import Leftover, remove_tree
from kernel_helpers.errors import NameTaken, NotFound
from kernel_helpers.files import READABLE, flocked, write_atomic
from kernel_helpers.process import pid_alive, same_process, signal_process

STATE_FILE = "state.json"
LOG_FILE = "container.log"
LOCK_FILE = ".lock"
START_GATE = "exec.fifo"
USER_KEY = "user"
"""The `extra` entry holding [uid, gid] of the command (inside its user namespace):
`labkit run` records it, `labkit exec` runs as the same user."""


def containers_dir() -> Path:
    """Where container state directories live (follows LABKIT_STATE_ROOT)."""
    return naming.STATE_ROOT / "containers"


@dataclass
class ContainerState:
    """What the kit knows about one container; the file is the source of truth."""

    id: str
    command: list[str]
    name: str = ""
    """The learner's name for it (`--name web`); the id always works too."""
    status: str = "creating"
    """creating -> running -> exited; paused is read live from the freezer."""
    pid: int = 0
    """Host pid of the container's first process (PID 1 inside its pid namespace)."""
    pid_start: int = 0
    """Start time of `pid`, so a reused pid is never mistaken for the container."""
    supervisor_pid: int = 0
    """Host pid of the `labkit run` process that waits for it."""
    created: float = field(default_factory=time.time)
    exit_code: int | None = None
    restarts: int = 0
    detached: bool = False
    extra: dict[str, object] = field(default_factory=dict)
    """Whatever other mechanisms record (cgroup path, network, rootfs)."""

    @property
    def directory(self) -> Path:
        return containers_dir() / self.id

    def save(self) -> None:
        """Write atomically (rename), so readers never see half a file or an empty dir."""
        text = json.dumps(asdict(self), indent=1)
        if not self.directory.exists():
            # Build the directory aside and rename it in: it appears with its state file.
            fresh = containers_dir() / f".new-{self.id}-{os.getpid()}"
            fresh.mkdir(parents=True)
            write_atomic(fresh / STATE_FILE, text, READABLE)
            os.rename(fresh, self.directory)
            return
        write_atomic(self.directory / STATE_FILE, text, READABLE)


@contextmanager
def locked() -> Iterator[None]:
    """Serialize changes that read then write several containers' state (names, removal)."""
    with flocked(containers_dir() / LOCK_FILE):
        yield


def claim_name(state: ContainerState) -> None:
    """Save `state` for the first time, refusing a bad name or one another container has."""
    if state.name:
        validate.container_name(state.name)
    with locked():
        if state.name and any(other.name == state.name for other in all_states()):
            raise NameTaken(f"container name '{state.name}'", "is already in use",
                            f"pick another name, or remove the old one with `labkit rm {state.name}`")
        state.save()


def find(ref: str) -> ContainerState:
    """A container by id, name or unique id prefix (as `docker` accepts them)."""
    states = all_states()
    exact = [s for s in states if ref in (s.id, s.name)]
    matches = exact or [s for s in states if len(ref) >= 3 and s.id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    problem = "matches several containers" if matches else "no such container"
    raise NotFound(f"container '{ref}'", problem, "run `labkit ps -a` to see them")


def load(container_id: str) -> ContainerState:
    """Read one container's state file."""
    data = json.loads((containers_dir() / container_id / STATE_FILE).read_text())
    return ContainerState(**data)


def all_states() -> list[ContainerState]:
    """Every container with a readable state file, oldest first."""
    found = []
    root = containers_dir()
    for entry in sorted(root.iterdir()) if root.is_dir() else []:
        try:
            found.append(load(entry.name))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(found, key=lambda s: s.created)


def leftovers() -> list[Leftover]:
    """Container processes still alive and state dirs whose supervisor is gone."""
    items: list[Leftover] = []
    root = containers_dir()
    for entry in sorted(root.iterdir()) if root.is_dir() else []:
        if entry.name.startswith(".new-") and not pid_alive(int(entry.name.rsplit("-", 1)[1])):
            items.append(Leftover("state", entry.name, str(entry)))  # died while creating
        if not naming.is_ours(entry.name):
            continue
        try:
            state = load(entry.name)
        except (OSError, ValueError, TypeError):
            items.append(Leftover("state", entry.name, str(entry)))
            continue
        if state.supervisor_pid and pid_alive(state.supervisor_pid) and state.supervisor_pid != os.getpid():
            continue  # a live `labkit run` still owns it
        if state.status == "exited":
            continue  # kept on purpose, for `labkit logs` and `labkit rm`
        if state.pid and same_process(state.pid, state.pid_start):
            items.append(Leftover("process", entry.name, f"pid {state.pid} started {state.pid_start}"))
        items.append(Leftover("state", entry.name, str(entry)))
    return items


def remove(item: Leftover) -> None:
    """Kill a leftover container process (and wait for it) or delete a state dir."""
    if item.kind == "process":
        _, pid_text, _, started = item.where.split()
        pid = int(pid_text)
        if not signal_process(pid, started=int(started)):
            return
        deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.01)
    else:
        remove_tree(item.where)


def is_running(state: ContainerState) -> bool:
    """The container's PID 1 exists and is the same process the state names."""
    return bool(state.pid) and same_process(state.pid, state.pid_start)
