"""Lab 08's cases: masked and read-only /proc paths, capabilities, no_new_privs and seccomp.

All judged from the host while the probe holds the container: the Cap*, NoNewPrivs and
Seccomp lines of /proc/PID/status (what the command exec'd with, after exec turned root's
sets into its bounding set), the container's /proc/PID/mountinfo, and its masked paths read
through /proc/PID/root (the container's own mounts, seen from outside). Each run asks for
different extra capabilities (spec.cap_add), so a fixed list fails. The seccomp case has
the probe try, before it says ready, a syscall Docker's profile denies and no capability
check would: unshare(CLONE_NEWUSER), which needs no privilege at all.
The meminfo cases read the container's /proc/meminfo through /proc/PID/root: with a memory
limit (another on every run, never round) its MemTotal must say that limit, from a file on a
filesystem of the container's own; without one, the host's file, with nothing over it.

Taught in: lab 08.
"""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Any

from kernel_helpers import procfs
from kernel_helpers.course.harness import observe
from kernel_helpers.course.harness.cases.base import Case, Fail
from kernel_helpers.course.harness.cases.common import no_leftovers, started
from kernel_helpers.course.harness.cases.lab04 import _ids_asked
from kernel_helpers.course.harness.cases.lab05 import _pids_only
from kernel_helpers.course.harness.judge import PROBE_DIR, Run
from kernel_helpers.procfs import Mount
from kernel_helpers.security.capabilities import CAP_NUMBER, DOCKER_DEFAULT, from_mask, to_mask
from kernel_helpers.security.masking import MASKED_PATHS, READONLY_PATHS

CAP_ADD_POOL = ("NET_ADMIN", "SYS_NICE", "IPC_LOCK", "SYS_RESOURCE", "LINUX_IMMUTABLE",
                "NET_BROADCAST", "LEASE", "IPC_OWNER", "SYS_TTY_CONFIG")
"""What a case asks to add: harmless to the judge, none in the runtime's denied list, none
above 31 (a runtime that drops only the first 32 numbers is caught by SYSLOG and up). Only
those the judge itself holds are asked for (a machine may run the kit with fewer)."""
WORST_FIRST = ("SYS_ADMIN", "SYS_MODULE", "SYSLOG", "NET_ADMIN", "SYS_TIME")
"""Which extra capability a message names first (the same one on every run)."""
UNSHARE = shutil.which("unshare") or "unshare"
"""util-linux's unshare on the host (the seccomp case runs on the host's root)."""


def _cap_add() -> dict[str, Any]:
    """One to three extra capabilities, different on every run."""
    held = from_mask(int(observe.status("self").get("CapBnd", "0"), 16))
    pool = [cap for cap in CAP_ADD_POOL if cap in held]
    count = min(len(pool), 1 + secrets.randbelow(3))
    return {"cap_add": [pool.pop(secrets.randbelow(len(pool))) for _ in range(count)]}


def _cap_add_userns() -> dict[str, Any]:
    return {**_cap_add(), **_ids_asked()}


def _host_kind(path: str) -> str | None:
    """'dir', 'file' or None: /proc and /sys show the same kernel inside and out."""
    if os.path.isdir(path) and not os.path.islink(path):
        return "dir"
    return "file" if os.path.exists(path) else None


def look_masked(pid: int, run: Run) -> dict[str, Any]:
    """Each masked path this kernel has, read through the container's root: its content or listing."""
    seen: dict[str, Any] = {}
    for path in MASKED_PATHS:
        kind = _host_kind(path)
        where = f"/proc/{pid}/root{path}"
        if kind == "dir":
            try:
                seen[path] = ("dir", sorted(os.listdir(where)))
            except OSError:
                seen[path] = ("dir", [])
        elif kind == "file":
            try:
                with open(where, "rb") as f:
                    seen[path] = ("file", f.read(64))
            except OSError:  # a /dev/null on a nodev mount: nothing shows either
                seen[path] = ("file", b"")
    return seen


def _mounted_at(run: Run, path: str) -> list[Mount]:
    held = run.held
    assert held is not None
    return [m for m in held.mounts if m.target == path]


def masked(run: Run) -> Fail | None:
    for path, (kind, content) in run.seen.items():
        mounts = _mounted_at(run, path)
        if kind == "file" and (content or not mounts):
            return Fail(f"{path} is not masked: the container reads the host's",
                        "in mask_paths, for a file of lk.MASKED_PATHS: lk.mount('/dev/null', "
                        "path, None, lk.MS_BIND)")
        if kind == "dir" and (content or not mounts):
            return Fail(f"the folder {path} is not masked: the container sees the host's files "
                        "in it", "in mask_paths, for a folder of lk.MASKED_PATHS: an empty "
                        "tmpfs, lk.mount('tmpfs', path, 'tmpfs', lk.MS_RDONLY)")
        if kind == "dir" and not mounts[-1].read_only:
            return Fail(f"the empty tmpfs over {path} is writable: root inside can put files "
                        "where the host's were", "mount it with lk.MS_RDONLY")
    return None


def _covering(run: Run, path: str) -> Mount | None:
    """The mount a lookup of `path` lands on in the container: the deepest, then the topmost."""
    held = run.held
    assert held is not None
    found = [(len(m.target), n, m) for n, m in enumerate(held.mounts)
             if m.target == path or path.startswith(m.target.rstrip("/") + "/")]
    return max(found, key=lambda item: item[:2])[2] if found else None


def read_only(run: Run) -> Fail | None:
    paths = ("/proc/sys", *[p for p in READONLY_PATHS if p != "/proc/sys"])
    for path in paths:
        if _host_kind(path) is None:
            continue
        mount = _covering(run, path)
        if mount is None or not mount.read_only:
            what = ("root inside can change the whole machine's kernel settings"
                    if path == "/proc/sys" else "root inside can write to it")
            return Fail(f"{path} is writable in the container: {what}",
                        f"in mask_paths, bind {path} onto itself (lk.MS_BIND | lk.MS_REC), then "
                        "remount it with lk.MS_REMOUNT | lk.MS_BIND | lk.MS_RDONLY (the first "
                        "bind ignores MS_RDONLY)")
    return None


def _named(caps: frozenset[str]) -> str:
    return next((c for c in WORST_FIRST if c in caps),
                min(caps, key=lambda c: CAP_NUMBER.get(c, 99)))


def _caps_fail(run: Run, key: str, what: str) -> Fail | None:
    held = run.held
    assert held is not None
    asked = set(run.spec.get("cap_add") or ())
    want = to_mask(DOCKER_DEFAULT | asked)
    got = int(held.status.get(key, "0"), 16)
    extra, missing = from_mask(got & ~want), from_mask(want & ~got)
    if extra:
        hint = ("drop it from the bounding set, first: lk.prctl(lk.PR_CAPBSET_DROP, n) for every "
                "n up to lk.cap_last_cap() not kept; after exec, root's sets become the bounding "
                "set" if key in ("CapBnd", "CapEff", "CapPrm") else
                "lk.prctl(lk.PR_CAP_AMBIENT, lk.PR_CAP_AMBIENT_CLEAR_ALL) and an inheritable "
                "set of 0 in lk.capset")
        return Fail(f"the container's {what} set holds {_named(extra)}, beyond Docker's defaults "
                    "and spec.cap_add", hint)
    if missing and missing <= asked:
        return Fail(f"the container's {what} set lacks the capabilities spec.cap_add asked for",
                    "keep = lk.DEFAULT_CAPS | set(spec.cap_add): drop only what is not in it")
    if missing:
        return Fail(f"the container's {what} set lacks {_named(missing)}, one of Docker's "
                    "defaults", "keep all of lk.DEFAULT_CAPS, plus spec.cap_add")
    return None


def caps(run: Run) -> Fail | None:
    for key, what in (("CapBnd", "bounding"), ("CapEff", "effective"), ("CapPrm", "permitted")):
        failure = _caps_fail(run, key, what)
        if failure:
            return failure
    for key, what in (("CapInh", "inheritable"), ("CapAmb", "ambient")):
        held = run.held
        assert held is not None
        got = from_mask(int(held.status.get(key, "0"), 16))
        if got:
            return Fail(f"the container's {what} set holds {_named(got)}: it should be empty",
                        "lk.prctl(lk.PR_CAP_AMBIENT, lk.PR_CAP_AMBIENT_CLEAR_ALL) and "
                        "lk.capset(mask, mask, 0)")
    return None


def no_new_privs(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    if held.status.get("NoNewPrivs", "0").strip() != "1":
        return Fail("NoNewPrivs is 0 in the container: a setuid binary or a file capability "
                    "could still give its command more", "in harden, after the capabilities: "
                    "lk.prctl(lk.PR_SET_NO_NEW_PRIVS, 1)")
    return None


def look_blocked(pid: int, run: Run) -> dict[str, Any]:
    """What the probe's unshare(CLONE_NEWUSER) returned, before it said ready."""
    folder = Path(run.rootfs or run.case_dir, PROBE_DIR)
    try:
        return {"unshare": (folder / "unshare").read_text().strip()}
    except OSError:
        return {"unshare": ""}


def seccomp(run: Run) -> Fail | None:
    held = run.held
    assert held is not None
    if held.status.get("Seccomp", "0").strip() != "2":
        return Fail("the container runs with no seccomp filter (Seccomp is not 2 in its "
                    "/proc/PID/status)", "last in harden, after no_new_privs: "
                    "lk.seccomp_load(lk.seccomp_default_program(keep))")
    if run.seen.get("unshare") == "0":
        return Fail("the container's filter lets through what Docker's profile denies: "
                    "unshare(CLONE_NEWUSER) worked inside", "build the program for the "
                    "capabilities the container keeps: lk.seccomp_default_program(keep)")
    return None


MEMINFO_MIB = tuple(n for n in range(37, 112) if n % 8)
"""Memory limits the meminfo case asks for, in MiB: never the notebook's 48 or 64, never round."""


def _memory_odd() -> dict[str, Any]:
    return {"memory_max": MEMINFO_MIB[secrets.randbelow(len(MEMINFO_MIB))] << 20}


def _meminfo(path: str) -> dict[str, int]:
    """Key -> first number of each line of a meminfo file (kB for most); {} if unreadable."""
    found: dict[str, int] = {}
    try:
        with open(path) as f:
            for line in f:
                key, _, value = line.partition(":")
                if value.split() and value.split()[0].isdigit():
                    found[key.strip()] = int(value.split()[0])
    except (OSError, UnicodeDecodeError):
        pass
    return found


def look_meminfo(pid: int, run: Run) -> dict[str, Any]:
    """/proc/meminfo as the container reads it and as the host does; the host's filesystems."""
    return {"inside": _meminfo(f"/proc/{pid}/root/proc/meminfo"),
            "host": _meminfo("/proc/meminfo"),
            "host_devs": sorted({m.dev for m in procfs.mounts("self")})}


def meminfo_limit(run: Run) -> Fail | None:
    inside, limit = run.seen.get("inside", {}), int(run.spec["memory_max"])
    mounts = _mounted_at(run, "/proc/meminfo")
    if not mounts or not inside:
        return Fail("the container's /proc/meminfo is the host's: its MemTotal is the whole "
                    "machine's memory, not the container's limit",
                    "in fake_meminfo: write a copy of /proc/meminfo with the limit in it on the "
                    "container's own /dev, then lk.mount(copy, '/proc/meminfo', None, "
                    "lk.MS_BIND); in run, after mask_paths: if spec.memory_max: "
                    "fake_meminfo(spec)")
    total = inside.get("MemTotal")
    if total == limit:
        return Fail("MemTotal in the container's /proc/meminfo is the limit in bytes: the file "
                    "counts kB", "MemTotal: spec.memory_max // 1024")
    if total != limit // 1024:
        return Fail("MemTotal in the container's /proc/meminfo is not its memory limit "
                    "(spec.memory_max, in kB)", "compute it from this run's spec.memory_max "
                    "// 1024: every run asks for another limit")
    for key in ("MemFree", "MemAvailable"):
        if inside.get(key, 0) > total:
            return Fail(f"{key} in the container's /proc/meminfo is larger than its MemTotal: "
                        "more memory free than there is", f"cap {key} too: min(the host's "
                        "value, spec.memory_max // 1024)")
    if mounts[-1].dev in run.seen.get("host_devs", ()):
        return Fail("the fake /proc/meminfo is a file on a filesystem the host keeps (the "
                    "rootfs, or the host's own): it stays there once the container is gone",
                    "write it on a tmpfs of the container's own, such as the /dev that "
                    "mount_pseudo_fs made, and bind it from there")
    return None


def meminfo_host(run: Run) -> Fail | None:
    inside, host = run.seen.get("inside", {}), run.seen.get("host", {})
    if inside.get("MemTotal") != host.get("MemTotal"):
        return Fail("with no memory limit asked, the container's /proc/meminfo does not show "
                    "the machine's memory (its MemTotal is not the host's)",
                    "in run: if spec.memory_max: fake_meminfo(spec); with no limit of its own "
                    "the container may use the whole machine")
    if _mounted_at(run, "/proc/meminfo"):
        return Fail("something is mounted over /proc/meminfo though no memory limit was asked: "
                    "a copy that never changes where the kernel's file is live",
                    "call fake_meminfo only when spec.memory_max is set (a pids limit alone "
                    "is no memory limit)")
    return None


CASES = (
    Case("masked", 0, True, (started, masked, no_leftovers), look=look_masked),
    Case("read-only", 0, True, (started, read_only, no_leftovers)),
    Case("caps", 0, True, (started, caps, no_leftovers), extra=_cap_add),
    Case("caps-userns", 0, True, (started, caps, no_leftovers), extra=_cap_add_userns),
    Case("no-new-privs", 0, True, (started, no_new_privs, no_leftovers), extra=_cap_add),
    Case("seccomp", 0, False, (started, seccomp, no_leftovers), extra=_cap_add,
         look=look_blocked, before=f"{UNSHARE} -U true 2>/dev/null; echo $? > {{dir}}/unshare"),
    Case("meminfo", 0, True, (started, meminfo_limit, no_leftovers), extra=_memory_odd,
         look=look_meminfo),
    Case("meminfo-host", 0, True, (started, meminfo_host, no_leftovers), extra=_pids_only,
         look=look_meminfo),
)
