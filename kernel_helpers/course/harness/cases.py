"""The cases of each runtime lab, and the checks that judge a case from what the kernel showed.

A check returns None (fine) or a `Fail`: one sentence naming the mistake, and a hint.
A case's checks run in order and the first failure is the verdict, so each case lists
the most basic thing first (did the container start at all) and the subtlest last.
Messages are deterministic: no pids, inodes, times or paths of the scratch folder.

Taught in: lab 01, lab 03.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from kernel_helpers.course.harness.judge import PROBE_DIR, Run
from kernel_helpers.course.harness.observe import DEVICES


@dataclass(frozen=True)
class Fail:
    message: str
    hint: str


Check = Callable[[Run], "Fail | None"]

_STUB = re.compile(r"lab (\d+), step [\w.-]+: (\w+) is not written yet")


def started(run: Run) -> Fail | None:
    """The probe ran and said ready: the runtime started the command."""
    if run.held is not None:
        return None
    raised = run.raised() or ""
    stub = _STUB.search(raised) or _STUB.search(run.output)
    if stub:
        return Fail(f"{stub.group(2)} (lab {stub.group(1)}) is still the stub: it raises "
                    "NotImplementedError", "write it in myruntime.py: the lab's notebook cell, "
                    "`e` in labkit, or any editor")
    if "run" in run.report and not any(line.startswith("called") for line in run.report) \
            and raised == "" and any(line.startswith("error") for line in run.report):
        return Fail("myruntime.py defines no run(spec)", "keep the `def run(spec):` of lab 01")
    if raised and "import" in run.report and "run" not in run.report:
        return Fail(f"myruntime.py does not import: {raised}", "fix that line and check again")
    if raised and "root-moved" in run.report:
        return SHARED_MOUNT_NS
    if raised:
        return Fail(f"your runtime raised {raised}", "the error names the call that failed "
                    "and why; fix it there")
    said = [line.strip() for line in run.output.splitlines() if line.strip()]
    clue = f" (its last words: {said[-1][:200]})" if said else ""
    if run.rootfs is not None:
        return Fail("the command never started inside the rootfs (it could not reach its "
                    "files at /" + PROBE_DIR + ")" + clue,
                    "in run's child, call enter_rootfs(spec.rootfs) and mount_pseudo_fs() "
                    "before os.execvp")
    return Fail("the command never started" + clue, "in the child after fork, call "
                "os.execvp(spec.argv[0], spec.argv)")


def no_leftovers(run: Run) -> Fail | None:
    if not run.leftovers:
        return None
    return Fail(f"your runtime left behind {'; '.join(run.leftovers)}; the kit removed them",
                "wait for every process you start, and undo any mount or cgroup you make "
                "outside the container's own namespaces")


# --- lab 01 ---------------------------------------------------------------------------

def new_pid_namespace(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    if held.ns.get("pid") == run.judge_ns.get("pid"):
        return Fail("the command runs in the host's pid namespace, so it is not PID 1: you "
                    "forked before unsharing, or never unshared",
                    "call lk.unshare(lk.CLONE_NEWPID) in the runtime before os.fork(): the new "
                    "namespace is for the children made after the call")
    return None


def is_pid1(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    levels = held.status.get("NSpid", "").split()
    if levels[-1:] != ["1"]:
        return Fail("the command is in a new pid namespace but is not its PID 1",
                    "fork exactly once after unshare and exec in that child: the first child "
                    "is PID 1")
    return None


def pidfile_names_container(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    text = (run.pidfile or "").strip()
    if not text:
        return Fail("spec.pidfile was not written", "after fork, in the parent: "
                    "lk.write_pidfile(spec, pid)")
    if text != str(held.pid):
        return Fail("spec.pidfile names another process, not the container's command",
                    "write the pid os.fork() returned in the parent, as the host sees it")
    return None


def waited(run: Run) -> Fail | None:
    if not run.runtime_waiting:
        return Fail("your runtime returned while the container was still running",
                    "wait for it: os.waitpid(pid, 0)")
    return None


def _returned(run: Run) -> str:
    """What run returned, as the runner saw it (for the message only; the verdict is the exit)."""
    said = next((line[len("returned "):] for line in run.report if line.startswith("returned ")),
                None)
    return said if said is not None else str(run.status)


def exit_status(expected: int) -> Check:
    def check(run: Run) -> Fail | None:
        if run.status == expected:
            return None
        returned = _returned(run)
        if expected >= 128:
            return Fail(f"the container was killed by signal {expected - 128} but run returned "
                        f"{returned}, not {expected}",
                        "decode the wait status: os.WIFSIGNALED(status) -> 128 + "
                        "os.WTERMSIG(status)")
        return Fail(f"the container exited with {expected} but run returned {returned}",
                    "return os.WEXITSTATUS(status) from the status os.waitpid gives")
    return check


# --- lab 03 ---------------------------------------------------------------------------

def host_mounts_unchanged(run: Run) -> Fail | None:
    if run.during not in (None, run.before) or run.after != run.before:
        return Fail("your mounts appeared in the host's mount table: mount propagation carried "
                    "them out of the container's namespace",
                    "right after unshare(CLONE_NEWNS), make every mount private: "
                    "lk.mount(None, '/', None, lk.MS_REC | lk.MS_PRIVATE)")
    return None


def own_mount_namespace(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    if held.ns.get("mnt") in (run.runtime_ns.get("mnt"), run.judge_ns.get("mnt")):
        return SHARED_MOUNT_NS
    return None


SHARED_MOUNT_NS = Fail("the container shares the runtime's mount namespace (its pivot_root "
                       "moves the runtime's root too)",
                       "call lk.unshare(lk.CLONE_NEWNS) first in enter_rootfs")


def _root_layout(run: Run) -> str:
    """How the container's namespace holds its root: pivoted, stacked, chroot or missing.

    Two views: the namespace's own table (from its root: setns follows to the topmost
    mount at /) and the container's (from its root directory). After pivot_root the
    namespace's / is the rootfs; with the old root left on top, the namespace shows only
    the host's root and the container still sees the rootfs at its /; after chroot the
    namespace's / is still the host's, with the rootfs (if bound) at its host path.
    """
    held = run.held
    assert held is not None
    rootfs, host = (run.scratch_dev, run.rootfs_rel), run.host_root
    ns_root = {(m.dev, m.root) for m in held.ns_mounts if m.target == "/"}
    ns_all = {(m.dev, m.root) for m in held.ns_mounts}
    mine_root = {(m.dev, m.root) for m in held.mounts if m.target == "/"}
    if rootfs in ns_root:
        return "pivoted"
    if host in ns_root and rootfs not in ns_all and rootfs in mine_root:
        return "stacked"
    if host in ns_root:
        return "chroot"
    return "missing"


def pivoted(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    layout = _root_layout(run)
    if layout == "chroot":
        return Fail("the container's mount namespace still has the host's root at /: chroot "
                    "only changes where path lookups start, and root can climb back out",
                    "use pivot_root: bind-mount the rootfs onto itself, chdir into it, "
                    "lk.pivot_root('.', '.'), then detach the old root")
    if layout == "missing":
        return Fail("spec.rootfs is not mounted at / of the container's namespace",
                    "bind-mount it onto itself (MS_BIND | MS_REC) and pivot_root into it")
    if held.root != run.rootfs_id:
        return Fail("the container's root directory is not spec.rootfs",
                    "after pivot_root, chdir('/') so the process stands in the new root")
    return None


def no_old_root(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    if _root_layout(run) == "stacked":
        return Fail("the old root is still mounted, stacked on top of the new one",
                    "right after lk.pivot_root('.', '.'), lk.umount2('.', lk.MNT_DETACH) "
                    "takes it away")
    for mount in held.ns_mounts:
        if (mount.dev, mount.root) == run.host_root:
            return Fail(f"the old root is still mounted at {mount.target} in the container",
                        f"lk.umount2('{mount.target}', lk.MNT_DETACH), then os.rmdir it")
    extra = sorted(run.rootfs_after - run.rootfs_listing)
    if extra:
        return Fail(f"the folder /{extra[0]} where the old root was is still in the new root",
                    f"after detaching the old root, os.rmdir('/{extra[0]}')")
    return None


def proc_mounted(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    if not any(m.target == "/proc" and m.fstype == "proc" for m in held.mounts):
        return Fail("there is no proc at /proc in the container",
                    "in mount_pseudo_fs: lk.mount('proc', '/proc', 'proc')")
    if held.proc_one.get("Name") != held.status.get("Name") or len(held.proc_pids) > 8:
        return Fail("the container's /proc shows the host's processes",
                    "mount a new proc from inside the container's pid namespace (in run's "
                    "child, after enter_rootfs), never a bind of the host's /proc")
    return None


def sys_read_only(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    sys_mounts = [m for m in held.mounts if m.target == "/sys"]
    if not any(m.fstype == "sysfs" for m in sys_mounts):
        return Fail("there is no sysfs at /sys in the container",
                    "lk.mount('sysfs', '/sys', 'sysfs', lk.MS_RDONLY)")
    if not all(m.read_only for m in sys_mounts):
        return Fail("/sys is writable in the container: root inside could change the host's "
                    "kernel settings", "mount it with lk.MS_RDONLY")
    return None


def minimal_dev(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    dev = [m for m in held.mounts if m.target == "/dev"]
    if any(m.fstype == "devtmpfs" for m in dev):
        return Fail("/dev is the host's devtmpfs: every device of the machine is in the container",
                    "mount a tmpfs on /dev and make only the nodes a container needs")
    if not any(m.fstype == "tmpfs" for m in dev):
        return Fail("there is no tmpfs mounted at /dev in the container",
                    "lk.mount('tmpfs', '/dev', 'tmpfs', lk.MS_NOSUID, 'mode=755')")
    for name, numbers in DEVICES.items():
        if held.devices.get(name) != numbers:
            return Fail(f"/dev/{name} is missing or is not the character device {numbers[0]},"
                        f"{numbers[1]}", f"lk.mknod('/dev/{name}', stat.S_IFCHR | 0o666, "
                        f"os.makedev({numbers[0]}, {numbers[1]}))")
    return None


@dataclass(frozen=True)
class Case:
    id: str
    release: int | None
    """The exit code the probe is released with; None: the judge SIGKILLs it instead."""
    rootfs: bool
    checks: tuple[Check, ...]


CASES: dict[str, Case] = {case.id: case for case in (
    Case("pid1", 0, False, (started, new_pid_namespace, is_pid1, no_leftovers)),
    Case("pidfile", 0, False, (started, pidfile_names_container, no_leftovers)),
    Case("exit-code", 7, False, (started, waited, exit_status(7), no_leftovers)),
    Case("killed", None, False, (started, waited, exit_status(137), no_leftovers)),
    Case("private", 0, True, (host_mounts_unchanged, started, own_mount_namespace, no_leftovers)),
    Case("pivot", 0, True, (started, own_mount_namespace, pivoted, no_leftovers)),
    Case("old-root", 0, True, (started, pivoted, no_old_root, no_leftovers)),
    Case("proc", 0, True, (started, proc_mounted, no_leftovers)),
    Case("sys", 0, True, (started, sys_read_only, no_leftovers)),
    Case("dev", 0, True, (started, minimal_dev, no_leftovers)),
)}
"""Every case by id; course.toml lists which cases grade which step."""


def judge(case: Case, run: Run) -> Fail | None:
    for check in case.checks:
        failure = check(run)
        if failure is not None:
            return failure
    return None
