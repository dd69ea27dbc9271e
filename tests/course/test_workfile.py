"""The learner's runtime file: init, slots by marker, the notebook's export, the wrappers, the
command line, checkpoint. Kernel parts run as root on the real kernel."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kernel_helpers import cleanup
from kernel_helpers import learn as lk
from kernel_helpers.course import load_course, notebook_slots, workfile
from kernel_helpers.course.checkpoint import checkpoint
from kernel_helpers.course import standins
from kernel_helpers.course.standins import reference_slot
from kernel_helpers.course.runtime_check import try_runtime
from kernel_helpers.errors import InvalidValue
from kernel_helpers.learn import scratch
from kernel_helpers.process import run_in_child
from runtime_variants import WRONG_ENTER, runtime_file

KIT = str(Path(__file__).resolve().parents[2])


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LABKIT_WORK", str(tmp_path))
    return tmp_path


def test_init_writes_one_stub_per_slot_and_keeps_existing_code(work: Path) -> None:
    path, said = workfile.init()
    assert path == work / "myruntime.py" and said.startswith("wrote")
    slots = workfile.parse(path.read_text()).slots
    assert list(slots) == [s.name for s in load_course().slots]
    assert all(workfile.is_stub(code, name) for name, code in slots.items())
    assert 'NotImplementedError("lab 03, step mnt.enter-rootfs' in slots["enter_rootfs"]
    workfile.write_slot("run", reference_slot("run"))
    assert workfile.init()[1].endswith("up to date; your code is kept")
    assert not workfile.is_stub(workfile.read_slot("run"), "run")


def test_a_later_lab_adds_its_slot_without_touching_the_learners_code(work: Path) -> None:
    text = workfile.template()
    cut = text.index("# --- lab 03: enter_rootfs ---")
    old = text[:cut] + text[text.index(workfile.FOOTER):]  # a file made before lab 03 existed
    old = old.replace('raise NotImplementedError("lab 01', 'return 0  # mine\n    raise X("')
    (work / "myruntime.py").write_text(old)
    assert workfile.init()[1].startswith("added the new labs' slots")
    new = (work / "myruntime.py").read_text()
    assert "return 0  # mine" in new and "# --- lab 03: mount_pseudo_fs ---" in new
    assert new.rstrip().endswith("raise SystemExit(lk.main(globals()))")


def test_notebook_export_writes_the_slot_and_refuses_a_stale_cell(work: Path) -> None:
    code = notebook_slots.show("run")  # makes the file on first use
    base = notebook_slots.digest(code)
    mine = reference_slot("run", 1)
    assert notebook_slots.save("run", mine, base).startswith("saved run")
    assert workfile.read_slot("run").strip() == mine.strip()
    workfile.write_slot("run", mine.replace("os.fork()", "os.fork()  # edited in vim"))
    with pytest.raises(InvalidValue, match="changed since this cell loaded it"):
        notebook_slots.save("run", mine, base)  # the cell was loaded before the vim edit
    notebook_slots.save("run", mine, base, force=True)
    with pytest.raises(InvalidValue, match="does not define `def run"):
        notebook_slots.save("run", "def other(spec):\n    pass\n")
    with pytest.raises(InvalidValue, match="is not valid Python"):
        notebook_slots.save("run", "def run(spec)\n")


def test_checkpoint_in_a_release_borrows_the_reference(root: None, work: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the reference's source (a learner's release), checkpoint writes a slot that calls
    it: the piece score passes through it, named; the own-runtime score does not count it."""
    path = runtime_file(work, base="template", enter_rootfs=reference_slot("enter_rootfs"),
                        mount_pseudo_fs=reference_slot("mount_pseudo_fs"))
    monkeypatch.setattr(standins, "SOURCE", work / "absent.py")
    assert "wrote the reference run (lab 01): yours is still the stub" in checkpoint("03", path)
    code = workfile.read_slot("run", path)
    assert standins.is_borrowed(code) and "os.fork" not in code
    from kernel_helpers.course.runtime_check import judge
    piece = judge(path, "03", "piece", "pivot")
    assert piece["cases"][0]["status"] == "pass" and "borrowed from the course" in piece["notes"][0]
    own = judge(path, "03", "own", "pivot")
    assert own["cases"][0]["status"] == "fail" and "borrowed" in own["cases"][0]["message"]


def _pivot_without_bind() -> int:
    lk.unshare(lk.CLONE_NEWNS)
    lk.mount(None, "/", None, lk.MS_REC | lk.MS_PRIVATE)
    os.makedirs("/tmp/lk-nobind", exist_ok=True)
    try:
        lk.pivot_root("/tmp/lk-nobind", "/tmp/lk-nobind")
    except lk.SyscallError as err:
        assert isinstance(err, OSError) and "bind-mount it onto itself" in err.hint
        assert "bind-mount it onto itself" in str(err) and err.syscall == "pivot_root"
        return err.errno or 0
    finally:
        os.rmdir("/tmp/lk-nobind")
    return 0


def test_wrappers_raise_oserror_with_a_hint_on_the_real_kernel(root: None) -> None:
    assert run_in_child(_pivot_without_bind) in (errno.EINVAL, errno.EBUSY)  # by kernel version
    with pytest.raises(FileNotFoundError) as caught:
        lk.umount2("/no/such/labkit/path")
    assert caught.value.hint and caught.value.errno == errno.ENOENT


def test_sync_is_a_two_call_handshake() -> None:
    sync = lk.Sync()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        sync.wait()
        os.write(write, b"after")
        os._exit(0)
    os.close(write)
    os.set_blocking(read, False)
    with pytest.raises(BlockingIOError):
        os.read(read, 5)  # still waiting: nothing written before release
    sync.release()
    os.set_blocking(read, True)
    assert os.read(read, 5) == b"after"
    os.waitpid(pid, 0)


def test_the_runtime_file_is_a_command(root: None, tmp_path: Path) -> None:
    """The done-when line: a shell as PID 1 in its own root, from the learner's own file."""
    path = runtime_file(tmp_path)
    done = subprocess.run([sys.executable, str(path), "run", "--rootfs", "busybox", "--",
                           "/bin/sh", "-c", "echo $$; ls /"], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=KIT), timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    assert lines[0] == "1" and {"bin", "etc", "proc", "sys", "dev"} <= set(lines)
    assert not [p for p in os.listdir("/tmp") if p.startswith(scratch.PREFIX)]


def _copies() -> list[str]:
    return sorted(p for p in os.listdir("/tmp") if p.startswith(scratch.PREFIX))


def test_a_demo_that_times_out_leaves_no_busybox_copy(root: None, tmp_path: Path) -> None:
    """try_runtime stops a hung runtime with TERM first: the CLI removes its copy, then KILL."""
    before = _copies()
    status, out = try_runtime(["/bin/sleep", "60"], rootfs="busybox",
                              path=runtime_file(tmp_path), timeout=1.5)
    assert out.endswith("(stopped after 1.5 s)") and status != 0
    assert _copies() == before
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _is_sleep_60(p)]


def _is_sleep_60(pid: str) -> bool:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes() == b"/bin/sleep\x0060\x00"
    except OSError:
        return False


def test_a_killed_runtime_s_copy_is_swept_and_a_live_one_is_not(root: None, tmp_path: Path) -> None:
    before = _copies()
    cli = subprocess.Popen([sys.executable, str(runtime_file(tmp_path)), "run", "--rootfs",
                            "busybox", "--", "/bin/sleep", "30"], env=dict(os.environ, PYTHONPATH=KIT),
                           start_new_session=True)
    try:
        for _ in range(200):  # the copy exists once the container runs
            if _is_running(cli.pid):
                break
            time.sleep(0.05)
        new = [name for name in _copies() if name not in before]
        assert len(new) == 1 and new[0].startswith(f"{scratch.PREFIX}{cli.pid}-")
        assert new[0] not in {item.name for item in scratch.leftovers()}  # alive: in use
        os.kill(cli.pid, signal.SIGKILL)  # nothing of the runtime runs: the copy stays
        cli.wait()
        left = [item for item in cleanup.leftovers() if item.name == new[0]]
        assert [item.kind for item in left] == ["run-scratch"]
    finally:
        os.killpg(cli.pid, signal.SIGKILL)  # the container
        cli.wait()
    scratch.remove(left[0])
    assert _copies() == before


def _is_running(pid: int) -> bool:
    """The runtime's container (its child) exists: the copy is made and in use."""
    return bool(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())


def test_checkpoint_keeps_passing_slots_and_backs_up(root: None, work: Path) -> None:
    path = runtime_file(work, base="template", enter_rootfs=WRONG_ENTER["pivot"][
        "chroots instead of pivot_root"])
    lines = checkpoint("03", path)
    assert lines[0].startswith("backed up myruntime.py")
    assert "wrote the reference run (lab 01): yours is still the stub" in lines
    slots = workfile.parse(path.read_text()).slots
    assert "enter_rootfs(spec.rootfs)" not in slots["run"]  # as of the start of lab 03
    assert "lk.chroot" in slots["enter_rootfs"]  # lab 03's own slots stay the learner's
    assert len(list((work / workfile.BACKUPS).iterdir())) == 1
    assert checkpoint("04", path)[1] == "kept your run (lab 01): it passes"
    assert len(list((work / workfile.BACKUPS).iterdir())) == 2


def test_no_learner_message_advises_labkit_cleanup() -> None:
    root = Path(KIT) / "kernel_helpers"
    texts = [p.read_text() for p in [*root.glob("course/harness/*.py"), *root.glob("learn/*.py"),
                                     root / "course/runtime_check.py"]]
    assert texts and not any("labkit cleanup" in text for text in texts)
    assert all("labkit cleanup" not in hint for hint in lk.HINTS.values())


def test_a_learner_solves_labs_01_and_03_from_a_fresh_init(root: None, work: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's done-when, through the commands a learner types and the notebook's export."""
    from kernel_helpers.testing import labkit
    monkeypatch.setenv("LABKIT_PROGRESS", str(work / "progress.json"))
    init = labkit("init", str(work), cwd=KIT)
    assert init.returncode == 0 and "myruntime.py" in init.stdout
    lab01 = labkit("check", "01", cwd=KIT, timeout=300)
    assert "FAIL pid.run: case 01.pid1: run (lab 01) is still the stub" in lab01.stdout
    notebook_slots.save("run", reference_slot("run", as_of_lab=1))  # lab 01's %%slot cell
    lab01 = labkit("check", "01", cwd=KIT, timeout=300)
    assert "PASS pid.run" in lab01.stdout and "PASS pid.exit-status" in lab01.stdout
    for name in ("enter_uts_ipc", "enter_rootfs", "mount_pseudo_fs", "run"):  # labs 02-03's
        notebook_slots.save(name, reference_slot(name, as_of_lab=3))     # %%slot cells
    lab03 = labkit("check", "03", cwd=KIT, timeout=300)
    assert "lab 03 piece score: 5/5" in lab03.stdout, lab03.stdout
    assert "lab 03 own-runtime score (no stand-ins): 5/5" in lab03.stdout
    assert "note:" not in lab03.stdout
    done = subprocess.run([sys.executable, str(work / "myruntime.py"), "run", "--rootfs",
                           "busybox", "--", "/bin/sh", "-c", "echo $$; ls /"],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=KIT),
                          timeout=60)
    assert done.stdout.split()[0] == "1" and "proc" in done.stdout.split()


def test_tui_runtime_step_edits_the_file_at_its_slot_and_resets_it(work: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from tui import lessons
    monkeypatch.setenv("LABKIT_PROGRESS", str(work / "progress.json"))
    course = load_course()
    lab, step = course.lab("03"), course.step("mnt.enter-rootfs")
    path, _ = workfile.init()
    line = workfile.slot_line("enter_rootfs")
    assert path.read_text().splitlines()[line - 1] == "def enter_rootfs(rootfs):"
    assert "lk.pivot_root" in lessons.solution_code(lab, step)  # `s`, once the step is done
    workfile.write_slot("enter_rootfs", reference_slot("enter_rootfs"))
    assert lessons.reset(lab, step) == 1  # `x`: backed up, then the stub again
    assert workfile.is_stub(workfile.read_slot("enter_rootfs"), "enter_rootfs")
    backup, = (work / workfile.BACKUPS).iterdir()
    assert "lk.pivot_root" in backup.read_text()
