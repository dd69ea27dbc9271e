"""Run one case of a learner's runtime and record what the kernel shows, from the host.

A case: a fresh cgroup and case folder; the runner (the learner's runtime) started
in that cgroup; the probe, as the container's command, blocks on a FIFO the judge
holds; the judge reads the container through its pid; then it releases (or kills)
the probe, waits for the runtime, and the janitor removes whatever is left.

Handshakes only: the probe tells the judge it runs by writing to a FIFO; the judge
waits on that FIFO and on the runtime's pidfd together, with the case's deadline.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from kernel_helpers import procfs
from kernel_helpers._sys import LINUX
from kernel_helpers.cgroups import Cgroup
from kernel_helpers.cgroups.layout import SUBTREE
from kernel_helpers.course.harness import observe, sandbox
from kernel_helpers.namespaces import Namespace, namespaces_of
from kernel_helpers.rootfs.busybox import busybox_rootfs
from kernel_helpers.security.capabilities import CAP_NUMBER, PR_CAPBSET_DROP

CASE_TIMEOUT = 10.0
"""Seconds a case may take, start to finish (the reference takes well under one)."""
EXITED_POLL = 0.02
"""Seconds between looks for a container still on its way to the probe once its runtime exited."""
OUTPUT_CAP = 30_000
"""Bytes of the runtime's output kept for messages (the rest is never read)."""
KIT_ROOT = str(Path(__file__).resolve().parents[3])
PROBE_DIR = "labkit-probe"
RESET_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,
                 signal.SIGQUIT)
RUNTIME_DENIED = ("SYS_PTRACE", "DAC_READ_SEARCH", "SYS_MODULE", "SYS_RAWIO", "SYS_BOOT",
                  "MAC_ADMIN", "MAC_OVERRIDE")
"""Capabilities the learner's runtime never gets, each a way around the judge (no lab needs
them): without SYS_PTRACE it cannot ptrace the judge, read its memory or open its pipes
through /proc/PID/fd (the judge is not dumpable); without DAC_READ_SEARCH no
open_by_handle_at past the mount namespace; without SYS_MODULE, SYS_RAWIO, SYS_BOOT no
module, /dev/mem or kexec; without MAC_ADMIN/OVERRIDE no LSM policy against the judge.
A lab whose containers must keep one of these cannot be judged here: say so first."""


def probe_argv(folder: str, before: str = "") -> tuple[str, ...]:
    """The container's command: say "ready" on one FIFO, exit with the code read from the other.

    A shell command, so it works on the host's root (lab 01) and in busybox (lab 03);
    `exec 4<>` opens the hold FIFO without blocking, so the judge can write to it at once.
    `before` (a case's own first acts, ``{dir}`` standing for `folder`) runs before anything.
    """
    first = before.replace("{dir}", folder) + "; " if before else ""
    return ("/bin/sh", "-c", f"{first}exec 4<>{folder}/hold; echo ready > {folder}/ready; "
                             f"read code <&4; exit $code")


def probe_argv_fds(ready: int, hold: int, before: str = "") -> tuple[str, ...]:
    """The probe of an image case (lab 06): the same handshake on FIFOs it inherits as fds.

    A FIFO opened through overlayfs is another pipe than the one the judge holds (the
    overlay's inode, not the layer's), so on an overlay root the paths cannot work.
    """
    first = before + "; " if before else ""
    return ("/bin/sh", "-c", f"{first}echo ready >&{ready}; read code <&{hold}; exit $code")


@dataclass
class Run:
    """Everything the judge saw during one case."""

    case_dir: Path
    rootfs: str | None
    rootfs_id: tuple[int, int] | None = None
    rootfs_rel: str = ""
    """The rootfs folder as a bind mount's root field shows it (relative to the scratch tmpfs)."""
    rootfs_listing: set[str] = field(default_factory=set)
    rootfs_after: set[str] = field(default_factory=set)
    scratch_dev: str = ""
    host_root: tuple[str, str] = ("", "")
    judge_ns: dict[str, int] = field(default_factory=dict)
    runtime_ns: dict[str, int] = field(default_factory=dict)
    before: int = 0
    during: int | None = None
    after: int = 0
    held: observe.Held | None = None
    runtime_waiting: bool = False
    status: int | None = None
    pidfile: str | None = None
    report: list[str] = field(default_factory=list)
    output: str = ""
    timed_out: bool = False
    leftovers: list[str] = field(default_factory=list)
    argv: tuple[str, ...] = ()
    spec: dict[str, Any] = field(default_factory=dict)
    """What the runtime was asked to run (with this run's varied values: names, limits, ids)."""
    seen: dict[str, Any] = field(default_factory=dict)
    """What the case's own `look` read about the held container (a lab's extra kernel state)."""
    runtime_netns: int | None = None
    """An fd of the runtime's network namespace, held by the judge for the whole case when it
    made that namespace (Case.netns, lab 07): `look` and `after` read it through this, the
    latter once the runtime is gone; closed when the case ends, and whatever is in it goes."""
    hostnames: tuple[str, str] = ("", "")
    """The judge's own hostname before and after the case (lab 02: a runtime that sets it
    before unsharing renames the judge's private uts namespace; the judge then restores it)."""

    def called(self, name: str) -> bool:
        return f"called {name}" in self.report

    def raised(self) -> str | None:
        return next((line[len("raised "):] for line in self.report if line.startswith("raised ")),
                    None)


def _prepare(run: Run, scratch: Path, before: str = "",
             image: Callable[[Path], tuple[str, ...]] | None = None) -> dict[str, Any]:
    """Make the case folder (and rootfs copy with the probe's FIFOs); return the spec to give."""
    run.case_dir.mkdir()
    table = procfs.mounts("self")
    root = next(m for m in reversed(table) if m.target == "/")
    run.host_root = (root.dev, root.root)
    run.scratch_dev = next(m.dev for m in reversed(table) if m.target == str(scratch))
    if run.rootfs is not None:
        # A real copy per case (2 MB on tmpfs): nothing a runtime writes in its rootfs
        # reaches the next case's, as hard links to one shared copy would.
        shutil.copytree(busybox_rootfs(), run.rootfs, symlinks=True)
        probe_host, probe_inside = Path(run.rootfs, PROBE_DIR), f"/{PROBE_DIR}"
    else:
        probe_host = probe_inside = run.case_dir / PROBE_DIR  # type: ignore[assignment]
    probe_host.mkdir()
    for fifo in ("ready", "hold"):
        os.mkfifo(probe_host / fifo)
        os.chmod(probe_host / fifo, 0o666)  # lab 04: the probe may run as an unprivileged uid
    if run.rootfs is not None:
        st = os.stat(run.rootfs)
        run.rootfs_id = (st.st_dev, st.st_ino)
        run.rootfs_listing = set(os.listdir(run.rootfs))
        run.rootfs_rel = "/" + os.path.relpath(run.rootfs, scratch)
    run.argv = probe_argv(str(probe_inside), before)
    spec = {"argv": list(run.argv), "rootfs": run.rootfs,
            "pidfile": str(run.case_dir / "container.pid"), "run_prefix": "lkg",
            "cgroup_parent": None}
    if image is not None:  # lab 06: the case's layers, and an empty folder for the container
        container = run.case_dir / "container"
        container.mkdir()
        spec.update(image=list(image(run.case_dir / "layers")), container_dir=str(container))
    return spec


Look = Callable[[int, Run], dict[str, Any]]
"""A lab's extra reading of the held container: (container pid, run so far) -> what it saw."""


def run_case(path: Path, scratch: Path, name: str, release: int | None, with_rootfs: bool,
             stand_ins: list[str], trace: list[str], timeout: float = CASE_TIMEOUT,
             extra: dict[str, Any] | None = None, look: Look | None = None,
             before: str = "", after: Look | None = None, netns: bool = False,
             image: Callable[[Path], tuple[str, ...]] | None = None) -> Run:
    """Run the learner's runtime on one case; the janitor has cleaned up when this returns.

    `extra`: more Spec fields for this run (varied per run by the case); `look`: read more
    kernel state while the probe holds the container, into `run.seen`; `before`: the probe's
    first shell acts; `after`: read kernel state once the runtime exited, before the janitor,
    into `run.seen["after"]`; `netns`: the runtime starts in a fresh network namespace;
    `image`: make the case's layers in a folder, bottom first (lab 06: Spec image and
    container_dir; the probe's FIFOs are inherited fds, see `probe_argv_fds`).
    """
    case_dir = scratch / name
    run = Run(case_dir, str(case_dir / "rootfs") if with_rootfs else None)
    group = sandbox.new_group()
    try:
        home = sandbox.runtime_home(group)
        spec = _prepare(run, scratch, before, image)
    except BaseException:
        group.delete()
        shutil.rmtree(case_dir, ignore_errors=True)
        raise
    spec["cgroup_parent"] = f"{SUBTREE}/{group.name}"
    spec.update(extra or {})
    run.spec = spec
    probe = Path(run.rootfs, PROBE_DIR) if run.rootfs else case_dir / PROBE_DIR
    baseline = {mid for mid, _ in sandbox.mount_table()}
    run.before = len(baseline)
    run.judge_ns = {k: v.inode for k, v in namespaces_of("self").items()}
    deadline = time.monotonic() + timeout
    hostname = os.uname().nodename
    # An image case's judge also holds the ready FIFO open for writing: it never reads EOF
    # when the runtime (which holds the probe's end too) exits without starting the probe.
    ready = os.open(probe / "ready", (os.O_RDWR if image else os.O_RDONLY) | os.O_NONBLOCK)
    inherited: tuple[int, ...] = ()
    if image is not None:
        inherited = (os.open(probe / "ready", os.O_WRONLY | os.O_NONBLOCK),
                     os.open(probe / "hold", os.O_RDWR))
        run.argv = probe_argv_fds(*inherited, before)
        spec["argv"] = list(run.argv)
    report_r, report_w = os.pipe()
    os.set_blocking(report_r, False)
    out = open(case_dir / "output", "wb")
    runtime_done = False
    outside: list[str] = []
    try:
        argv = [sys.executable, "-m", "kernel_helpers.course.harness.runner", str(path),
                "--spec", json.dumps(spec), "--report-fd", str(report_w),
                *[f"--stand-in={s}" for s in stand_ins], *[f"--trace={t}" for t in trace]]

        def into_case() -> None:  # in the runner, before exec: its cgroup and its own mount table
            for folder in home:  # the case's group (v2: a leaf of it, sandbox.runtime_home)
                LINUX.write_knob(os.path.join(folder, "cgroup.procs"), str(os.getpid()))
            LINUX.unshare(Namespace.MNT.flag | (Namespace.NET.flag if netns else 0))
            for cap in RUNTIME_DENIED:  # gone from the bounding set: after exec, for good
                LINUX.prctl(PR_CAPBSET_DROP, CAP_NUMBER[cap])
            for sig in RESET_SIGNALS:  # a judge that ignores them (a sandbox's PID 1) must not
                signal.signal(sig, signal.SIG_DFL)  # pass that on: TERM stops a container

        env = dict(os.environ, PYTHONPATH=KIT_ROOT, PYTHONDONTWRITEBYTECODE="1")
        # extra_groups: root as sudo starts it, in group 0 besides (lab 04: a container whose
        # command keeps a host group is seen, even where the judge itself has none)
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=out,
                                pass_fds=(report_w, *inherited), preexec_fn=into_case, cwd=case_dir,
                                env=env, start_new_session=True, extra_groups=[0])
        os.close(report_w)
        run.runtime_ns = {k: v.inode for k, v in namespaces_of(proc.pid).items()}
        if netns:
            run.runtime_netns = os.open(f"/proc/{proc.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        assert proc.stdin is not None
        proc.stdin.write(b"g")
        proc.stdin.close()
        pidfd = os.pidfd_open(proc.pid)
        try:
            started = _wait_ready(ready, pidfd, deadline, group, run.argv, proc.pid)
            if started is None:
                run.timed_out = True
            elif started:
                container = _find_container(group, run.argv, proc.pid)
                if container is not None:
                    outside = sandbox.strays(group, container, spec["run_prefix"])
                    run.during = len(sandbox.mount_table())
                    run.held = observe.hold(container, run.during)
                    if look is not None:
                        run.seen = look(container, run)
                    run.runtime_waiting = observe.status(proc.pid).get("State", "Z")[:1] not in ("Z", "")
                    _release(probe, container, release)
            if not run.timed_out:
                run.timed_out = not _wait_exit(pidfd, deadline)
        finally:
            os.close(pidfd)
        if run.timed_out:
            group.kill()
        code = proc.wait()
        runtime_done = not run.timed_out
        run.status = 128 - code if code < 0 else code
        if after is not None and runtime_done:
            run.seen["after"] = after(proc.pid, run)
    finally:
        for fd in (ready, *inherited):
            os.close(fd)
        out.close()
        run.after = len(sandbox.mount_table())
        run.hostnames = (hostname, os.uname().nodename)
        if run.hostnames[1] != hostname:
            LINUX.sethostname(hostname)  # the judge's private uts namespace, for the next case
        run.report = _drain(report_r)
        run.pidfile = observe.read(spec["pidfile"])
        if run.rootfs and os.path.isdir(run.rootfs):
            run.rootfs_after = set(os.listdir(run.rootfs))
        run.output = _tail(case_dir / "output")
        run.leftovers = sandbox.janitor(group, baseline, case_dir, runtime_done, outside)
        if run.runtime_netns is not None:
            os.close(run.runtime_netns)
            run.leftovers += _machine_links(str(spec.get("run_prefix") or ""))
    return run


def _machine_links(prefix: str) -> list[str]:
    """Interfaces named from the run prefix that a runtime moved into the judge's own network
    namespace (the machine's: e.g. link_set_netns to pid 1), deleted (lab 07)."""
    from kernel_helpers.net import netdev
    found = sorted(name for name in netdev.link_names() if prefix and name.startswith(prefix))
    for name in found:
        netdev.delete_link(name)
    return ["an interface it moved into the machine's own network namespace"] * bool(found)


def _wait_ready(ready: int, pidfd: int, deadline: float, group: Cgroup,
                argv: tuple[str, ...], runtime: int) -> bool | None:
    """True once the probe says ready; False if the runtime exited and nothing of its container
    is left to say it; None at the deadline. A container whose runtime exited (or crashed) while
    the child was still on its way to exec the probe still gets to say ready."""
    exited = False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        watch = [ready] if exited else [ready, pidfd]
        readable, _, _ = select.select(watch, [], [], min(left, EXITED_POLL) if exited else left)
        if ready in readable:
            return True
        exited = exited or pidfd in readable
        if exited and not sandbox.pids_within(group) and _find_container(group, argv,
                                                                         runtime) is None:
            return False


def _wait_exit(pidfd: int, deadline: float) -> bool:
    left = max(0.0, deadline - time.monotonic())
    readable, _, _ = select.select([pidfd], [], [], left)
    return bool(readable)


def _find_container(group: Cgroup, argv: tuple[str, ...], runtime: int) -> int | None:
    """The process running the probe, found in the case's cgroup or a group the runtime made
    in it, else among the runtime's descendants (lab 05: a group made elsewhere); never from
    the learner."""
    want = ("\0".join(argv) + "\0").encode()
    for pid in [*sandbox.pids_within(group), *sandbox.descendants(runtime)]:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read() == want:
                    return int(pid)
        except OSError:
            continue
    return None


def _release(probe: Path, container: int, code: int | None) -> None:
    if code is None:
        os.kill(container, signal.SIGKILL)
        return
    fd = os.open(probe / "hold", os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(fd, f"{code}\n".encode())
    finally:
        os.close(fd)


def _drain(fd: int) -> list[str]:
    chunks = []
    try:
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)
    return b"".join(chunks).decode(errors="replace").splitlines()


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - OUTPUT_CAP))
            return f.read().decode(errors="replace")
    except OSError:
        return ""
