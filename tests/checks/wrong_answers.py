"""Wrong answers a learner could plausibly write, for every check in the course.

tests/checks/test_every_check_can_fail.py runs each against its check on the
real kernel and requires a FAIL. Each is safe to run: the checks sandbox the
learner's code, so a wrong answer that forgets `unshare` changes only the
check's own namespaces, never the machine's.
"""

from __future__ import annotations

import os

from kernel_helpers.namespaces import Namespace


def _status(pid: int, key: str) -> list[str]:
    with open(f"/proc/{pid}/status") as f:
        return next(line.split()[1:] for line in f if line.startswith(key + ":"))


def ns_from_dev() -> dict[str, int]:
    return {n: os.stat(f"/proc/self/ns/{n}").st_dev for n in os.listdir("/proc/self/ns")}


def ns_missing_some() -> dict[str, int]:
    return {n: os.stat(f"/proc/self/ns/{n}").st_ino for n in ("pid", "uts", "ipc")}








def first_line_only(uid_map: str, uid: int) -> int | None:
    inside, outside, count = (int(x) for x in uid_map.split()[:3])
    return outside + uid - inside


def off_by_one(uid_map: str, uid: int) -> int | None:
    for line in uid_map.splitlines():
        inside, outside, count = (int(x) for x in line.split())
        if inside <= uid <= inside + count:
            return outside + uid - inside
    return None


WRONG = {
    "setup.missing-features": [lambda findings: [f.name for f in findings],
                               lambda findings: [],
                               lambda findings: {f.name for f in findings if not f.ok}],
    "setup.my-namespaces": [ns_from_dev, ns_missing_some],
    "pid.parent": [lambda pid: os.getppid(), lambda pid: pid,
                   lambda pid: int(_status(pid, "Pid")[0])],
    "pid.nested": [lambda pid: [pid], lambda pid: [int(x) for x in _status(pid, "NSpid")][::-1]],
    "user.outside-uid": [first_line_only, off_by_one],
}
"""check id -> wrong answers; every check in the catalogue must have at least one."""


def cgroup_of_self(pid: int) -> dict[str, str]:
    with open("/proc/self/cgroup") as f:  # the caller's groups, not pid's
        return {line.split(":")[1]: line.split(":")[2].strip() for line in f}


WRONG.update({
    "cgroup.paths": [lambda pid: {}, cgroup_of_self],
})


def _walk_names(upper: str, whiteouts: bool, opaque: bool) -> list[str]:
    import stat
    names = []
    for top, dirs, files in os.walk(upper):
        rel = os.path.relpath(top, upper)
        prefix = "" if rel == "." else rel + "/"
        if opaque and prefix and "trusted.overlay.opaque" in os.listxattr(top):
            names.append(prefix + ".wh..wh..opq")
        for name in dirs + files:
            st = os.lstat(os.path.join(top, name))
            wh = whiteouts and stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
            names.append(prefix + (".wh." if wh else "") + name)
    return names


WRONG.update({
    "union.aufs-layer": [lambda upper: _walk_names(upper, whiteouts=False, opaque=True),
                         lambda upper: _walk_names(upper, whiteouts=True, opaque=False),
                         lambda upper: sorted(os.listdir(upper)),
                         lambda upper: {"hello.txt"}],
})


def _runtime(command: list[str], memory: int, overlay: bool = True, group: bool = True,
             harden: bool = True, namespaces: object = None) -> tuple:
    from kernel_helpers import images
    from kernel_helpers.cgroups import Limits
    from kernel_helpers.cgroups.stage import CgroupStage
    from kernel_helpers.images.containerfs import PENDING_ROOTFS, OverlayStage
    from kernel_helpers.rootfs.busybox import busybox_rootfs
    from kernel_helpers.spec import DEFAULT_NAMESPACES, ContainerSpec
    from kernel_helpers.security.hardening import HardeningStage
    spec = ContainerSpec(tuple(command), rootfs=PENDING_ROOTFS if overlay else str(busybox_rootfs()),
                         namespaces=namespaces or DEFAULT_NAMESPACES)
    stages = ((OverlayStage(images.get("busybox")),) if overlay else ()) + \
        ((CgroupStage(Limits(memory=memory)),) if group else ()) + ((HardeningStage(),) if harden else ())
    return spec, stages


def _alive_by_pid_only() -> set[str]:
    from kernel_helpers.state import all_states
    return {s.id for s in all_states() if s.pid and os.path.exists(f"/proc/{s.pid}")}


def _by_status_field() -> set[str]:
    from kernel_helpers.state import all_states
    return {s.id for s in all_states() if s.status == "running"}


WRONG.update({
    "runtime.assemble": [lambda c, m: _runtime(c, m, overlay=False),
                         lambda c, m: _runtime(c, m, group=False),
                         lambda c, m: _runtime(c, m, harden=False),
                         lambda c, m: _runtime(c, m, namespaces=frozenset({Namespace.PID, Namespace.MNT})),
                         lambda c, m: _runtime(c, m)[0]],
    "manage.running": [_alive_by_pid_only, _by_status_field, lambda: set()],
})


def _ship(page: str, port: int, publish: bool = True, limit: bool = True,
          offset: int = 0, serve: bool = True) -> str:
    from kernel_helpers import images
    from kernel_helpers.cgroups import Limits
    from kernel_helpers.cgroups.stage import CgroupStage
    from kernel_helpers.images.containerfs import PENDING_ROOTFS, OverlayStage
    from kernel_helpers.net import NetworkStage
    from kernel_helpers.runtime.detach import run_detached
    from kernel_helpers.spec import ContainerSpec
    script = ('mkdir -p /www && printf "%s" "$1" > /www/index.html && exec httpd -f -p 80 -h /www'
              if serve else "mkdir -p /www && exec httpd -f -p 80 -h /www")
    stages = (OverlayStage(images.get("busybox")),
              *([CgroupStage(Limits(memory=32 * 2**20))] if limit else []),
              *([NetworkStage(ports=(f"127.0.0.1:{port + offset}:80",))] if publish else []))
    return run_detached(ContainerSpec(("/bin/sh", "-c", script, "sh", page), rootfs=PENDING_ROOTFS),
                        stages)


WRONG.update({
    "capstone.ship": [lambda page, port: _ship(page, port, publish=False),
                      lambda page, port: _ship(page, port, limit=False),
                      lambda page, port: _ship(page, port, serve=False),
                      lambda page, port: None],
})


# Third variants, so that every check has at least three known-wrong answers.

def ns_of_init() -> dict[str, int]:
    return {n: os.stat(f"/proc/1/ns/{n}").st_ino for n in os.listdir("/proc/self/ns")}





def cgroup_parent_paths(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/cgroup") as f:
        return {c: line.rstrip("\n").split(":", 2)[2].rsplit("/", 1)[0] or "/"
                for line in f for c in (line.split(":")[1].split(",") or [""])}


for _check_id, _third in (
        ("setup.my-namespaces", ns_of_init),
        ("pid.nested", lambda pid: [int(x) for x in _status(pid, "NSpid")][:1]),
        ("user.outside-uid", lambda uid_map, uid: uid),
        ("cgroup.paths", cgroup_parent_paths)):
    WRONG[_check_id].append(_third)
