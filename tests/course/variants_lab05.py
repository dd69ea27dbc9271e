"""Lab 05's learner runtimes for the tests and `labkit course validate`: wrong ones, each naming
its mistake, and correct ones written differently from the reference.

A variant is the code of one slot (`create_cgroup`, `join_cgroup` or `remove_cgroup`), or a
dict {slot: code} when the mistake is in `run`'s order; the rest is the reference. Every run
of a case asks for other limits, so the notebook's demo values (64 MiB, 10 tasks, 1.5 CPUs, a
CPU weight of 500) fail. One wrong CPU weight (raw in v1's cpu.shares, by hand) is wrong on
cgroup v1 only: it is kept only where the machine's groups are v1.
"""

from __future__ import annotations

from kernel_helpers.cgroups.layout import detect_layout
from kernel_helpers.course.standins import reference_slot  # the instructor's tree

_JOIN = "        join_cgroup(cgroup, pid)"
_RELEASE = "    joined.release()"
_WAIT = "            joined.wait()"
_WAITPID = "    _, status = os.waitpid(pid, 0)"
_REMOVE = "    if cgroup:\n        remove_cgroup(cgroup)"


def _run(**edits: str) -> str:
    """The reference run with lines replaced: {old line (no guard comment): new text}."""
    text = "\n".join(line.split("#")[0].rstrip() if "# lab>=" in line else line
                     for line in reference_slot("run").splitlines()) + "\n"
    for old, new in edits.items():
        old = old.replace("NL", "\n")
        assert old in text, old
        text = text.replace(old, new)
    return text


_SETUP = "    __import__('time').sleep(0.3)  # other set-up first (id maps, a veth...)\n"


def _late_join(setup: str) -> str:
    """Release first, then other set-up (`setup`), then the join: the child is already running."""
    return _run(**{f"    if cgroup:NL{_JOIN}NL{_RELEASE}":
                   f"{_RELEASE}\n{setup}    if cgroup:\n{_JOIN}"})


_CREATE = '''def create_cgroup(spec):
    path = f"{spec.cgroup_parent or lk.CGROUP_PARENT}/{spec.run_prefix}{os.getpid()}"
    lk.make_cgroup(path)
'''
_MEMORY = '''    if spec.memory_max:
        lk.write_limit(path, "memory.max", spec.memory_max)
'''
_PIDS = '''    if spec.pids_max:
        lk.write_limit(path, "pids.max", spec.pids_max)
'''
_RETURN = "    return path\n"
_QUOTA = '''    if spec.cpu_quota:
        lk.write_limit(path, "cpu.max", f"{round(spec.cpu_quota * 100000)} 100000")
'''
_WEIGHT = '''    if spec.cpu_weight:
        lk.write_limit(path, "cpu.weight", spec.cpu_weight)
'''
_LIMITED = "    limited = spec.memory_max or spec.pids_max or spec.cpu_quota or spec.cpu_weight\n"

WRONG_CREATE = {  # step cgroup.create
    "cgroup-limits": {
        "limits hard-coded to the notebook's demo values": _CREATE + '''    lk.write_limit(path, "memory.max", "64M")
    lk.write_limit(path, "pids.max", 10)
''' + _RETURN,
        "never writes the limits": _CREATE + _RETURN,
        "writes the limits to the parent group": _CREATE + (_MEMORY + _PIDS).replace(
            "write_limit(path,", "write_limit(spec.cgroup_parent,") + _RETURN,
        "a group named without the run prefix": _CREATE.replace(
            "{spec.run_prefix}{os.getpid()}", "container{os.getpid()}") + _MEMORY + _PIDS
        + _RETURN,
        "the group under the kit's folder, not spec.cgroup_parent": _CREATE.replace(
            "spec.cgroup_parent or lk.CGROUP_PARENT", "lk.CGROUP_PARENT") + _MEMORY + _PIDS
        + _RETURN,
    },
    "fork-bomb": {
        "never writes pids.max": _CREATE + _MEMORY + _RETURN,
        "pids limit hard-coded to the notebook's 10": _CREATE + _MEMORY
        + '''    lk.write_limit(path, "pids.max", 10)\n''' + _RETURN,
        "the pids limit only when a memory limit is asked too": _CREATE + _MEMORY + '''        if spec.pids_max:
            lk.write_limit(path, "pids.max", spec.pids_max)
''' + _RETURN,
        "writes the pids limit to the parent group": _CREATE + _MEMORY
        + _PIDS.replace("write_limit(path,", "write_limit(spec.cgroup_parent,") + _RETURN,
    },
}

WRONG_JOIN = {  # step cgroup.join
    "cgroup-first": {
        "releases the child before joining it (other set-up in between)": {
            "run": _late_join(_SETUP)},
        "the child never waits for the join": {
            "run": _run(**{_WAIT + "\n": "", f"    if cgroup:NL{_JOIN}NL{_RELEASE}":
                           f"{_SETUP}    if cgroup:\n{_JOIN}"})},
        "joins the runtime, not the container": '''def join_cgroup(path, pid):
    lk.add_to_cgroup(path, os.getpid())
''',
        "joins the parent group": '''def join_cgroup(path, pid):
    lk.add_to_cgroup(os.path.dirname(path), pid)
''',
    },
}

WRONG_REMOVE = {  # step cgroup.remove
    "cgroup-removed": {
        "never removes the group": "def remove_cgroup(path):\n    pass\n",
        "removes the group before waitpid": {
            "run": _run(**{f"{_WAITPID}\n{_REMOVE}\n": f"{_REMOVE}\n{_WAITPID}\n"})},
        "removes the group before waitpid, ignoring the error": {
            "run": _run(**{f"{_WAITPID}\n{_REMOVE}\n": "    if cgroup:\n        try:\n"
                           "            remove_cgroup(cgroup)\n        except OSError:\n"
                           f"            pass\n{_WAITPID}\n"})},
        "removes the parent group instead": '''def remove_cgroup(path):
    try:
        lk.rmdir_cgroup(os.path.dirname(path))
    except OSError:
        pass
''',
    },
}

_ONLY_WITH_MEMORY = _CREATE + '''    if spec.memory_max:
        lk.write_limit(path, "memory.max", spec.memory_max)
        if spec.cpu_quota:
            lk.write_limit(path, "cpu.max", f"{round(spec.cpu_quota * 100000)} 100000")
        if spec.cpu_weight:
            lk.write_limit(path, "cpu.weight", spec.cpu_weight)
''' + _PIDS + _RETURN

WRONG_CPU = {  # step cgroup.cpu
    "cpu-quota": {
        "the quota in CPUs, not microseconds (1.5, not 150000)": _CREATE + _MEMORY + _PIDS
        + _QUOTA.replace("round(spec.cpu_quota * 100000)", "spec.cpu_quota") + _WEIGHT + _RETURN,
        "the quota hard-coded to the notebook's 1.5 CPUs": _CREATE + _MEMORY + _PIDS
        + _QUOTA.replace('f"{round(spec.cpu_quota * 100000)} 100000"', '"150000 100000"')
        + _WEIGHT + _RETURN,
        "the period written, not the quota": _CREATE + _MEMORY + _PIDS
        + _QUOTA.replace('f"{round(spec.cpu_quota * 100000)} 100000"', '"max 100000"')
        + _WEIGHT + _RETURN,
        "period and quota swapped": _CREATE + _MEMORY + _PIDS
        + _QUOTA.replace('f"{round(spec.cpu_quota * 100000)} 100000"',
                         'f"100000 {round(spec.cpu_quota * 100000)}"') + _WEIGHT + _RETURN,
        "the quota written to the parent group": _CREATE + _MEMORY + _PIDS
        + _QUOTA.replace("write_limit(path,", "write_limit(spec.cgroup_parent,") + _WEIGHT
        + _RETURN,
        "the CPU limits only when a memory limit is asked too": _ONLY_WITH_MEMORY,
        "run makes the group only for the memory and pids limits": {
            "run": _run(**{_LIMITED: "    limited = spec.memory_max or spec.pids_max\n"})},
    },
    "cpu-weight": {
        "the weight written to the parent group": _CREATE + _MEMORY + _PIDS + _QUOTA
        + _WEIGHT.replace("write_limit(path,", "write_limit(spec.cgroup_parent,") + _RETURN,
        "the weight hard-coded to the notebook's 500": _CREATE + _MEMORY + _PIDS + _QUOTA
        + _WEIGHT.replace("spec.cpu_weight)", "500)") + _RETURN,
        "the weight converted to v1 shares before lk.write_limit (converted twice)": _CREATE
        + _MEMORY + _PIDS + _QUOTA + _WEIGHT.replace("spec.cpu_weight)",
                                                     "spec.cpu_weight * 1024 // 100)") + _RETURN,
        "the CPU weight only when a memory limit is asked too": _ONLY_WITH_MEMORY,
    },
}
if detect_layout().version == 1:  # on v2 the same code is right: cpu.weight takes the weight
    WRONG_CPU["cpu-weight"]["the weight written raw to v1's cpu.shares, by hand"] = (
        _CREATE + _MEMORY + _PIDS + _QUOTA + '''    if spec.cpu_weight:
        for folder in lk.cgroup_folders(path):
            for name in ("cpu.weight", "cpu.shares"):
                if os.path.exists(os.path.join(folder, name)):
                    with open(os.path.join(folder, name), "w") as f:
                        f.write(str(spec.cpu_weight))
''' + _RETURN)

RIGHT = {  # correct, written differently from the reference
    "create_cgroup": {
        "a random name, every limit in a loop": '''import secrets


def create_cgroup(spec):
    path = "/".join([spec.cgroup_parent or lk.CGROUP_PARENT,
                     spec.run_prefix + secrets.token_hex(4)])
    lk.make_cgroup(path)
    for knob, value in (("memory.max", spec.memory_max), ("pids.max", spec.pids_max),
                        ("cpu.max", spec.cpu_quota and int(spec.cpu_quota * 100000 + 0.5)),
                        ("cpu.weight", spec.cpu_weight)):
        if value:
            lk.write_limit(path, knob, str(value))
    return path
''',
        "the CPU files by hand, a 50 ms period, v1 and v2": '''def create_cgroup(spec):
    path = f"{spec.cgroup_parent or lk.CGROUP_PARENT}/{spec.run_prefix}{os.getpid()}"
    lk.make_cgroup(path)
    if spec.memory_max:
        lk.write_limit(path, "memory.max", spec.memory_max)
    if spec.pids_max:
        lk.write_limit(path, "pids.max", spec.pids_max)

    def put(folder, name, value):
        if os.path.exists(os.path.join(folder, name)):  # v2 has cpu.max, v1 the cfs files
            with open(os.path.join(folder, name), "w") as f:
                f.write(value)

    for folder in lk.cgroup_folders(path):
        if spec.cpu_quota:
            quota = int(spec.cpu_quota * 50000)  # truncated: at most a microsecond short
            put(folder, "cpu.max", f"{quota} 50000")
            put(folder, "cpu.cfs_period_us", "50000")
            put(folder, "cpu.cfs_quota_us", str(quota))
        if spec.cpu_weight:
            put(folder, "cpu.weight", str(spec.cpu_weight))
            put(folder, "cpu.shares", str(2 + -(-(spec.cpu_weight - 1) * 262142 // 9999)))
    return path
''',
    },
    "join_cgroup": {
        "cgroup.procs written by hand in every folder": '''def join_cgroup(path, pid):
    for folder in lk.cgroup_folders(path):
        with open(os.path.join(folder, "cgroup.procs"), "w") as f:
            f.write(f"{pid}\\n")
''',
    },
    "remove_cgroup": {
        "os.rmdir in reverse order": '''def remove_cgroup(path):
    for folder in reversed(lk.cgroup_folders(path)):
        os.rmdir(folder)
''',
    },
    "run": {
        "the group made after fork, the join before the id maps": _run(**{
            _LIMITED + "    cgroup = create_cgroup(spec) if limited else None\n": "",
            "    if cgroup:\n        join_cgroup": "    cgroup = None\n    if spec.memory_max or "
            "spec.pids_max or spec.cpu_quota or spec.cpu_weight:\n"
            "        cgroup = create_cgroup(spec)\n        join_cgroup"}),
    },
}

BY_STEP = {"cgroup.create": ("create_cgroup", WRONG_CREATE),
           "cgroup.join": ("join_cgroup", WRONG_JOIN),
           "cgroup.remove": ("remove_cgroup", WRONG_REMOVE),
           "cgroup.cpu": ("create_cgroup", WRONG_CPU)}
