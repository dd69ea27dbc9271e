"""Names the learner gives: Docker's grammar, one sentence each, and files written with meant modes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kernel_helpers import validate
from kernel_helpers.errors import InvalidValue
from kernel_helpers.files import READABLE, write_atomic


@pytest.mark.parametrize("name", ["web", "Web-1", "a.b_c", "x" * 64, "1"])
def test_container_names_docker_accepts(name: str) -> None:
    assert validate.container_name(name) == name


@pytest.mark.parametrize("name", ["", "-web", ".web", "_web", "web\n10.6.6.6 mail", "a/b",
                                  "a/../b", "..", "web ", "wéb", "x" * 65])
def test_container_names_docker_refuses_get_one_sentence(name: str) -> None:
    with pytest.raises(InvalidValue) as err:
        validate.container_name(name)
    assert str(err.value).startswith("container name ") and "\n" not in str(err.value)


@pytest.mark.parametrize("ref", ["busybox", "busybox:latest", "team/app:1.0", "a__b", "a--b",
                                 "registry.lab:5000/team/app:v1", "localhost/app", "app:V1_x.y-z"])
def test_image_references_in_dockers_grammar(ref: str) -> None:
    assert validate.image_ref(ref) == ref


@pytest.mark.parametrize("ref", ["", "../etc/passwd", "/abs/path", "a..b", "a/../b", "Upper",
                                 "busybox\n", "a:b:c", "app:-x", "a//b", "a b", "x" * 256,
                                 "app@sha256:" + "0" * 64])
def test_image_references_outside_the_grammar_get_one_sentence(ref: str) -> None:
    with pytest.raises(InvalidValue) as err:
        validate.image_ref(ref)
    assert str(err.value).startswith(f"image name {ref!r}: is not a valid image reference.")


def test_write_atomic_gives_records_the_mode_asked_for(tmp_path: Path) -> None:
    record = tmp_path / "record.json"
    write_atomic(record, "{}", READABLE)
    assert record.stat().st_mode & 0o7777 == 0o644  # not mkstemp's private 0600


def test_write_atomic_keeps_a_replaced_files_mode_and_a_new_one_follows_the_umask(
        tmp_path: Path) -> None:
    notebook = tmp_path / "lab.ipynb"
    notebook.write_text("old")
    notebook.chmod(0o640)
    write_atomic(notebook, "new")
    assert (notebook.read_text(), notebook.stat().st_mode & 0o7777) == ("new", 0o640)
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "fresh.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "fresh.json").stat().st_mode & 0o7777 == 0o640
