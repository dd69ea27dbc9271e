"""Error sentences, names and namespace parsing: no kernel needed."""

from __future__ import annotations

import errno
import pickle

import pytest

from kernel_helpers import naming
from kernel_helpers.errors import (InvalidValue, KernelFeatureMissing, LabkitError, NameTaken,
                                   NotRoot, translate_oserror)
from kernel_helpers.namespaces import Namespace, clone_flags, parse_namespaces


def test_an_error_is_one_sentence_with_subject_problem_and_fix() -> None:
    err = InvalidValue("memory limit '64X'", "is not a size", "use a number with K, M or G, e.g. 64M")
    assert str(err) == "memory limit '64X': is not a size. Use a number with K, M or G, e.g. 64M."
    assert type(err).__module__ == "kernel_helpers"


def test_errors_survive_pickling_across_processes() -> None:
    err = pickle.loads(pickle.dumps(NameTaken("network 'lab'", "already exists", "pick another")))
    assert isinstance(err, NameTaken) and str(err).startswith("network 'lab': already exists.")


@pytest.mark.parametrize(("code", "cls"), [(errno.EPERM, NotRoot), (errno.EEXIST, NameTaken),
                                           (errno.ENOSYS, KernelFeatureMissing)])
def test_oserrors_are_translated_once(code: int, cls: type[LabkitError]) -> None:
    assert isinstance(translate_oserror(OSError(code, "x"), "mount /proc"), cls)


def test_names_fit_interface_names_and_are_recognised() -> None:
    name = naming.new_name()
    assert len(name) == 10 and len(name + "h") <= 15
    assert naming.is_ours(name) and naming.is_ours(name + "h")
    assert not naming.is_ours("eth0") and not naming.is_ours("lkzzzzzzzz")


def test_namespace_names_parse_and_make_the_right_flags() -> None:
    assert parse_namespaces("pid, uts,,net") == {Namespace.PID, Namespace.UTS, Namespace.NET}
    assert clone_flags({Namespace.PID, Namespace.NET}) == 0x20000000 | 0x40000000
    with pytest.raises(InvalidValue, match="'pdi'"):
        parse_namespaces("pdi")


def test_run_in_child_times_out_with_a_sentence_and_a_finished_child_is_left_alone() -> None:
    import time

    from kernel_helpers.errors import KernelError
    from kernel_helpers.process import run_in_child
    assert run_in_child(int, "7", timeout=0.2) == 7
    time.sleep(0.3)  # the watchdog was cancelled: nothing fires at a (possibly reused) pid
    with pytest.raises(KernelError, match="took longer than 0.3 s and was stopped"):
        run_in_child(time.sleep, 5, timeout=0.3)


def test_same_process_needs_the_pid_and_its_start_time() -> None:
    import os
    import subprocess

    from kernel_helpers.process import same_process, start_time
    me = os.getpid()
    assert same_process(me, start_time(me))
    assert not same_process(me, start_time(me) + 1)  # a reused pid: same number, other process
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert not same_process(gone.pid, 0) and start_time(gone.pid) == 0
