"""Learner runtimes for the harness's tests: wrong ones (each names the mistake it makes), correct
ones written differently from the reference, and misbehaving ones (hangs, leftovers, crashes).

Each is a dict of slot name -> code; `runtime_file` puts them into the reference file, so a
variant of one slot runs with the reference for the others (or the template's stubs).
"""

from __future__ import annotations

from pathlib import Path

from kernel_helpers.course.standins import reference_text  # the instructor's tree
from kernel_helpers.course.workfile import template

REF_RUN_TAIL = '''
    lk.write_pidfile(spec, pid)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)
'''

CHILD = '''
        try:
            if spec.rootfs:
                enter_rootfs(spec.rootfs)
                mount_pseudo_fs()
            os.execvp(spec.argv[0], list(spec.argv))
        finally:
            os._exit(127)
'''


def _run(before_fork: str, child: str = CHILD, tail: str = REF_RUN_TAIL) -> str:
    return f"def run(spec):\n{before_fork}    pid = os.fork()\n    if pid == 0:{child}{tail}"


WRONG_RUN = {  # step pid.run: case -> variants that must fail it
    "pid1": {
        "forks before unsharing": _run("", child='''
        lk.unshare(lk.CLONE_NEWPID)
        os.execvp(spec.argv[0], list(spec.argv))
'''),
        "never unshares": _run(""),
        "forks twice: the command is PID 2": _run("    lk.unshare(lk.CLONE_NEWPID)\n", child='''
        if os.fork() == 0:
            os.execvp(spec.argv[0], list(spec.argv))
        os.wait()
        os._exit(0)
'''),
    },
    "pidfile": {
        "writes its own pid": _run("    lk.unshare(lk.CLONE_NEWPID)\n", tail=REF_RUN_TAIL.replace(
            "lk.write_pidfile(spec, pid)", "lk.write_pidfile(spec, os.getpid())")),
        "writes no pidfile": _run("    lk.unshare(lk.CLONE_NEWPID)\n", tail=REF_RUN_TAIL.replace(
            "lk.write_pidfile(spec, pid)", "pass")),
        "writes the pid in the child's numbering": _run("    lk.unshare(lk.CLONE_NEWPID)\n",
                                                         tail=REF_RUN_TAIL.replace(
            "lk.write_pidfile(spec, pid)", "lk.write_pidfile(spec, 1)")),
    },
}

WRONG_STATUS = {  # step pid.exit-status
    "exit-code": {
        "returns the raw wait status": _run("    lk.unshare(lk.CLONE_NEWPID)\n", tail='''
    lk.write_pidfile(spec, pid)
    _, status = os.waitpid(pid, 0)
    return status
'''),
        "does not wait": _run("    lk.unshare(lk.CLONE_NEWPID)\n", tail='''
    lk.write_pidfile(spec, pid)
    return 0
'''),
        "returns 1 for any failure": _run("    lk.unshare(lk.CLONE_NEWPID)\n", tail='''
    lk.write_pidfile(spec, pid)
    _, status = os.waitpid(pid, 0)
    return 0 if status == 0 else 1
'''),
    },
    "killed": {
        "ignores signals": _run("    lk.unshare(lk.CLONE_NEWPID)\n", tail='''
    lk.write_pidfile(spec, pid)
    _, status = os.waitpid(pid, 0)
    return os.WEXITSTATUS(status)
'''),
        "returns the signal number": _run("    lk.unshare(lk.CLONE_NEWPID)\n", tail='''
    lk.write_pidfile(spec, pid)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
'''),
        "returns Popen's negative code": _run("    lk.unshare(lk.CLONE_NEWPID)\n", tail='''
    lk.write_pidfile(spec, pid)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)
'''),
    },
}

_ENTER = '''def enter_rootfs(rootfs):
{unshare}{private}    lk.mount(rootfs, rootfs, None, lk.MS_BIND | lk.MS_REC)
    os.chdir(rootfs)
{pivot}'''
_PIVOT = '''    lk.pivot_root(".", ".")
    lk.umount2(".", lk.MNT_DETACH)
    os.chdir("/")
'''


def _enter(unshare: bool = True, private: bool = True, pivot: str = _PIVOT) -> str:
    return _ENTER.format(
        unshare="    lk.unshare(lk.CLONE_NEWNS)\n" if unshare else "",
        private="    lk.mount(None, '/', None, lk.MS_REC | lk.MS_PRIVATE)\n" if private else "",
        pivot=pivot)


WRONG_ENTER = {  # step mnt.enter-rootfs
    "private": {
        "forgets MS_PRIVATE": _enter(private=False),
        "makes / shared again": _enter(private=False, pivot="    lk.mount(None, '/', None, "
                                       "lk.MS_REC | lk.MS_SHARED)\n" + _PIVOT),
        "mounts a tmpfs before making / private": _enter(private=False, pivot='''    os.makedirs("tmp", exist_ok=True)
    lk.mount("tmpfs", "tmp", "tmpfs")
    lk.mount(None, "/", None, lk.MS_REC | lk.MS_PRIVATE)
''' + _PIVOT),
    },
    "pivot": {
        "chroots instead of pivot_root": _enter(pivot='''    lk.chroot(".")
    os.chdir("/")
'''),
        "never unshares the mount namespace": _enter(unshare=False),
        "chroots without the bind mount": '''def enter_rootfs(rootfs):
    lk.unshare(lk.CLONE_NEWNS)
    lk.mount(None, "/", None, lk.MS_REC | lk.MS_PRIVATE)
    lk.chroot(rootfs)
    os.chdir("/")
''',
    },
    "old-root": {
        "leaves the old root mounted on top": _enter(pivot='''    lk.pivot_root(".", ".")
    os.chdir("/")
'''),
        "leaves the old root at /.old": _enter(pivot='''    os.makedirs(".old", exist_ok=True)
    lk.pivot_root(".", ".old")
    os.chdir("/")
'''),
        "unmounts but keeps the folder": _enter(pivot='''    os.makedirs(".old", exist_ok=True)
    lk.pivot_root(".", ".old")
    os.chdir("/")
    lk.umount2("/.old", lk.MNT_DETACH)
'''),
    },
}

_PSEUDO = '''def mount_pseudo_fs():
{proc}{sys}{dev}'''
_PROC = "    lk.mount('proc', '/proc', 'proc')\n"
_SYS = "    lk.mount('sysfs', '/sys', 'sysfs', lk.MS_RDONLY)\n"
_DEV = '''    lk.mount('tmpfs', '/dev', 'tmpfs', lk.MS_NOSUID, 'mode=755')
    for name, (major, minor) in {names}.items():
        lk.mknod('/dev/' + name, stat.S_IFCHR | 0o666, os.makedev(major, minor))
'''
_ALL = ('{"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), '
        '"urandom": (1, 9), "tty": (5, 0)}')


def _pseudo(proc: str = _PROC, sys: str = _SYS, dev: str = _DEV.format(names=_ALL)) -> str:
    return _PSEUDO.format(proc=proc, sys=sys, dev=dev)


WRONG_PSEUDO = {  # step mnt.pseudo-fs
    "proc": {
        "no /proc": _pseudo(proc=""),
        "a tmpfs on /proc": _pseudo(proc="    lk.mount('tmpfs', '/proc', 'tmpfs')\n"),
        "proc mounted on /mnt": _pseudo(proc="    os.makedirs('/mnt', exist_ok=True)\n"
                                        "    lk.mount('proc', '/mnt', 'proc')\n"),
    },
    "sys": {
        "sysfs writable": _pseudo(sys="    lk.mount('sysfs', '/sys', 'sysfs')\n"),
        "no /sys": _pseudo(sys=""),
        "a tmpfs on /sys": _pseudo(sys="    lk.mount('tmpfs', '/sys', 'tmpfs', lk.MS_RDONLY)\n"),
    },
    "dev": {
        "the host's devtmpfs": _pseudo(dev="    lk.mount('devtmpfs', '/dev', 'devtmpfs')\n"),
        "only /dev/null": _pseudo(dev=_DEV.format(names='{"null": (1, 3)}')),
        "nodes on the rootfs, no tmpfs": _pseudo(dev=_DEV.split("\n", 1)[1].format(names=_ALL)),
        "zero with the wrong numbers": _pseudo(dev=_DEV.format(names=_ALL.replace("(1, 5)", "(1, 4)"))),
    },
}

RIGHT = {  # correct, written differently from the reference
    "run": {
        "posix_spawn and Popen-style codes": '''def run(spec):
    lk.unshare(lk.CLONE_NEWPID)
    if spec.rootfs:
        pid = os.fork()
        if pid == 0:
            enter_rootfs(spec.rootfs)
            mount_pseudo_fs()
            os.execvp(spec.argv[0], list(spec.argv))
    else:
        pid = os.posix_spawnp(spec.argv[0], list(spec.argv), os.environ)
    with open(spec.pidfile, "w") as f:
        f.write(str(pid))
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return 128 - code if code < 0 else code
''',
        "a helper, flags kept in a variable, WIFEXITED first": '''NEW_PID = lk.CLONE_NEWPID


def _child(spec):
    if spec.rootfs is not None:
        enter_rootfs(spec.rootfs)
        mount_pseudo_fs()
    os.execv(__import__("shutil").which(spec.argv[0]) or spec.argv[0], list(spec.argv))


def run(spec):
    lk.unshare(NEW_PID)
    child = os.fork()
    if not child:
        try:
            _child(spec)
        except BaseException:
            pass
        os._exit(127)
    lk.write_pidfile(spec, child)
    while True:
        got, status = os.waitpid(child, 0)
        if got == child:
            break
    if os.WIFEXITED(status):
        return os.WEXITSTATUS(status)
    return 128 + os.WTERMSIG(status)
''',
    },
    "enter_rootfs": {
        "put_old folder, unmounted and removed": '''def enter_rootfs(rootfs):
    lk.unshare(lk.CLONE_NEWNS)
    lk.mount(None, "/", None, lk.MS_REC | lk.MS_PRIVATE)
    lk.mount(rootfs, rootfs, None, lk.MS_BIND | lk.MS_REC)
    old = os.path.join(rootfs, ".oldroot")
    os.mkdir(old)
    lk.pivot_root(rootfs, old)
    os.chdir("/")
    lk.umount2("/.oldroot", lk.MNT_DETACH)
    os.rmdir("/.oldroot")
''',
        "MS_SLAVE, absolute paths": '''def enter_rootfs(rootfs):
    lk.unshare(lk.CLONE_NEWNS)
    lk.mount("none", "/", None, lk.MS_SLAVE | lk.MS_REC)
    lk.mount(rootfs, rootfs, "bind", lk.MS_BIND)
    os.chdir(rootfs)
    lk.pivot_root(rootfs, rootfs)
    lk.umount2("/", lk.MNT_DETACH)
    os.chdir("/")
''',
    },
    "mount_pseudo_fs": {
        "remounted read-only, os.mknod": '''def mount_pseudo_fs():
    lk.mount("proc", "/proc", "proc", 0)
    lk.mount("sysfs", "/sys", "sysfs", 0)
    lk.mount(None, "/sys", None, lk.MS_REMOUNT | lk.MS_BIND | lk.MS_RDONLY)
    lk.mount("devfs", "/dev", "tmpfs", 0, "mode=0755")
    for name, minor in (("null", 3), ("zero", 5), ("full", 7), ("random", 8), ("urandom", 9)):
        os.mknod("/dev/" + name, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
    os.mknod("/dev/tty", 0o666 | stat.S_IFCHR, os.makedev(5, 0))
''',
        "a table and a loop, extra nodes": '''NODES = [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8),
         ("urandom", 1, 9), ("tty", 5, 0)]


def mount_pseudo_fs():
    for source, target, fstype, flags in (("proc", "/proc", "proc", lk.MS_NOSUID),
                                          ("sysfs", "/sys", "sysfs", lk.MS_RDONLY | lk.MS_NOEXEC),
                                          ("tmpfs", "/dev", "tmpfs", lk.MS_NOSUID)):
        lk.mount(source, target, fstype, flags)
    for name, major, minor in NODES:
        lk.mknod(f"/dev/{name}", stat.S_IFCHR | 0o620, os.makedev(major, minor))
    os.symlink("/proc/self/fd", "/dev/fd")
''',
    },
}

MISBEHAVING = {
    "forks a process that never exits": _run("    if os.fork() == 0:\n        os.setsid()\n"
                                             "        os.execvp('sleep', ['sleep', '1000'])\n"
                                             "    lk.unshare(lk.CLONE_NEWPID)\n"),
    "loops forever": "def run(spec):\n    while True:\n        pass\n",
    "leaves a mount": _run("    lk.unshare(lk.CLONE_NEWPID)\n"
                           "    os.makedirs(spec.pidfile + '.d', exist_ok=True)\n"
                           "    lk.mount('tmpfs', spec.pidfile + '.d', 'tmpfs')\n"),
    "leaves a cgroup": _run("    lk.unshare(lk.CLONE_NEWPID)\n"
                            "    for root in ('/sys/fs/cgroup/pids', '/sys/fs/cgroup'):\n"
                            "        parent = os.path.join(root, spec.cgroup_parent or '')\n"
                            "        if spec.cgroup_parent and os.path.isdir(parent):\n"
                            "            os.mkdir(os.path.join(parent, spec.run_prefix + 'x'))\n"
                            "            break\n"),
    "crashes mid-case": _run("    lk.unshare(lk.CLONE_NEWPID)\n", tail="\n    os.abort()\n"),
    "prints a lot": _run("    lk.unshare(lk.CLONE_NEWPID)\n"
                         "    for i in range(20000):\n        print('debug line', i)\n"),
}


def runtime_file(folder: Path, base: str = "reference", **slots: str) -> Path:
    """A myruntime.py: the reference (or the template's stubs) with `slots` replaced."""
    from kernel_helpers.course.workfile import write_slot
    path = folder / "myruntime.py"
    path.write_text(reference_text() if base == "reference" else template())
    for name, code in slots.items():
        write_slot(name, code, path)
    return path


WRONG_BY_STEP = {"pid.run": ("run", WRONG_RUN), "pid.exit-status": ("run", WRONG_STATUS),
                 "mnt.enter-rootfs": ("enter_rootfs", WRONG_ENTER),
                 "mnt.pseudo-fs": ("mount_pseudo_fs", WRONG_PSEUDO)}
"""Runtime step -> (the slot its wrong variants replace, {case: {mistake: code}});
`labkit course validate` requires each variant to fail its case."""


def _load_lab(name: str) -> dict[str, tuple[str, dict]]:
    """A lab's own variants module (tests/course/variants_labNN.py), loaded by path, so
    `labkit course validate` (which loads this file by path) finds it too."""
    import importlib.util
    import sys
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:
        sys.path.insert(0, here)
    spec = importlib.util.spec_from_file_location(name, Path(here, f"{name}.py"))
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.BY_STEP)


for _path in sorted(Path(__file__).resolve().parent.glob("variants_lab*.py")):
    WRONG_BY_STEP.update(_load_lab(_path.stem))


def statuses(verdict: dict) -> list[str]:
    """Each case's status in a lab verdict, in order."""
    return [c["status"] for c in verdict["cases"]]


def failed_case(path: Path, lab: str, case: str, name: str) -> dict:
    """`case` of `lab` judged on `path` alone (no stand-ins): it must fail with a hint, and
    never tell the learner to run labkit cleanup (that would touch other people's work)."""
    from kernel_helpers.course.runtime_check import judge
    first: dict = next(c for c in judge(path, lab, "own", case)["cases"] if c["case"] == case)
    assert first["status"] == "fail", (name, first)
    assert first["hint"] and "labkit cleanup" not in first["message"] + first["hint"]
    return first
