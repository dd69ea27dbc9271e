"""Lab 06's cases: the container's root is an overlay of the image's layers under its own upper
dir, mounted in its own namespace, the top layer winning, writes copied up, and its folder gone
once it exited.

Every run builds a new image: 3 to 5 layers with random names (busybox at the bottom), each
holding files whose content is the layer's own name, so what the container reads tells which
layer it came from, and no answer tuned to the demo's layers passes.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

from kernel_helpers.course.harness.cases.base import Case, Fail
from kernel_helpers.course.harness.cases.common import no_leftovers, started
from kernel_helpers.course.harness.judge import Run
from kernel_helpers.course.harness.observe import read
from kernel_helpers.rootfs.busybox import busybox_rootfs

WORDS = ("app", "base", "conf", "data", "docs", "extra", "fix", "libs", "patch", "site", "tools",
         "web")
WRITE = "for f in /etc/lk-*.conf; do echo copied-up >> $f; done; echo new > /lk-new.txt"
"""What the probe writes before it says ready: an image file changed (copy-up), a new one."""


def make_image(folder: Path) -> tuple[str, ...]:
    """A new image in `folder`: busybox at the bottom, then 2 to 4 small layers, all named at
    random; its layer folders, bottom first. A file every layer holds (the top must win), one
    all but the top hold (the layer under the top must win), one only a middle layer holds."""
    rng = random.SystemRandom()
    count = rng.randint(3, 5)
    names = [f"{word}-{rng.randrange(16 ** 4):04x}" for word in rng.sample(WORDS, count)]
    folder.mkdir()
    layers = [folder / name for name in names]
    shutil.copytree(busybox_rootfs(), layers[0], symlinks=True)
    every, below, middle = (f"{rng.choice(WORDS)}-{rng.randrange(16 ** 4):04x}" for _ in range(3))
    for n, layer in enumerate(layers):
        files = [f"etc/lk-{every}.conf"]
        if n < count - 1:
            files.append(f"srv/lk-{below}.txt")
        if n == 1:
            files.append(f"opt/lk-{middle}.txt")
        for rel in files:
            (layer / rel).parent.mkdir(parents=True, exist_ok=True)
            (layer / rel).write_text(layer.name + "\n")
    return tuple(str(layer) for layer in layers)


def _image_files(layers: list[str]) -> dict[str, int]:
    """Each path the small layers hold -> the index of the topmost layer holding it."""
    top: dict[str, int] = {}
    for n, layer in enumerate(layers[1:], 1):
        for folder, _, files in os.walk(layer):
            for name in files:
                top[os.path.relpath(os.path.join(folder, name), layer)] = n
    return top


def look_files(pid: int, run: Run) -> dict[str, Any]:
    """Which layer each image file the container reads comes from (by its content), and what
    the layers and the container's upper dir hold after the probe wrote."""
    layers = list(run.spec["image"])
    names = {Path(layer).name + "\n": n for n, layer in enumerate(layers)}
    seen = []
    for rel, want in sorted(_image_files(layers).items()):
        text = read(f"/proc/{pid}/root/{rel}")
        seen.append((rel, want, names.get(text or "", -1)))
    files = _image_files(layers)
    changed = [n for n, layer in enumerate(layers)
               if os.path.lexists(os.path.join(layer, "lk-new.txt"))
               or any(read(os.path.join(layer, rel)) not in (None, Path(layer).name + "\n")
                      for rel in files)]
    upper = _option(run, "upperdir")
    return {"files": seen, "changed": changed,
            "upper": {rel: read(os.path.join(upper[0], rel)) for rel in _image_files(layers)
                      if rel.startswith("etc/")} if upper else {},
            "new": read(os.path.join(upper[0], "lk-new.txt")) if upper else None,
            "dir": os.path.isdir(run.spec["container_dir"])}


def look_after(pid: int, run: Run) -> dict[str, Any]:
    return {"dir": os.path.lexists(run.spec["container_dir"])}


def _root(run: Run) -> Any:
    held = run.held
    assert held is not None
    return next((m for m in reversed(held.mounts) if m.target == "/"), None)


def _option(run: Run, name: str) -> list[str]:
    """The folders of an overlay option of the container's root ([] if none): lowerdir lists
    the top first (``lowerdir=a:b``, or one ``lowerdir+=a`` each on newer kernels)."""
    root = _root(run)
    if root is None or root.fstype != "overlay":
        return []
    found: list[str] = []
    for item in root.super_options.split(","):
        key, _, value = item.partition("=")
        if key == name:
            found += value.split(":")
        elif key == name + "+":
            found.append(value)
    return found


def _where(layers: list[str], folder: str) -> str:
    """Where `folder` is, named without paths: a layer, a folder in one, or neither."""
    for n, layer in enumerate(layers):
        if folder == layer or folder.startswith(layer + "/"):
            inside = "" if folder == layer else "a folder inside "
            return f"{inside}layer {n + 1} of {len(layers)} (bottom first)"
    return "a folder outside spec.container_dir"


def host_table_clean(run: Run) -> Fail | None:
    if run.during not in (None, run.before) or run.after != run.before:
        return Fail("the overlay shows in the host's mount table: it was mounted in the "
                    "runtime's mount namespace (or one whose mounts propagate there)",
                    "in mount_overlay, first lk.unshare(lk.CLONE_NEWNS) and make every mount "
                    "private (lk.MS_REC | lk.MS_PRIVATE), then mount the overlay")
    return None


def root_is_overlay(run: Run) -> Fail | None:
    root = _root(run)
    if root is None or root.fstype != "overlay":
        kind = root.fstype if root is not None else "nothing"
        return Fail(f"the container's / is {kind}, not an overlay of the image's layers",
                    "mount_overlay mounts overlayfs on container_dir/merged and returns that "
                    "folder; run passes it to enter_rootfs")
    return None


def lowers_are_the_image(run: Run) -> Fail | None:
    layers, lowers = list(run.spec["image"]), _option(run, "lowerdir")
    missing = [n for n, layer in enumerate(layers) if layer not in lowers]
    if missing:
        return Fail(f"the overlay's lower dirs leave out layer {missing[0] + 1} of {len(layers)} "
                    "(bottom first): every layer of the image is a lower dir",
                    "lowerdir=':'.join(reversed(layers)), for any number of layers")
    extra = [lower for lower in lowers if lower not in layers]
    if extra:
        return Fail("the overlay has a lower dir that is not a layer of the image",
                    "the lower dirs are exactly spec.image's folders")
    return None


def top_layer_wins(run: Run) -> Fail | None:
    layers = list(run.spec["image"])
    if not run.seen.get("files"):
        return Fail("the container shows none of the image's files",
                    "lowerdir= lists every layer of spec.image, the top one first")
    for _, want, got in run.seen["files"]:
        if got != want:
            shown = f"layer {got + 1}" if got >= 0 else "no layer"
            return Fail(f"a file held by layers up to {want + 1} of {len(layers)} (bottom first) "
                        f"shows the content of {shown} in the container: the topmost layer "
                        "holding a file must win", "lowerdir lists the TOP layer first: "
                        "':'.join(reversed(layers)) (spec.image lists the bottom first)")
    lowers = _option(run, "lowerdir")
    if lowers != list(reversed(layers)):
        return Fail("the overlay's lower dirs are not the image's layers top first",
                    "lowerdir=':'.join(reversed(layers))")
    return None


def writes_copied_up(run: Run) -> Fail | None:
    layers = list(run.spec["image"])
    upper = _option(run, "upperdir")
    if not upper:
        return Fail("the container's overlay has no upper dir: its root is read-only, so "
                    "nothing it writes can land anywhere", "add upperdir= and workdir= (two "
                    "empty folders in container_dir) to the overlay's options")
    inside = os.path.realpath(upper[0]).startswith(os.path.realpath(run.spec["container_dir"]) + "/")
    if not inside:
        return Fail(f"the container's upper dir is {_where(layers, upper[0])}, not a folder in "
                    "spec.container_dir: its writes change what other containers of the image "
                    "see", "upperdir=os.path.join(container_dir, 'upper')")
    if run.seen.get("changed"):
        n = run.seen["changed"][0]
        return Fail(f"a write in the container changed layer {n + 1} of {len(layers)} (bottom "
                    "first): an image's layers must stay read-only",
                    "the layers are lower dirs only; the container's writes go to its upper dir")
    copied = run.seen.get("upper", {})
    if not copied or any(text != f"{Path(layers[-1]).name}\ncopied-up\n"
                         for text in copied.values()) or run.seen.get("new") != "new\n":
        return Fail("a file the container wrote is not in its upper dir (copied up with the "
                    "change)", "upperdir= is the container's own folder; overlayfs copies a "
                    "file up there on its first write")
    return None


def kept_while_running(run: Run) -> Fail | None:
    if not run.seen.get("dir"):
        return Fail("spec.container_dir was gone while the container still ran: its upper dir "
                    "holds what the container writes", "remove it after os.waitpid returns, "
                    "never before")
    return None


def removed_after(run: Run) -> Fail | None:
    after = run.seen.get("after")
    if after is None or after.get("dir"):
        return Fail("spec.container_dir is still there after your runtime exited: every "
                    "container would leave its upper and work dirs behind",
                    "in run's parent, after os.waitpid: remove_container_dir(spec.container_dir)"
                    ", which calls lk.remove_tree(container_dir)")
    return None


CASES = (
    Case("overlay-root", 0, False, (host_table_clean, started, root_is_overlay,
                                    lowers_are_the_image, no_leftovers), image=make_image),
    Case("layer-order", 0, False, (started, root_is_overlay, top_layer_wins, no_leftovers),
         look=look_files, image=make_image),
    Case("copy-up", 0, False, (started, root_is_overlay, writes_copied_up, no_leftovers),
         look=look_files, before=WRITE, image=make_image),
    Case("cleanup", 0, False, (started, kept_while_running, removed_after, no_leftovers),
         look=look_files, after=look_after, image=make_image),
)
