"""Linux namespaces: what each one isolates, how to make, inspect and enter them.

- pid: process ids; the first process is PID 1 and sees only its descendants.
- uts: hostname and NIS domain name.
- ipc: System V message queues, semaphores, shared memory; POSIX queues.
- mnt: the mount table; mounts made inside stay inside.
- net: interfaces, addresses, routes, firewall rules, /proc/net.
- user: uid/gid numbering; root inside can be an unprivileged uid outside.
- cgroup: the root of the cgroup tree a process sees in /proc/self/cgroup.
- time: offsets for CLOCK_MONOTONIC and CLOCK_BOOTTIME (Linux 5.6+).

Taught in: lab 01, lab 02, lab 03, lab 04.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import Enum

from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers.errors import InvalidValue, translate_oserror


class Namespace(Enum):
    """A namespace type: its /proc/PID/ns file name and CLONE_NEW* flag."""

    USER = ("user", 0x10000000)
    PID = ("pid", 0x20000000)
    UTS = ("uts", 0x04000000)
    IPC = ("ipc", 0x08000000)
    MNT = ("mnt", 0x00020000)
    NET = ("net", 0x40000000)
    CGROUP = ("cgroup", 0x02000000)
    TIME = ("time", 0x00000080)

    def __init__(self, proc_name: str, flag: int) -> None:
        self.proc_name = proc_name
        self.flag = flag


NAMESPACE_ORDER: tuple[Namespace, ...] = tuple(Namespace)
"""Creation order: user first (it owns the rest), cgroup after joining the cgroup."""

ALL_NAMESPACE_KINDS: tuple[str, ...] = tuple(ns.proc_name for ns in NAMESPACE_ORDER)


def parse_namespaces(names: str | list[str] | tuple[str, ...]) -> frozenset[Namespace]:
    """Turn "pid,uts,mnt" (or a list) into namespaces, naming any unknown one."""
    items = names.split(",") if isinstance(names, str) else list(names)
    wanted: set[Namespace] = set()
    by_name = {ns.proc_name: ns for ns in Namespace}
    for raw in (item.strip() for item in items):
        if not raw:
            continue
        if raw not in by_name:
            raise InvalidValue(f"namespace '{raw}'", "is not a namespace type",
                               f"use some of: {', '.join(ALL_NAMESPACE_KINDS)}")
        wanted.add(by_name[raw])
    return frozenset(wanted)


def clone_flags(namespaces: frozenset[Namespace] | set[Namespace]) -> int:
    """The CLONE_NEW* bit mask for unshare(2)."""
    flags = 0
    for ns in namespaces:
        flags |= ns.flag
    return flags


@dataclass(frozen=True)
class NamespaceId:
    """One namespace of a process: its type and inode (the kernel's identity for it)."""

    kind: str
    inode: int

    def __str__(self) -> str:
        return f"{self.kind}:[{self.inode}]"


def namespaces_of(pid: int | str = "self", proc: str = "/proc") -> dict[str, NamespaceId]:
    """Read /proc/PID/ns/* as `lsns` does; two processes share a namespace iff inodes match."""
    result: dict[str, NamespaceId] = {}
    for kind in ALL_NAMESPACE_KINDS:
        path = f"{proc}/{pid}/ns/{kind}"
        try:
            inode = os.stat(path).st_ino
        except FileNotFoundError:
            continue  # kernel without this namespace type (e.g. time before 5.6)
        except OSError as err:
            raise translate_oserror(err, f"read {path}") from err
        result[kind] = NamespaceId(kind, inode)
    return result


def shared_with(pid: int | str, other: int | str = "self") -> list[str]:
    """The namespace kinds `pid` shares with `other` (the caller by default, i.e. the host side).

    The caller rather than PID 1: in some sandboxes PID 1's namespaces cannot be read.
    """
    mine, theirs = namespaces_of(pid), namespaces_of(other)
    return [kind for kind in ALL_NAMESPACE_KINDS if kind in mine and mine[kind] == theirs.get(kind)]


def unshare(namespaces: frozenset[Namespace] | set[Namespace], kernel: Kernel = LINUX) -> None:
    """Move the calling process into new namespaces (pid and time: its future children)."""
    kernel.unshare(clone_flags(namespaces))


def enter(pid: int, namespaces: frozenset[Namespace] | set[Namespace],
          kernel: Kernel = LINUX) -> None:
    """setns(2) the calling process into `pid`'s namespaces, user first as the kernel needs."""
    enter_paths(tuple((ns, f"/proc/{pid}/ns/{ns.proc_name}") for ns in namespaces),
                kernel, f"namespaces of pid {pid}")


def enter_paths(paths: tuple[tuple[Namespace, str], ...], kernel: Kernel = LINUX,
                what: str = "") -> None:
    """setns(2) into the namespaces at `paths` (an OCI config's namespaces[].path).

    Every file is opened first: once the mount namespace changes, the paths
    would resolve in the new one. Then user first, in NAMESPACE_ORDER.
    """
    fds = []
    try:
        for ns in NAMESPACE_ORDER:
            for kind, path in paths:
                if kind is ns:
                    fds.append((ns, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
        for ns, fd in fds:
            kernel.setns(fd, ns.flag)
    except OSError as err:
        raise translate_oserror(err, f"open {what or 'namespace paths'}") from err
    finally:
        for _, fd in fds:
            os.close(fd)
