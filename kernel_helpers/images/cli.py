"""`labkit image ls|import|export|rm|history` and `labkit commit`.

Taught in: lab 06.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return ""


def _ago(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(stamp)) if stamp else "-"


def _ls(args: argparse.Namespace) -> int:
    from kernel_helpers.images import layers, store
    store.get(store.BASE_IMAGE)  # the offline base is always there
    print(f"{'IMAGE':<32} {'LAYERS':>6} {'SIZE':>9}  CREATED")
    with layers.store_lock(shared=True):  # no image half-removed while it is listed
        for image in store.all_images():
            size = sum(layers.layer_size(d) for d in image.layers)
            print(f"{image.ref:<32} {len(image.layers):>6} {_size(size):>9}  {_ago(image.created)}")
    return 0


def _source(text: str) -> tuple[Path, str | None]:
    """``DIR``, ``DIR:TAG`` (an OCI layout, as umoci and skopeo name them) or a tar file."""
    path = Path(text)
    if not path.exists() and ":" in text:
        base, tag = text.rsplit(":", 1)
        return Path(base), tag
    return path, None


def _import(args: argparse.Namespace) -> int:
    from kernel_helpers.errors import NotFound
    from kernel_helpers.images import import_archive, import_layout
    path, tag = _source(args.source)
    if path.is_dir():
        image = import_layout(path, tag, args.name)
    elif path.is_file():
        image = import_archive(path, args.name)
    else:
        raise NotFound(f"'{args.source}'", "does not exist",
                       "give an OCI layout dir (DIR or DIR:TAG) or a `docker save` tar file")
    print(f"imported {image.ref} ({len(image.layers)} layers)")
    return 0


def _export(args: argparse.Namespace) -> int:
    from kernel_helpers.images import export_archive, export_layout
    dest = Path(args.dest)
    fmt = args.format or ("docker" if dest.suffix == ".tar" else "oci")
    if fmt == "docker":
        export_archive(args.image, dest)
        print(f"wrote {dest} (load it with `docker load -i {dest}`)")
    else:
        tag = export_layout(args.image, dest)
        print(f"wrote {dest}:{tag} (an OCI layout; try `umoci ls --layout {dest}`)")
    return 0


def _rm(args: argparse.Namespace) -> int:
    from kernel_helpers.images import store
    freed = store.remove(args.image)
    print(f"removed {store.normalize_ref(args.image)}, and {len(freed)} unused layer(s)")
    return 0


def _history(args: argparse.Namespace) -> int:
    from kernel_helpers.images import layers, store
    image = store.get(args.image)
    digests = list(image.layers)
    print(f"{'LAYER':<19} {'SIZE':>9}  {'CREATED':<16}  CREATED BY")
    rows = []
    for entry in image.history:
        layer = "" if entry.empty_layer or not digests else digests.pop(0)
        rows.append((layer, entry))
    for layer, entry in reversed(rows):
        size = _size(layers.layer_size(layer)) if layer else "0B"
        print(f"{layer[7:19] or '<none>':<19} {size:>9}  {_ago(entry.created):<16}  "
              f"{entry.created_by[:60]}")
    return 0


def _commit(args: argparse.Namespace) -> int:
    from kernel_helpers.images import commit
    image = commit(args.container, args.image, args.message)
    print(f"committed {args.container} as {image.ref} ({len(image.layers)} layers)")
    return 0


def register(subparsers: Any) -> None:
    """Add `image ...` and `commit` to the `labkit` command line."""
    image = subparsers.add_parser("image", help="list, import, export and remove images")
    sub = image.add_subparsers(dest="image_command", metavar="ACTION", required=True)
    sub.add_parser("ls", help="list the images in the store").set_defaults(handler=_ls)
    imp = sub.add_parser("import", help="import an OCI layout (DIR[:TAG]) or a `docker save` tar")
    imp.add_argument("source")
    imp.add_argument("name", nargs="?", help="store it under this name[:tag]")
    imp.set_defaults(handler=_import)
    exp = sub.add_parser("export", help="write an image as an OCI layout dir or a docker tar")
    exp.add_argument("image")
    exp.add_argument("dest", help="a directory (OCI layout) or FILE.tar (docker save format)")
    exp.add_argument("--format", choices=("oci", "docker"))
    exp.set_defaults(handler=_export)
    rm = sub.add_parser("rm", help="remove an image and the layers nothing else uses")
    rm.add_argument("image")
    rm.set_defaults(handler=_rm)
    hist = sub.add_parser("history", help="the layers of an image, newest first")
    hist.add_argument("image")
    hist.set_defaults(handler=_history)

    com = subparsers.add_parser("commit", help="make a kept container's changes a new image")
    com.add_argument("container", help="the id `labkit run --keep` printed")
    com.add_argument("image", help="name[:tag] of the new image")
    com.add_argument("-m", "--message", help="what this step did (shown by `image history`)")
    com.set_defaults(handler=_commit)
