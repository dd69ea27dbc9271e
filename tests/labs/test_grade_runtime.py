"""`labkit course grade` on learners' myruntime.py, on the real kernel: rows, reasons, attacks.

Each learner folder holds a myruntime.py (tests/course/runtime_variants.py makes them).
The runtime is judged by the harness inside the learner's sandbox, every runtime lab of
the catalogue, both scores. A runtime that attacks the grader (the gradebook, the judge's
process and pipes, the kit's files, a process left behind) must not change a verdict or
the gradebook; what it can still do (write host files as root) is shown, not hidden.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernel_helpers.course import load_course
from kernel_helpers.course.grade import grade_batch
from kernel_helpers.course.gradebook import Row
from kernel_helpers.course.harness.batch import runtime_labs
from kernel_helpers.course.sandbox import KIT_ROOT
from kernel_helpers.course.workfile import write_slot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "course"))
from runtime_variants import WRONG_RUN, WRONG_STATUS, runtime_file

from test_grade import _kit_cgroups, _processes_with

COURSE = load_course()
RUNTIME_STEPS = [s.id for lab in runtime_labs(COURSE) for s in lab.steps if s.slot]


def _grade(paths: list[Path], book: Path, jobs: int = 1) -> list[Row]:
    rows = grade_batch(paths, book, book.parent / "reports", say=open(os.devnull, "w"),
                       case_timeout=5, jobs=jobs)
    assert _kit_cgroups() == set(), "the sandbox's cgroups must be gone"
    return rows


def _by_step(rows: list[Row], learner: str) -> dict[str, tuple[str, str]]:
    return {r.step: (r.status, r.own_status) for r in rows if r.learner == learner}


def test_every_runtime_lab_both_scores_and_bad_files(root: None, tmp_path: Path) -> None:
    """Reference, stubs, a known-wrong run, and missing / broken / unreadable files."""
    folders = {name: tmp_path / name for name in ("alice", "bob", "carol", "dave", "erin", "fay")}
    for folder in folders.values():
        folder.mkdir()
    runtime_file(folders["alice"])
    runtime_file(folders["bob"], base="template")
    runtime_file(folders["carol"], run=WRONG_RUN["pid1"]["forks before unsharing"])
    (folders["erin"] / "myruntime.py").write_text("def run(spec):\n    return (\n")
    (folders["fay"] / "myruntime.py").symlink_to(tmp_path / "nowhere")
    book = tmp_path / "book.csv"
    proc = subprocess.Popen([sys.executable, "-m", "kernel_helpers", "course", "grade",
                             *map(str, folders.values()), "--csv", str(book),
                             "--report", str(tmp_path / "reports"), "--case-timeout", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=KIT_ROOT)
    assert proc.stdout is not None
    assert proc.stdout.readline().startswith("[1/6] alice  runtime  myruntime.py")
    second = proc.stdout.readline()
    assert proc.poll() is None, "progress must stream while grading goes on"
    assert second.startswith("alice  01-pid  pid.run") and " pass " in second, second
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    rows = list(csv.DictReader(book.open()))
    mine = {(r["learner"], r["step"]): r for r in rows}
    for step in RUNTIME_STEPS:
        assert (mine[("alice", step)]["status"], mine[("alice", step)]["own_status"]) == (
            "pass", "pass"), mine[("alice", step)]
        assert mine[("bob", step)]["status"] == "fail"
        assert "still the stub" in mine[("bob", step)]["reason"]
    carol = {step: mine[("carol", step)] for step in RUNTIME_STEPS}
    assert carol["pid.run"]["status"] == "fail"
    assert "forked before unsharing" in carol["pid.run"]["reason"]
    assert "hint:" in carol["pid.run"]["reason"]
    assert carol["mnt.enter-rootfs"]["status"] == "pass"  # through the named stand-in
    assert "stand-in used for run (lab 01): yours fails 01.pid1" in carol["mnt.enter-rootfs"][
        "reason"]
    assert mine[("dave", "myruntime.py")]["status"] == "missing"
    assert "no myruntime.py in dave/" in mine[("dave", "myruntime.py")]["reason"]
    assert mine[("erin", "myruntime.py")]["status"] == "not-python"
    assert "line 2" in mine[("erin", "myruntime.py")]["reason"]
    assert mine[("fay", "myruntime.py")]["status"] == "unreadable"
    report = (tmp_path / "reports" / "carol.md").read_text()
    assert "forked before unsharing" in report and "| pid.run | fail |" in report
    assert "alice  total" in out


def test_learners_graded_two_at_a_time_keep_their_order(root: None, tmp_path: Path) -> None:
    folders = [tmp_path / name for name in ("gil", "hana", "ivo")]
    for folder in folders:
        folder.mkdir()
    runtime_file(folders[0], base="template")
    runtime_file(folders[1])
    rows = _grade(folders, tmp_path / "book.csv", jobs=2)
    assert [(r.learner, r.step, r.status) for r in rows] == [
        *[("gil", step, "fail") for step in RUNTIME_STEPS],
        *[("hana", step, "pass") for step in RUNTIME_STEPS],
        ("ivo", "myruntime.py", "missing")]
    assert [r["learner"] for r in csv.DictReader((tmp_path / "book.csv").open())] == [
        r.learner for r in rows]


ATTACK = '''
import ctypes, errno, json, signal, subprocess
BOOK = {book!r}
KIT = os.path.dirname(os.path.dirname(os.path.abspath(lk.__file__)))
FORGED_CASES = {{"cases": [{{"case": c, "step": s, "status": "pass", "message": "", "hint": ""}}
                           for c, s in (("pid1", "pid.run"), ("pidfile", "pid.run"),
                                        ("exit-code", "pid.exit-status"),
                                        ("killed", "pid.exit-status"))], "notes": []}}


def _try(fn):
    try:
        fn()
        return "ok"
    except OSError as err:
        return errno.errorcode.get(err.errno, str(err.errno))


def _write_to(path, event):
    def go():
        fd = os.open(path, os.O_WRONLY)
        os.write(fd, (json.dumps(event) + "\\n").encode())
        os.close(fd)
    return go


def _ptrace(pid):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
    if libc.ptrace(16, pid, None, None) != 0:  # PTRACE_ATTACH
        raise OSError(ctypes.get_errno(), "ptrace")
    libc.ptrace(17, pid, None, None)


def _daemons():
    found = 0
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{{p}}/cmdline", "rb") as f:
                found += b"sleep\\x004715" in f.read()
        except OSError:
            pass
    return found


def run(spec):
    seen = {{"left_from_earlier_cases": _daemons()}}
    folder = os.path.dirname(BOOK)
    lk.mount(None, "/", None, lk.MS_REC | lk.MS_PRIVATE)  # unmounts below reach no other view
    for target in ("/tmp", folder, "/tmp", folder):  # the sandbox's /tmp, then the hiding tmpfs
        _try(lambda: lk.umount2(target, lk.MNT_DETACH))
    seen["unhide_gradebook"] = "ok" if os.access(folder, os.W_OK) else "hidden"
    seen["write_gradebook"] = _try(lambda: open(BOOK, "a").write("forged,now\\n"))
    judge = os.getppid()
    seen["ptrace_judge"] = _try(lambda: _ptrace(judge))
    seen["judge_stdout"] = _try(_write_to(f"/proc/{{judge}}/fd/1",
                                          {{"event": "lab", "lab": "01", "piece": FORGED_CASES,
                                            "own": FORGED_CASES}}))
    seen["judge_mem"] = _try(lambda: open(f"/proc/{{judge}}/mem", "rb").close())
    seen["init_stdout"] = _try(_write_to("/proc/1/fd/1",
                                         {{"event": "runtime-lab", "lab": "01",
                                           "piece": FORGED_CASES, "own": FORGED_CASES}}))
    seen["stop_init"] = _try(lambda: os.kill(1, signal.SIGKILL))
    if os.fork() == 0:  # leaves the case's cgroup, then rewrites the gradebook later
        os.setsid()
        with open("/proc/self/mountinfo") as f:
            roots = [l.split()[4] for l in f if " - cgroup" in l]
        for r in roots:
            try:
                with open(os.path.join(r, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))
            except OSError:
                pass
        os.closerange(0, 65536)
        os.execvp("sh", ["sh", "-c", f"sleep 3; echo forged,later >> {{BOOK}}; "
                                     "exec sleep 4715"])
    with open(os.path.join(folder, "attacks.jsonl"), "a") as f:
        f.write(json.dumps(seen) + "\\n")
    raise NotImplementedError("lab 01, step pid.run: run is not written yet")
'''


def test_a_runtime_attacking_the_grader_changes_no_verdict(root: None, tmp_path: Path) -> None:
    """Stubs plus every attack: still nothing passes; the gradebook holds only the grader's rows."""
    books = tmp_path / "books"
    books.mkdir()
    book = books / "book.csv"
    folder = tmp_path / "mallory"
    folder.mkdir()
    path = runtime_file(folder, base="template")
    write_slot("run", ATTACK.format(book=str(book)), path)
    rows = _grade([folder], book)
    assert {r.step: (r.status, r.points, r.own_points) for r in rows} == {
        s: ("fail", 0, 0) for s in RUNTIME_STEPS}, rows
    time.sleep(4)  # a leftover writer would have written by now
    assert "forged" not in book.read_text()
    assert [r["status"] for r in csv.DictReader(book.open())] == ["fail"] * len(RUNTIME_STEPS)
    assert _processes_with("sleep\0004715") == [], "a leftover process survived grading"
    seen = [json.loads(line) for line in (books / "attacks.jsonl").read_text().splitlines()]
    assert seen, "the attack never ran"
    for attempt in seen:
        # What the kit stops: the judge's process and pipes, PID 1, earlier cases' leftovers.
        assert attempt["ptrace_judge"] == "EPERM", attempt
        assert attempt["judge_stdout"] == "EACCES", attempt
        assert attempt["judge_mem"] == "EACCES", attempt
        assert attempt["init_stdout"] == "EACCES", attempt
        assert attempt["left_from_earlier_cases"] == 0, attempt
        # What root can still do (the grader's rewrite from memory makes it harmless): unhide
        # the gradebook's folder in its own mount namespace and write the file.
        assert attempt["unhide_gradebook"] == "ok" and attempt["write_gradebook"] == "ok"


def test_a_runtime_cannot_kill_or_stop_its_judge(root: None, tmp_path: Path) -> None:
    """The judge is the sandbox's PID 1: signals from the runtime (its parent, PID 1) do
    nothing, so the reference that sends them is judged as usual, and the signals the
    judge ignores are not ignored in the runtime (TERM still stops its container)."""
    folder = tmp_path / "nils"
    folder.mkdir()
    path = runtime_file(folder)
    write_slot("run", """def run(spec):
    import signal
    assert os.getppid() == 1, "the judge is the sandbox's PID 1"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    for sig in (signal.SIGKILL, signal.SIGSTOP, signal.SIGTERM, signal.SIGINT):
        os.kill(os.getppid(), sig)
""" + _reference_body(), path)
    rows = _grade([folder], tmp_path / "book.csv")
    assert {(r.status, r.own_status) for r in rows} == {("pass", "pass")}, rows


def _reference_body() -> str:
    from kernel_helpers.course.standins import reference_slot
    return reference_slot("run").split("\n", 1)[1]


def test_a_runtime_that_patches_the_kit_is_caught(root: None, tmp_path: Path) -> None:
    """Root can remount the kit's read-only bind and patch the judge: the digest catches it,
    its rows are "tampered", the gradebook is written, and grading stops."""
    from kernel_helpers.errors import LabkitError
    target = KIT_ROOT / "kernel_helpers" / "course" / "harness" / "cases" / "base.py"
    original = target.read_bytes()
    folder = tmp_path / "oscar"
    folder.mkdir()
    path = runtime_file(folder, base="template")
    write_slot("run", f'''def run(spec):
    kit = {str(KIT_ROOT)!r}
    lk.mount(None, kit, None, lk.MS_REMOUNT | lk.MS_BIND)
    path = kit + "/kernel_helpers/course/harness/cases/base.py"
    text = open(path).read()
    marker = "def judge(case: Case, run: Run) -> Fail | None:\\n"
    if "return None  # forged" not in text:
        open(path, "w").write(text.replace(marker, marker + "    return None  # forged\\n"))
    return 0
''', path)
    book = tmp_path / "book.csv"
    try:
        with pytest.raises(LabkitError, match="changed while oscar's files in"):
            _grade([folder], book)
        assert target.read_bytes() != original, "the patch did not land: the test proves nothing"
    finally:
        target.write_bytes(original)
    rows = list(csv.DictReader(book.open()))
    assert {r["status"] for r in rows} == {"tampered"} and all(r["points"] == "0" for r in rows)


def test_a_runtime_cannot_change_what_the_judge_reads_by_mounting(root: None, tmp_path: Path) -> None:
    """Over-mounting the cgroup folders and the container's /proc/PID in the runtime's own
    namespace (without MS_PRIVATE) stays there: the judge still reads the real ones, so the
    reference passes (with the judge's view shared, it found no container)."""
    from kernel_helpers.course.runtime_check import judge
    path = runtime_file(tmp_path)
    body = _reference_body().replace(
        "    lk.write_pidfile(spec, pid)\n",
        "    lk.write_pidfile(spec, pid)\n    lk.mount('tmpfs', f'/proc/{pid}', 'tmpfs')\n")
    assert "/proc/{pid}" in body
    write_slot("run", "def run(spec):\n    lk.mount('tmpfs', '/sys/fs/cgroup', 'tmpfs')\n" + body,
               path)
    for lab in ("01", "03"):
        verdict = judge(path, lab, "own", timeout=5)
        assert {c["status"] for c in verdict["cases"]} == {"pass"}, verdict


def _nbval_done(folder: Path, notebook: Path) -> dict[str, bool]:
    """pytest --nbval-lax over a learner's notebook, their myruntime.py as the work file:
    {step: passed}, from the progress file the check cells record (fresh for this run)."""
    progress = folder / "progress.json"
    env = dict(os.environ, PYTHONPATH=str(KIT_ROOT), LABKIT_WORK=str(folder),
               LABKIT_PROGRESS=str(progress))
    subprocess.run([sys.executable, "-m", "pytest", "--nbval-lax", "-p", "no:cacheprovider", "-q",
                    "--rootdir", str(folder), str(notebook)],
                   capture_output=True, text=True, env=env, timeout=600, cwd=folder)
    return {step: bool(entry.get("done")) for step, entry in
            json.loads(progress.read_text())["steps"].items()}


def test_nbval_and_grade_agree_on_a_runtime_lab(root: None, tmp_path: Path) -> None:
    """Lab 01 (notebook steps and runtime steps): the instructor's nbval run over a learner's
    notebook and myruntime.py gives grade's verdicts, for a correct and a wrong runtime."""
    import shutil
    lab = COURSE.lab("01")
    wrong = WRONG_STATUS["exit-code"]["returns the raw wait status"]
    for learner, slots in (("olga", {}), ("pete", {"run": wrong})):
        folder = tmp_path / learner
        folder.mkdir()
        runtime_file(folder, **slots)
        shutil.copy(lab.notebook, folder / lab.notebook.name)  # the learner build: stubs
        rows = _grade([folder], tmp_path / "book.csv")
        graded = {r.step: r.status == "pass" for r in rows if r.lab == lab.id}
        (folder / "book.csv").unlink(missing_ok=True)
        assert _nbval_done(folder, folder / lab.notebook.name) == graded, learner
    assert graded == {"pid.parent": False, "pid.run": True, "pid.exit-status": False,
                      "pid.nested": False}


def test_a_runtime_that_calls_the_course_reference_is_not_graded_as_its_own(
        root: None, tmp_path: Path) -> None:
    """Importing the reference (or keeping this lab's slot as checkpoint's borrowed call)
    fails the lab, piece and own, with a sentence that says so."""
    from kernel_helpers.course.runtime_check import judge
    from kernel_helpers.learn.borrow import borrowed_slot
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    imported = runtime_file(tmp_path / "a", enter_rootfs="def enter_rootfs(rootfs):\n"
                            "    from kernel_helpers.learn.reference import enter_rootfs as e\n"
                            "    return e(rootfs)\n")
    borrowed = runtime_file(tmp_path / "b", enter_rootfs=borrowed_slot("enter_rootfs", "rootfs"))
    for path, words in ((imported, "uses kernel_helpers.learn.reference"),
                        (borrowed, "enter_rootfs is borrowed from the course")):
        for mode in ("piece", "own"):
            verdict = judge(path, "03", mode, "pivot")
            assert verdict["cases"][0]["status"] == "fail", verdict
            assert words in verdict["cases"][0]["message"], verdict
    assert judge(borrowed, "01", "own", "pid1")["cases"][0]["status"] == "pass"


def test_a_runtime_that_rewrites_the_probe_shell_is_caught(root: None, tmp_path: Path) -> None:
    """Root can rewrite the busybox image every rootfs is copied from (a shell forged to
    unshare by itself would pass a runtime that does not): the judge's digest catches it.
    The image here is a private one (LABKIT_DATA_ROOT), so nothing shared is touched."""
    data = tmp_path / "data"
    folder = tmp_path / "quinn"
    folder.mkdir()
    path = runtime_file(folder)
    passwd = data / "images" / "busybox" / "rootfs" / "etc" / "passwd"
    write_slot("run", f"def run(spec):\n    open({str(passwd)!r}, 'a').write('forged::0:0::/:/bin/sh\\n')\n"
               + _reference_body(), path)
    env = dict(os.environ, LABKIT_DATA_ROOT=str(data), PYTHONPATH=str(KIT_ROOT))
    done = subprocess.run([sys.executable, "-m", "kernel_helpers.course.harness.batch", str(path),
                           "--labs", "01", "03", "--timeout", "5"],
                          capture_output=True, text=True, env=env, timeout=300, cwd="/")
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert passwd.read_text().endswith("forged::0:0::/:/bin/sh\n"), "the attack did not land"
    assert events[0]["event"] == "tampered", events
    assert "probe's shell changed during case 01.pid1" in events[0]["message"]


def test_a_gradebook_with_other_columns_is_refused_before_grading(tmp_path: Path) -> None:
    from kernel_helpers.errors import InvalidValue
    book = tmp_path / "book.csv"
    book.write_text("learner,submission,lab,step,status,points,max_points,reason\n")
    with pytest.raises(InvalidValue, match="has other columns"):
        grade_batch([tmp_path], book, say=open(os.devnull, "w"))
    assert book.read_text().count("\n") == 1
