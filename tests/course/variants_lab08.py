"""Lab 08's learner runtimes for the tests and `labkit course validate`: wrong ones, each naming
its mistake, and correct ones written differently from the reference.

A variant is the code of one slot (`mask_paths` or `harden`), or a dict of slots, run with the
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
                                           for case in ("no-new-privs", "seccomp")})}
"""Runtime step -> (the slot its wrong variants replace, {case: {mistake: code}})."""
