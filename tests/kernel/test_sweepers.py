"""`labkit cleanup` covers every kind of resource the kit makes.

Two angles, so a new kind of resource cannot slip past the sweepers:
- statically, every module that reports a `Leftover` is in `cleanup.SWEEPERS`;
- on the real kernel, a container with every resource-making option is crashed (its
  supervisor and PID 1 SIGKILLed, so nothing undoes anything), then a census that reads
  the kernel directly, not through the sweepers, must find each thing it made reported by
  `cleanup.leftovers()` and gone after `labkit cleanup`.
"""

from __future__ import annotations

import ast
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from kernel_helpers import cleanup, naming
from kernel_helpers.net import networks
from kernel_helpers.net import nat
from kernel_helpers.state import find
from kernel_helpers.testing import labkit

ROOT = Path(__file__).resolve().parents[2]


def test_every_module_that_reports_leftovers_is_swept() -> None:
    reporting = set()
    for path in (ROOT / "kernel_helpers").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if any(isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Leftover"
               for node in ast.walk(tree)):
            parts = path.relative_to(ROOT).with_suffix("").parts
            reporting.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    reporting.discard("kernel_helpers.cleanup")  # defines Leftover
    assert reporting, "the scan found no module reporting leftovers"
    assert sorted(reporting - set(cleanup.SWEEPERS)) == []
    for name in cleanup.SWEEPERS:  # and every sweeper really offers both halves
        module = __import__(name, fromlist=["leftovers"])
        assert callable(module.leftovers) and callable(module.remove), name


def _cgroup_mounts() -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return [line.split()[4] for line in f
                if line.partition(" - ")[2].split()[0] in ("cgroup", "cgroup2")]


def census() -> set[str]:
    """What the kit made that the kernel shows, read without the kit's sweepers."""
    found = set()
    for mount in _cgroup_mounts():
        kit = Path(mount) / "labkit"
        for group in kit.glob("lk*") if kit.is_dir() else ():
            found.add(f"cgroup {group.name}")
    found |= {f"link {name}" for name in os.listdir("/sys/class/net") if naming.is_ours(name)}
    found |= {f"nft table {name}" for name in nat.tables() if naming.is_ours(name)}
    for root, kind in ((naming.STATE_ROOT / "containers", "state"),
                       (naming.DATA_ROOT / "containers", "container-fs")):
        found |= {f"{kind} {p.name}" for p in root.glob("lk*")} if root.is_dir() else set()
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            target = line.split()[4]
            if target.startswith((str(naming.STATE_ROOT), str(naming.DATA_ROOT))):
                found.add(f"mount {target}")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reported(leftovers: list[cleanup.Leftover]) -> set[str]:
    return {item.name for item in leftovers} | {item.where for item in leftovers}


@pytest.mark.usefixtures("root")
def test_a_crashed_container_with_everything_is_fully_swept() -> None:
    net = f"t{os.urandom(3).hex()}"
    assert labkit("network", "create", net).returncode == 0
    before = census()
    try:
        name = f"sweep-{os.urandom(3).hex()}"
        proc = labkit("run", "-d", "--name", name, "--network", net, "-p", f"127.0.0.1:{_free_port()}:80",
                      "--memory", "32M", "--pids-limit", "32", "--init", "--rootfs", "busybox",
                      "--", "/bin/sh", "-c", "sleep 600")
        assert proc.returncode == 0, proc.stderr
        state = find(name)
        os.kill(state.supervisor_pid, signal.SIGKILL)  # a crash: nobody undoes anything now
        os.kill(state.pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{state.pid}") and time.monotonic() < deadline:
            time.sleep(0.02)
        made = {item for item in census() - before if state.id in item}  # ours, not a neighbour's
        kinds = {item.split()[0] for item in made}
        assert {"cgroup", "state", "container-fs"} <= kinds, made  # its veth died with its netns
        reported = _reported(cleanup.leftovers())
        unseen = sorted(item for item in made if item.split(" ", 2)[-1] not in reported)
        assert unseen == [], f"the kernel shows these, but no sweeper reports them: {cleanup.leftovers()}"
        proc = labkit("cleanup")
        assert proc.returncode == 0, proc.stderr
        assert {item for item in census() - before if state.id in item} == set()
    finally:
        networks.remove(net, force=True)
