"""Lab 06's learner runtimes for the tests and `labkit course validate`: wrong ones, each naming
its mistake, and correct ones written differently from the reference.

A variant is the code of one slot (`mount_overlay` or `remove_container_dir`), run with the
reference for the rest (a dict replaces `run` too); every run of a case builds an image of 3
to 5 layers with random names, so code tuned to two layers or to the demo's names fails. The
whiteout and opaque cases' images delete a file and a directory with whiteouts in a middle and
the top layer and make a middle layer's directory opaque: copies, a wrong order or a missing
layer show what was deleted.
"""

from __future__ import annotations

from kernel_helpers.course.standins import reference_slot  # the instructor's tree

_HEAD = "def mount_overlay(layers, container_dir):\n"
_NS = "    lk.unshare(lk.CLONE_NEWNS)\n    lk.mount(None, '/', None, lk.MS_REC | lk.MS_PRIVATE)\n"
_DIRS = '''    upper, work, merged = (os.path.join(container_dir, n) for n in ("upper", "work", "merged"))
    for folder in (upper, work, merged):
        os.makedirs(folder, exist_ok=True)
'''
_MOUNT = '''    lk.mount("overlay", merged, "overlay", 0, f"lowerdir={lower},upperdir={upper},workdir={work}")
    return merged
'''
_TOP_FIRST = "':'.join(reversed(layers))"


def _overlay(ns: str = _NS, lower: str = _TOP_FIRST, dirs: str = _DIRS, mount: str = _MOUNT) -> str:
    return f"{_HEAD}{ns}{dirs}    lower = {lower}\n{mount}"


def _remove_before_waitpid() -> str:
    """The reference run with the container folder removed right after fork, in the parent."""
    lines = reference_slot("run").splitlines()
    moved = [n for n, line in enumerate(lines) if "remove_container_dir(" in line
             or "if spec.image and spec.container_dir:" in line and n + 1 < len(lines)
             and "remove_container_dir(" in lines[n + 1]]
    block = [lines[n] for n in moved]
    rest = [line for n, line in enumerate(lines) if n not in moved]
    at = next(n for n, line in enumerate(rest) if "lk.write_pidfile(" in line)
    return "\n".join(rest[:at] + block + rest[at:]) + "\n"


WRONG_OVERLAY = {  # step union.overlay-root
    "overlay-root": {
        "mounts the overlay in the host's mount namespace": _overlay(ns=""),
        "unshares but forgets MS_PRIVATE": _overlay(ns="    lk.unshare(lk.CLONE_NEWNS)\n"),
        "copies the layers instead of mounting an overlay": _HEAD + '''    import shutil
    merged = os.path.join(container_dir, "merged")
    for layer in layers:
        shutil.copytree(layer, merged, symlinks=True, dirs_exist_ok=True)
    return merged
''',
        "only the top and bottom layers": _overlay(lower="layers[-1] + ':' + layers[0]"),
    },
    "layer-order": {
        "layers in the wrong order (bottom first)": _overlay(lower="':'.join(layers)"),
        "lowerdir written for two layers": _overlay(lower="f'{layers[1]}:{layers[0]}'"),
        "the top layer placed last": _overlay(
            lower="':'.join(list(reversed(layers[:-1])) + [layers[-1]])"),
    },
    "copy-up": {
        "the top layer as the upper dir": _overlay(dirs='''    upper = layers[-1]
    work, merged = os.path.join(container_dir, "work"), os.path.join(container_dir, "merged")
    os.makedirs(work)
    os.makedirs(merged)
''', lower="':'.join(reversed(layers[:-1]))"),
        "upper dir inside the top layer": _overlay(dirs='''    upper = os.path.join(layers[-1], ".upper")
    work = os.path.join(layers[-1], ".work")
    merged = os.path.join(container_dir, "merged")
    for folder in (upper, work, merged):
        os.makedirs(folder, exist_ok=True)
'''),
        "a read-only overlay (no upper dir)": _overlay(mount='''
    lk.mount("overlay", merged, "overlay", 0, f"lowerdir={lower}")
    return merged
'''),
    },
}

_CP_A = _HEAD + '''    import subprocess
    merged = os.path.join(container_dir, "merged")
    os.makedirs(merged)
    for layer in layers:  # bottom first: each layer copied over the ones below
        subprocess.run(["cp", "-a", layer + "/.", merged])
    return merged
'''
_BOTTOM_FIRST = "':'.join(layers)"
_TOP_AND_BOTTOM = "layers[-1] + ':' + layers[0]"

WRONG_WHITEOUT = {  # step union.whiteout
    "whiteout": {
        "copies the layers with cp -a (whiteouts copied as devices)": _CP_A,
        "copies the layers, skipping the whiteout devices": _HEAD + '''    import shutil

    def devices(folder, names):  # copytree cannot read a 0/0 device: leave them out
        return [n for n in names if stat.S_ISCHR(os.lstat(os.path.join(folder, n)).st_mode)]

    merged = os.path.join(container_dir, "merged")
    for layer in layers:
        shutil.copytree(layer, merged, symlinks=True, dirs_exist_ok=True, ignore=devices)
    return merged
''',
        "lowerdir bottom first (whiteouts under what they delete)": _overlay(lower=_BOTTOM_FIRST),
        "lowerdir of the top and bottom layers only (the whiteout's layer left out)":
            _overlay(lower=_TOP_AND_BOTTOM),
    },
    "opaque": {
        "copies the layers with cp -a (opaque dirs merged)": _CP_A,
        "lowerdir bottom first (opaque dir under what it hides)": _overlay(lower=_BOTTOM_FIRST),
        "lowerdir of the top and bottom layers only (the opaque dir's layer left out)":
            _overlay(lower=_TOP_AND_BOTTOM),
        "mounted with userxattr (trusted.overlay.opaque ignored)": _overlay(mount='''
    lk.mount("overlay", merged, "overlay", 0,
             f"lowerdir={lower},upperdir={upper},workdir={work},userxattr")
    return merged
'''),
    },
}

_REMOVE = "def remove_container_dir(container_dir):\n"

WRONG_CLEANUP = {  # step union.cleanup
    "cleanup": {
        "never removes it": _REMOVE + "    pass\n",
        "removes upper and work only": _REMOVE + '''    for name in ("upper", "work"):
        lk.remove_tree(os.path.join(container_dir, name))
''',
        "os.rmdir on a folder that is not empty": _REMOVE + "    os.rmdir(container_dir)\n",
        "removes it before waitpid": {"run": _remove_before_waitpid()},
    },
}

RIGHT = {  # correct, written differently from the reference
    "mount_overlay": {
        "MS_SLAVE, other folder names, options from a list": '''def mount_overlay(layers, container_dir):
    lk.unshare(lk.CLONE_NEWNS)
    lk.mount("none", "/", None, lk.MS_REC | lk.MS_SLAVE)
    dirs = {}
    for name in ("diff", "scratch", "rootfs"):
        dirs[name] = f"{container_dir}/{name}"
        os.mkdir(dirs[name])
    options = ["lowerdir=" + ":".join(layers[::-1]), "upperdir=" + dirs["diff"],
               "workdir=" + dirs["scratch"], "index=off"]
    lk.mount("overlay", dirs["rootfs"], "overlay", lk.MS_NODEV | lk.MS_NOSUID, ",".join(options))
    return dirs["rootfs"]
''',
        "options from a dict by a helper, redirect_dir and metacopy off": '''def _options(**named):
    return ",".join(f"{key}={value}" for key, value in named.items())


def mount_overlay(layers, container_dir):
    lk.unshare(lk.CLONE_NEWNS)
    lk.mount(None, "/", None, lk.MS_PRIVATE | lk.MS_REC)
    upper, work, merged = (f"{container_dir}/{name}" for name in ("rw", "tmp", "root"))
    for folder in (upper, work, merged):
        os.mkdir(folder, 0o755)
    top_first = list(layers)
    top_first.reverse()
    lk.mount("overlay", merged, "overlay", lk.MS_NOSUID | lk.MS_NODEV,
             _options(lowerdir=":".join(top_first), upperdir=upper, workdir=work,
                      redirect_dir="off", metacopy="off"))
    return merged
''',
        "lowerdir built in a loop, pathlib": '''def mount_overlay(layers, container_dir):
    from pathlib import Path
    lk.unshare(lk.CLONE_NEWNS)
    lk.mount(None, "/", None, lk.MS_REC | lk.MS_PRIVATE)
    lower = ""
    for layer in layers:  # each layer goes on top of the ones before it
        lower = layer if not lower else f"{layer}:{lower}"
    base = Path(container_dir)
    for name in ("upper", "work", "merged"):
        (base / name).mkdir(parents=True, exist_ok=True)
    lk.mount("overlay", str(base / "merged"), "overlay", 0,
             "lowerdir=%s,upperdir=%s,workdir=%s" % (lower, base / "upper", base / "work"))
    return str(base / "merged")
''',
    },
    "remove_container_dir": {
        "shutil.rmtree": _REMOVE + "    import shutil\n    shutil.rmtree(container_dir)\n",
        "os.walk bottom-up": _REMOVE + '''    for top, dirs, files in os.walk(container_dir, topdown=False):
        for name in files:
            os.unlink(os.path.join(top, name))
        for name in dirs:
            os.rmdir(os.path.join(top, name))
    os.rmdir(container_dir)
''',
    },
}

BY_STEP = {"union.overlay-root": ("mount_overlay", WRONG_OVERLAY),
           "union.whiteout": ("mount_overlay", WRONG_WHITEOUT),
           "union.cleanup": ("remove_container_dir", WRONG_CLEANUP)}
