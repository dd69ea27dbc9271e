"""Images for a learner's runtime: an image's layer folders, and removing a container's folder.

An image is only its layers: read-only folders, bottom first. The runtime stacks them
under the container's own upper dir with overlayfs (lab 06's `mount_overlay`), and
removes that container's folder once the container has exited (`remove_container_dir`).
Both are thin over the kit's own image store and cleanup code.

Taught in: lab 06.
"""

from __future__ import annotations

from pathlib import Path

from kernel_helpers.cleanup import remove_tree as _remove_tree
from kernel_helpers.errors import LabkitError


def image_layers(name: str) -> tuple[str, ...]:
    """The layer folders of an image, bottom first: ``busybox``, an image of the kit's store
    (``labkit image ls``), or folders of your own as ``DIR:DIR:...`` (bottom first).

    Raises ValueError with one sentence when `name` is none of these.
    """
    if "/" in name:
        folders = tuple(str(Path(part).resolve()) for part in name.split(":") if part)
        missing = next((f for f in folders if not Path(f).is_dir()), None)
        if not folders or missing:
            raise ValueError(f"'{missing or name}' is not a folder: give an image's layers as "
                             "DIR:DIR:... (bottom first), `busybox`, or an image of "
                             "`labkit image ls`")
        return folders
    from kernel_helpers.images import store  # the kit's image store (busybox is built on first use)
    try:
        return tuple(str(folder) for folder in store.get(name).layer_dirs())
    except LabkitError as err:
        raise ValueError(f"image '{name}' {err.problem}: use `busybox`, an image of "
                         "`labkit image ls`, or layer folders as DIR:DIR:...") from None


def remove_tree(path: str) -> None:
    """Remove a folder and everything in it (``rm -r``), whiteouts and overlayfs' work dir
    included; a path already gone is fine, so calling it twice is harmless."""
    _remove_tree(path)
