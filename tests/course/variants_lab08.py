"""Lab 08's learner runtimes for the tests and `labkit course validate`: wrong ones, each naming
its mistake, and correct ones written differently from the reference.

A variant is the code of one slot (`mask_paths`, `harden` or `fake_meminfo`), or a dict of slots, run with the
reference for the rest; every run asks for different extra capabilities (spec.cap_add), so a
fixed list fails.
"""

from __future__ import annotations

from kernel_helpers.course.standins import reference_slot  # the instructor's tree

_MASK = "def mask_paths():\n"
_FILES = '''    for path in lk.MASKED_PATHS:
        if os.path.isfile(path):
            lk.mount("/dev/null", path, None, lk.MS_BIND)
'''
_DIRS = '''    for path in lk.MASKED_PATHS:
        if os.path.isdir(path):
            lk.mount("tmpfs", path, "tmpfs", lk.MS_RDONLY)
'''
_RO = '''    for path in lk.READONLY_PATHS:
        if os.path.exists(path):
            lk.mount(path, path, None, lk.MS_BIND | lk.MS_REC)
            lk.mount(None, path, None, lk.MS_REMOUNT | lk.MS_BIND | lk.MS_RDONLY)
'''

WRONG_MASK = {  # step security.masked-paths
    "masked": {
        "masks only files, not folders": _MASK + _FILES + _RO,
        "folders under a writable tmpfs": _MASK + _FILES + _DIRS.replace("lk.MS_RDONLY", "0") + _RO,
        "masks only /proc/kcore and /proc/keys": _MASK + '''    for path in ("/proc/kcore", "/proc/keys"):
        if os.path.exists(path):
            lk.mount("/dev/null", path, None, lk.MS_BIND)
''' + _DIRS + _RO,
        "makes the masked paths read-only instead": _MASK + _RO.replace("READONLY_PATHS",
                                                                       "MASKED_PATHS") + _RO,
    },
    "read-only": {
        "masks, nothing read-only": _MASK + _FILES + _DIRS,
        "binds with MS_RDONLY in one call": _MASK + _FILES + _DIRS + '''    for path in lk.READONLY_PATHS:
        if os.path.exists(path):
            lk.mount(path, path, None, lk.MS_BIND | lk.MS_RDONLY)
''',
        "only /proc/sys read-only": _MASK + _FILES + _DIRS + _RO.replace("lk.READONLY_PATHS",
                                                                         '["/proc/sys"]'),
    },
}

_HARDEN = "def harden(spec):\n"
_KEEP = "    keep = set(lk.DEFAULT_CAPS) | set(spec.cap_add)\n"
_BOUNDING = '''    for number in range(lk.cap_last_cap() + 1):
        if number not in {lk.cap_number(name) for name in keep}:
            lk.prctl(lk.PR_CAPBSET_DROP, number)
'''
_CAPSET = '''    mask = sum(1 << lk.cap_number(name) for name in keep)
    lk.prctl(lk.PR_CAP_AMBIENT, lk.PR_CAP_AMBIENT_CLEAR_ALL)
    lk.capset(mask, mask, 0)
'''
_NNP = "    lk.prctl(lk.PR_SET_NO_NEW_PRIVS, 1)\n"
_SECCOMP = "    lk.seccomp_load(lk.seccomp_default_program(keep))\n"
_CAPS_WRONG = {
    "drops effective but not bounding": _HARDEN + _KEEP + _CAPSET + _NNP + _SECCOMP,
    "keeps SYS_ADMIN": _HARDEN + _KEEP + "    keep.add('SYS_ADMIN')\n" + _BOUNDING + _CAPSET
                       + _NNP + _SECCOMP,
    "ignores cap_add": _HARDEN + "    keep = set(lk.DEFAULT_CAPS)\n" + _BOUNDING + _CAPSET + _NNP
                       + _SECCOMP,
    "drops only the first 32 capabilities": _HARDEN + _KEEP + _BOUNDING.replace(
        "lk.cap_last_cap() + 1", "32") + _CAPSET + _NNP + _SECCOMP,
    "drops SETPCAP too": _HARDEN + _KEEP + "    keep.discard('SETPCAP')\n" + _BOUNDING.replace(
        "    for number", "    lk.prctl(lk.PR_CAPBSET_DROP, lk.cap_number('SETPCAP'))\n"
        "    for number") + _CAPSET + _NNP + _SECCOMP,
}


def _harden_first() -> str:
    """The reference run with harden before enter_userns: the filter then refuses the unshare."""
    lines = reference_slot("run").splitlines()
    at = next(n for n, line in enumerate(lines) if line.strip() == "if spec.uid_map:")
    harden = next(n for n, line in enumerate(lines) if line.strip() == "harden(spec)")
    moved = lines[:at] + [lines[harden]] + [line for n, line in enumerate(lines[at:], at)
                                            if n != harden]
    return "\n".join(moved) + "\n"


WRONG_HARDEN = {  # steps security.capabilities and security.seccomp
    "caps": dict(_CAPS_WRONG),
    "caps-userns": {**{name: _CAPS_WRONG[name] for name in
                       ("drops effective but not bounding", "keeps SYS_ADMIN", "ignores cap_add")},
                    "hardens before entering the user namespace": {"run": _harden_first()}},
    "no-new-privs": {
        "seccomp first, no_new_privs never": _HARDEN + _KEEP + _SECCOMP + _BOUNDING + _CAPSET,
        "PR_SET_KEEPCAPS for no_new_privs": _HARDEN + _KEEP + _BOUNDING + _CAPSET
                                            + "    lk.prctl(8, 1)\n" + _SECCOMP,
        "gives up on seccomp quietly, no no_new_privs": _HARDEN + _KEEP + _BOUNDING + _CAPSET
                                                        + "    try:\n    " + _SECCOMP
                                                        + "    except OSError:\n        pass\n",
    },
    "seccomp": {
        "never loads a filter": _HARDEN + _KEEP + _BOUNDING + _CAPSET + _NNP,
        "the profile for every capability": _HARDEN + _KEEP + _BOUNDING + _CAPSET + _NNP
                                            + "    lk.seccomp_load(lk.seccomp_default_program("
                                              "lk.CAPS))\n",
        "loads before no_new_privs, errors ignored": _HARDEN + _KEEP + _BOUNDING + _CAPSET
                                                     + "    try:\n    " + _SECCOMP
                                                     + "    except OSError:\n        pass\n"
                                                     + _NNP,
        "seccomp after dropping SYS_ADMIN, before no_new_privs": _HARDEN + _KEEP + _BOUNDING
                                                                 + _CAPSET + _SECCOMP + _NNP,
    },
}


def _fake(total: str = "spec.memory_max // 1024", capped: tuple[str, ...] = ("MemFree", "MemAvailable"),
          path: str = "/dev/.meminfo", bind: str = "lk.mount(path, '/proc/meminfo', None, lk.MS_BIND)",
          ) -> str:
    """A fake_meminfo like the reference's, with one piece changed."""
    return f'''def fake_meminfo(spec):
    limit = {total}
    out = []
    for line in open("/proc/meminfo"):
        key, value = line.split(":", 1)
        if key == "MemTotal":
            line = f"MemTotal: {{limit}} kB\\n"
        elif key in {capped!r}:
            line = f"{{key}}: {{min(int(value.split()[0]), limit)}} kB\\n"
        out.append(line)
    path = "{path}"
    with open(path, "w") as f:
        f.writelines(out)
    {bind}
'''


_COPY_WITHOUT_LIMIT = '''def fake_meminfo(spec):
    with open("/proc/meminfo") as f:
        text = f.read()
    if spec.memory_max:
        kb = spec.memory_max // 1024
        text = "".join(f"MemTotal: {kb} kB\\n" if line.startswith("MemTotal:") else line
                       for line in text.splitlines(True))
    with open("/dev/.meminfo", "w") as f:
        f.write(text)
    lk.mount("/dev/.meminfo", "/proc/meminfo", None, lk.MS_BIND)
'''


def _run_calls_fake(condition: str | None) -> str:
    """The reference run with fake_meminfo under another condition (None: always)."""
    lines = reference_slot("run").splitlines()
    at = next(n for n, line in enumerate(lines) if line.strip() == "if spec.memory_max:")
    if condition is None:
        del lines[at]
        lines[at] = lines[at].replace("    fake_meminfo", "fake_meminfo", 1)
    else:
        lines[at] = lines[at].replace("spec.memory_max", condition)
    return "\n".join(lines) + "\n"


WRONG_MEMINFO = {  # step security.meminfo
    "meminfo": {
        "MemTotal hard-coded to the demo's 64 MiB": _fake(total="64 * 1024"),
        "the limit in bytes, not kB": _fake(total="spec.memory_max"),
        "replaces only MemTotal": _fake(capped=()),
        "caps MemFree, not MemAvailable": _fake(capped=("MemFree",)),
        "source and target swapped": _fake(
            bind="lk.mount('/proc/meminfo', path, None, lk.MS_BIND)"),
        "writes the fake into the rootfs": _fake(path="/etc/meminfo"),
    },
    "meminfo-host": {
        "fakes a demo limit when none is asked": {
            "run": _run_calls_fake(None),
            "fake_meminfo": _fake(total="(spec.memory_max or 64 << 20) // 1024")},
        "binds an unchanged copy when no limit is asked": {
            "run": _run_calls_fake(None), "fake_meminfo": _COPY_WITHOUT_LIMIT},
        "a pids limit is enough to fake it": {
            "run": _run_calls_fake("cgroup"), "fake_meminfo": _COPY_WITHOUT_LIMIT},
    },
}

RIGHT = {  # correct, written differently from the reference
    "mask_paths": {
        "isfile first, quiet flags, a tiny tmpfs": '''def mask_paths():
    quiet = lk.MS_NOSUID | lk.MS_NODEV | lk.MS_NOEXEC
    for path in lk.MASKED_PATHS:
        if os.path.isfile(path):
            lk.mount("/dev/null", path, None, lk.MS_BIND)
        elif os.path.isdir(path):
            lk.mount("tmpfs", path, "tmpfs", lk.MS_RDONLY | quiet, "size=4k,nr_inodes=1")
    for path in lk.READONLY_PATHS:
        if not os.path.exists(path):
            continue
        lk.mount(path, path, "bind", lk.MS_BIND)
        lk.mount(path, path, None, lk.MS_REMOUNT | lk.MS_BIND | lk.MS_RDONLY | quiet)
''',
        "try each, skip what this kernel lacks": '''def mask_paths():
    for path in lk.MASKED_PATHS:
        try:
            lk.mount("/dev/null", path, None, lk.MS_BIND)
        except FileNotFoundError:
            continue
        except OSError:  # a folder: /dev/null cannot cover it
            lk.mount("none", path, "tmpfs", lk.MS_RDONLY)
    for path in lk.READONLY_PATHS:
        try:
            lk.mount(path, path, None, lk.MS_BIND | lk.MS_REC)
        except FileNotFoundError:
            continue
        lk.mount(None, path, None, lk.MS_BIND | lk.MS_REMOUNT | lk.MS_RDONLY)
''',
    },
    "fake_meminfo": {
        "re.sub, a read-only bind of a 0444 file": '''def fake_meminfo(spec):
    import re
    kb = spec.memory_max >> 10
    with open("/proc/meminfo") as f:
        text = f.read()
    text = re.sub(r"^MemTotal:( *)\\d+", lambda m: f"MemTotal:{m.group(1)}{kb}", text, flags=re.M)
    for key in ("MemFree", "MemAvailable"):
        text = re.sub(rf"^({key}: *)(\\d+)", lambda m: m.group(1) + str(min(int(m.group(2)), kb)),
                      text, flags=re.M)
    fd = os.open("/dev/meminfo", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    os.write(fd, text.encode())
    os.close(fd)
    lk.mount("/dev/meminfo", "/proc/meminfo", None, lk.MS_BIND)
    lk.mount(None, "/proc/meminfo", None, lk.MS_REMOUNT | lk.MS_BIND | lk.MS_RDONLY)
''',
        "its own tmpfs, detached once bound": '''def fake_meminfo(spec):
    rows = {}
    with open("/proc/meminfo") as f:
        for line in f:
            key, rest = line.split(":", 1)
            rows[key] = rest.split()
    total = spec.memory_max // 1024
    rows["MemTotal"] = [str(total), "kB"]
    for key in ("MemFree", "MemAvailable"):
        if key in rows:
            rows[key][0] = str(min(int(rows[key][0]), total))
    os.mkdir("/dev/.lk")
    lk.mount("tmpfs", "/dev/.lk", "tmpfs", lk.MS_NOSUID | lk.MS_NODEV | lk.MS_NOEXEC, "size=16k")
    with open("/dev/.lk/meminfo", "w") as f:
        f.write("".join(f"{k}: {' '.join(v)}\\n" for k, v in rows.items()))
    lk.mount("/dev/.lk/meminfo", "/proc/meminfo", None, lk.MS_BIND)
    lk.umount2("/dev/.lk", lk.MNT_DETACH)
    os.rmdir("/dev/.lk")
''',
    },
    "harden": {
        "seccomp first, while SYS_ADMIN is held": _HARDEN + _KEEP + _SECCOMP + _BOUNDING
                                                  + _CAPSET + _NNP,
        "names, capget and a mask of the kept bits": '''def harden(spec):
    keep = {lk.cap_number(name) for name in (*lk.DEFAULT_CAPS, *spec.cap_add)}
    for name in lk.CAPS[:lk.cap_last_cap() + 1]:
        if lk.cap_number(name) not in keep:
            lk.prctl(lk.PR_CAPBSET_DROP, lk.cap_number(name))
    effective, permitted, _ = lk.capget()
    mask = permitted & sum(1 << n for n in keep)
    lk.capset(mask, mask, 0)
    lk.prctl(lk.PR_CAP_AMBIENT, lk.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if lk.prctl(lk.PR_GET_NO_NEW_PRIVS) != 1:
        lk.prctl(lk.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    lk.seccomp_load(lk.seccomp_default_program([lk.CAPS[n] for n in keep]))
''',
    },
}

BY_STEP = {"security.masked-paths": ("mask_paths", WRONG_MASK),
           "security.capabilities": ("harden", {case: WRONG_HARDEN[case]
                                                for case in ("caps", "caps-userns")}),
           "security.seccomp": ("harden", {case: WRONG_HARDEN[case]
                                           for case in ("no-new-privs", "seccomp")}),
           "security.meminfo": ("fake_meminfo", WRONG_MEMINFO)}
"""Runtime step -> (the slot its wrong variants replace, {case: {mistake: code}})."""
