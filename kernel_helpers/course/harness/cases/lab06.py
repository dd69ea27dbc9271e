"""Lab 06's cases: the container's root is an overlay of the image's layers under its own upper
dir, mounted in its own namespace, the top layer winning, writes copied up, and its folder gone
once it exited.

Every run builds a new image: 3 to 5 layers with random names (busybox at the bottom), each
holding files whose content is the layer's own name, so what the container reads tells which
layer it came from, and no answer tuned to the demo's layers passes. The whiteout and opaque
cases' images also delete things the way OCI layers do once unpacked for overlayfs: a file of
the bottom layer and a directory of a middle one deleted by whiteouts (0/0 character devices)
higher up, and a directory a middle layer made opaque (trusted.overlay.opaque=y).
"""

from __future__ import annotations

import os
import random
import shutil
import stat
from functools import partial
from pathlib import Path
from typing import Any

from kernel_helpers.course.harness.cases.base import Case, Fail
from kernel_helpers.course.harness.cases.common import no_leftovers, started
from kernel_helpers.course.harness.judge import Run
from kernel_helpers.course.harness.observe import read
from kernel_helpers.rootfs.busybox import busybox_rootfs
from kernel_helpers.rootfs.overlay import is_whiteout, make_whiteout

WORDS = ("app", "base", "conf", "data", "docs", "extra", "fix", "libs", "patch", "site", "tools",
         "web")
WRITE = "for f in /etc/lk-*.conf; do echo copied-up >> $f; done; echo new > /lk-new.txt"
"""What the probe writes before it says ready: an image file changed (copy-up), a new one."""


OPAQUE = "trusted.overlay.opaque"
"""The xattr overlayfs marks an opaque directory with (b"y"); OCI layers spell it
``DIR/.wh..wh..opq``, as AUFS did. Only this one: a root runtime's overlay reads trusted.*
(the kit's own layers also carry user.overlay.opaque, for overlays in a user namespace)."""


def make_image(folder: Path, whiteouts: bool = False, opaque: bool = False) -> tuple[str, ...]:
    """A new image in `folder`: busybox at the bottom, then 2 to 4 small layers, all named at
    random; its layer folders, bottom first. A file every layer holds (the top must win), one
    all but the top hold (the layer under the top must win), one only a middle layer holds.

    `whiteouts`: a file of the bottom layer deleted by a whiteout in a middle layer (its
    neighbour stays), and a middle layer's directory deleted by a whiteout in the top layer.
    `opaque`: a directory of the bottom layer made opaque in a middle layer, which holds a
    file of its own there, and the top layer one more (both show; the bottom's does not)."""
    rng = random.SystemRandom()
    count = rng.randint(3, 5)
    names = [f"{word}-{rng.randrange(16 ** 4):04x}" for word in rng.sample(WORDS, count)]
    folder.mkdir()
    layers = [folder / name for name in names]
    shutil.copytree(busybox_rootfs(), layers[0], symlinks=True)
    used: set[str] = set()
    every, below, middle = (_name(rng, used) for _ in range(3))
    for n, layer in enumerate(layers):
        files = [f"etc/lk-{every}.conf"]
        if n < count - 1:
            files.append(f"srv/lk-{below}.txt")
        if n == 1:
            files.append(f"opt/lk-{middle}.txt")
        for rel in files:
            _write(layer, rel)
    mid = layers[rng.randint(1, count - 2)]  # a middle layer: neither the top nor the bottom
    if whiteouts:
        gone, kept, folder_gone, inside = (_name(rng, used) for _ in range(4))
        _write(layers[0], f"srv/lk-{gone}.txt")
        _write(layers[0], f"srv/lk-{kept}.txt")
        _whiteout(mid, f"srv/lk-{gone}.txt")
        _write(mid, f"var/lk-{folder_gone}/lk-{inside}.txt")
        _whiteout(layers[-1], f"var/lk-{folder_gone}")
    if opaque:
        made, old, own, top = (_name(rng, used) for _ in range(4))
        _write(layers[0], f"home/lk-{made}/lk-{old}.txt")
        _write(mid, f"home/lk-{made}/lk-{own}.txt")
        os.setxattr(mid / "home" / f"lk-{made}", OPAQUE, b"y")
        _write(layers[-1], f"home/lk-{made}/lk-{top}.txt")
    return tuple(str(layer) for layer in layers)


def _name(rng: random.Random, used: set[str]) -> str:
    """A random file name, none twice in one image."""
    while True:
        name = f"{rng.choice(WORDS)}-{rng.randrange(16 ** 4):04x}"
        if name not in used:
            used.add(name)
            return name


def _write(layer: Path, rel: str) -> None:
    """A file of `layer` whose content is the layer's name."""
    (layer / rel).parent.mkdir(parents=True, exist_ok=True)
    (layer / rel).write_text(layer.name + "\n")


def _whiteout(layer: Path, rel: str) -> None:
    """`rel` deleted in `layer`, as overlayfs stores it (OCI's ``.wh.NAME`` once unpacked)."""
    (layer / rel).parent.mkdir(parents=True, exist_ok=True)
    make_whiteout(layer / rel)


def _is_opaque(path: str) -> bool:
    try:
        return os.getxattr(path, OPAQUE, follow_symlinks=False) == b"y"
    except OSError:
        return False


def _union(layers: list[str], rel: str) -> tuple[int | None, int, str]:
    """What overlayfs shows at `rel` (a file) over `layers` (bottom first): the index of the
    layer whose file shows (None: none), and for a hidden file the layer that hides it and
    how ("whiteout" or "opaque"; -1 and "" when no layer holds it at all)."""
    parts = rel.split("/")
    stack = list(reversed(range(len(layers))))  # top first
    hider, how = -1, ""
    for depth in range(len(parts)):
        merged: list[int] = []
        for n in stack:
            path = os.path.join(layers[n], *parts[:depth + 1])
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if is_whiteout(st) and not merged:
                return None, n, "whiteout"
            if is_whiteout(st) or depth == len(parts) - 1 or not stat.S_ISDIR(st.st_mode):
                if depth == len(parts) - 1 and not merged:
                    return n, -1, ""
                break  # a whiteout or a non-directory ends the merge here
            merged.append(n)
            if _is_opaque(path):
                if any(m < n for m in stack):
                    hider, how = n, "opaque"
                break
        if not merged:
            return None, hider, how
        stack = merged
    return None, hider, how


def _lk_files(layers: list[str]) -> list[str]:
    """Every file path the cases put in any layer (a name starting ``lk-`` on the way), no
    whiteouts."""
    found = set()
    for layer in layers:
        for folder, _, files in os.walk(layer):
            for name in files:
                rel = os.path.relpath(os.path.join(folder, name), layer)
                if any(part.startswith("lk-") for part in rel.split("/")) \
                        and not is_whiteout(os.lstat(os.path.join(folder, name))):
                    found.add(rel)
    return sorted(found)


def look_deleted(pid: int, run: Run) -> dict[str, Any]:
    """Each image file: the layer whose copy the union must show (or None, and what hides it),
    and what the container shows there: a layer's index (by content), "absent", "device" (a
    0/0 character device: a whiteout as stored), or "other"."""
    layers = list(run.spec["image"])
    names = {Path(layer).name + "\n": n for n, layer in enumerate(layers)}
    seen = []
    for rel in _lk_files(layers):
        want, hider, how = _union(layers, rel)
        path = f"/proc/{pid}/root/{rel}"
        try:
            st = os.lstat(path)
        except OSError:
            got: int | str = "absent"
        else:
            got = ("device" if is_whiteout(st)
                   else names.get(read(path) or "", "other") if stat.S_ISREG(st.st_mode)
                   else "other")
        seen.append((rel, want, hider, how, got))
    return {"deleted": seen}


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


def _deleted_shows(run: Run, how: str) -> Fail | None:
    """The first image file hidden by `how` ("whiteout" or "opaque") that the container still
    shows, named with the likeliest cause read from the container's root mount."""
    layers, lowers = list(run.spec["image"]), _option(run, "lowerdir")
    count = len(layers)
    shown = [(hider, got) for _, want, hider, by, got in run.seen.get("deleted", [])
             if want is None and by == how and got != "absent"]
    if not shown:
        return None
    hider, got = next(((h, g) for h, g in shown if g == "device"), shown[0])
    if how == "whiteout":
        what = f"a file deleted by a whiteout in layer {hider + 1} of {count} (bottom first)"
    else:
        what = (f"a file below a directory that layer {hider + 1} of {count} (bottom first) "
                "made opaque")
    if got == "device":
        return Fail(f"{what} shows in the container as a character device 0/0: the whiteout "
                    "itself, copied into the root instead of applied by an overlay",
                    "mount the layers as the overlay's lower dirs: overlayfs hides each "
                    "whiteout and what it deletes below it; copying the layers does not")
    source = f" (with the content of layer {got + 1})" if isinstance(got, int) else ""
    noun = "whiteout" if how == "whiteout" else "opaque dir"
    root = _root(run)
    if root is None or root.fstype != "overlay":
        cause = ("the layers were copied into one folder, which " +
                 ("drops the deletion" if how == "whiteout" else
                  "merges the directory with the one below instead of replacing it"))
        hint = ("mount the layers as the overlay's lower dirs: overlayfs applies whiteouts and "
                "opaque dirs itself; a copy would have to apply each one by hand")
    elif layers[hider] not in lowers:
        cause = f"layer {hider + 1}, which holds the {noun}, is not one of the overlay's lower dirs"
        hint = "every layer of spec.image is a lower dir: lowerdir=':'.join(reversed(layers))"
    elif isinstance(got, int) and layers[got] in lowers \
            and lowers.index(layers[got]) < lowers.index(layers[hider]):
        cause = (f"the overlay's lower dirs list layer {got + 1} above layer {hider + 1}, so the "
                 f"{noun} lies under what it should hide")
        hint = ("lowerdir lists the TOP layer first: ':'.join(reversed(layers)) (spec.image "
                "lists the bottom first)")
    elif how == "opaque" and "userxattr" in root.super_options.split(","):
        cause = ("the overlay was mounted with userxattr, so it reads user.overlay.opaque and "
                 "ignores the image's trusted.overlay.opaque")
        hint = "mount as root without userxattr: image layers mark opaque dirs with trusted.*"
    else:
        cause = f"the overlay does not apply the {noun}"
        hint = "lowerdir=':'.join(reversed(layers)): every layer, the TOP first"
    return Fail(f"{what} shows in the container{source}: {cause}", hint)


def _kept_missing(run: Run) -> Fail | None:
    """The first image file that must show but does not (or shows another layer's copy)."""
    count = len(run.spec["image"])
    for _, want, _, _, got in run.seen.get("deleted", []):
        if want is None or got == want:
            continue
        where = "is missing" if got == "absent" else (
            f"shows the content of layer {got + 1}" if isinstance(got, int) else "is not the file")
        return Fail(f"a file of layer {want + 1} of {count} (bottom first) that no whiteout or "
                    f"opaque dir hides {where} in the container: they hide only what lies below "
                    "them", "lowerdir=':'.join(reversed(layers)): every layer, the TOP first, "
                    "and nothing deleted by hand")
    return None


def deleted_stays_deleted(run: Run) -> Fail | None:
    if not run.seen.get("deleted"):
        return Fail("the container shows none of the image's files",
                    "lowerdir= lists every layer of spec.image, the top one first")
    return _deleted_shows(run, "whiteout") or _kept_missing(run)


def opaque_hides_below(run: Run) -> Fail | None:
    if not run.seen.get("deleted"):
        return Fail("the container shows none of the image's files",
                    "lowerdir= lists every layer of spec.image, the top one first")
    return _deleted_shows(run, "opaque") or _kept_missing(run)


CASES = (
    Case("overlay-root", 0, False, (host_table_clean, started, root_is_overlay,
                                    lowers_are_the_image, no_leftovers), image=make_image),
    Case("layer-order", 0, False, (started, root_is_overlay, top_layer_wins, no_leftovers),
         look=look_files, image=make_image),
    Case("copy-up", 0, False, (started, root_is_overlay, writes_copied_up, no_leftovers),
         look=look_files, before=WRITE, image=make_image),
    Case("whiteout", 0, False, (started, deleted_stays_deleted, root_is_overlay, no_leftovers),
         look=look_deleted, image=partial(make_image, whiteouts=True)),
    Case("opaque", 0, False, (started, opaque_hides_below, root_is_overlay, no_leftovers),
         look=look_deleted, image=partial(make_image, opaque=True)),
    Case("cleanup", 0, False, (started, kept_while_running, removed_after, no_leftovers),
         look=look_files, after=look_after, image=make_image),
)
