"""Lab 04's learner runtimes for the tests and `labkit course validate`: wrong ones, each naming
its mistake, and correct ones written differently from the reference.

A variant is the code of one slot (`write_id_maps` or `enter_userns`), run with the reference
for the rest; every run of a case asks for different ids, so fixed numbers fail.
"""

from __future__ import annotations

from kernel_helpers.course.standins import reference_slot  # the instructor's tree


def _userns_first() -> str:
    """The reference run with enter_userns moved first in the child, as runc orders it."""
    lines = reference_slot("run").splitlines()
    call = [n for n, line in enumerate(lines) if "enter_userns(" in line or "if spec.uid_map:" in
            line and n + 1 < len(lines) and "enter_userns(" in lines[n + 1]]
    moved = [lines[n] for n in call]
    rest = [line for n, line in enumerate(lines) if n not in call]
    at = next(n for n, line in enumerate(rest) if "enter_uts_ipc(" in line)
    return "\n".join(rest[:at] + moved + rest[at:]) + "\n"

_MAPS = "def write_id_maps(pid, spec):\n"
_DENY = "    lk.write_knob(f'/proc/{pid}/setgroups', 'deny')\n"
_UID = "    lk.write_knob(f'/proc/{pid}/uid_map', '%d %d %d\\n' % spec.uid_map)\n"
_GID = "    lk.write_knob(f'/proc/{pid}/gid_map', '%d %d %d\\n' % spec.gid_map)\n"

WRONG_MAPS = {  # step user.id-maps
    "id-maps": {
        "a fixed 100000 base": _MAPS + _DENY + '''    for name in ("uid_map", "gid_map"):
        lk.write_knob(f"/proc/{pid}/{name}", "0 100000 65536\\n")
''',
        "a count of 1": _MAPS + _DENY + '''    lk.write_knob(f"/proc/{pid}/uid_map", f"0 {spec.uid_map[1]} 1\\n")
    lk.write_knob(f"/proc/{pid}/gid_map", f"0 {spec.gid_map[1]} 1\\n")
''',
        "the uid map for gids too": _MAPS + _DENY + _UID + _UID.replace("/uid_map'", "/gid_map'"),
        "only the uid map": _MAPS + _DENY + _UID,
    },
    "setgroups": {
        "never denies setgroups": _MAPS + _UID + _GID,
        "denies setgroups after gid_map": _MAPS + _UID + _GID + _DENY,
        "denies setgroups after gid_map, ignoring the error": _MAPS + _UID + _GID + '''    try:
        lk.write_knob(f'/proc/{pid}/setgroups', 'deny')
    except PermissionError:
        pass
''',
    },
}

_ENTER = "def enter_userns(unshared, mapped):\n"
_UNSHARE = "    os.setgroups([])\n    lk.unshare(lk.CLONE_NEWUSER)\n"
_HANDSHAKE = "    unshared.release()\n    mapped.wait()\n"
_ROOT = "    os.setresgid(0, 0, 0)\n    os.setresuid(0, 0, 0)\n"

WRONG_ENTER = {  # step user.root-inside
    "userns": {
        "never unshares the user namespace": _ENTER + _HANDSHAKE + _ROOT,
        "writes its own maps": _ENTER + _UNSHARE + '''    pid = os.getpid()
    lk.write_knob("/proc/self/setgroups", "deny")
    lk.write_knob("/proc/self/uid_map", "0 %d %d\\n" % (100000, 65536))
    lk.write_knob("/proc/self/gid_map", "0 %d %d\\n" % (100000, 65536))
    unshared.release()
    mapped.wait()
''' + _ROOT,
        "unshares CLONE_NEWNS for CLONE_NEWUSER": _ENTER + "    lk.unshare(lk.CLONE_NEWNS)\n"
                                                  + _HANDSHAKE + _ROOT,
        "enters the user namespace first, its pid namespace the host's": {
            "run": _userns_first()},
    },
    "root-inside": {
        "execs before the parent wrote the maps": _ENTER + _UNSHARE + "    unshared.release()\n",
        "never becomes root inside": _ENTER + _UNSHARE + _HANDSHAKE,
        "setresuid only": _ENTER + _UNSHARE + _HANDSHAKE + "    os.setresuid(0, 0, 0)\n",
        "keeps the host's supplementary groups": _ENTER + "    lk.unshare(lk.CLONE_NEWUSER)\n"
                                                 + _HANDSHAKE + _ROOT,
    },
}

RIGHT = {  # correct, written differently from the reference
    "write_id_maps": {
        "open() and print, gid map defaulting to the uid map": '''def write_id_maps(pid, spec):
    with open(f"/proc/{pid}/setgroups", "w") as f:
        f.write("deny")
    for name, row in (("uid_map", spec.uid_map), ("gid_map", spec.gid_map or spec.uid_map)):
        with open(f"/proc/{pid}/{name}", "w") as f:
            print(*row, file=f)
''',
        "each map as two lines, root first": '''def write_id_maps(pid, spec):
    lk.write_knob(f"/proc/{pid}/setgroups", "deny")
    for name, (inside, outside, count) in (("uid_map", spec.uid_map), ("gid_map", spec.gid_map)):
        lines = f"{inside} {outside} 1\\n{inside + 1} {outside + 1} {count - 1}\\n"
        lk.write_knob(f"/proc/{pid}/{name}", lines)
''',
    },
    "enter_userns": {
        "setuid before setgid, os.setuid/os.setgid": _ENTER + _UNSHARE + _HANDSHAKE
        + "    os.setuid(0)\n    os.setgid(0)\n",
    },
}

BY_STEP = {"user.id-maps": ("write_id_maps", WRONG_MAPS),
           "user.root-inside": ("enter_userns", WRONG_ENTER)}
