"""A container's own writable layer over a shared image, and `commit` of it.

    DATA_ROOT/containers/<container id>/upper    the container's writes (copy-up, whiteouts)
                                        /work     overlayfs' scratch dir (same filesystem as upper)
                                        /merged   the mount point of the union view
                                        /image.json  which layers were below (for commit)

The overlay itself is mounted by the container's PID 1 in its own mount
namespace (see `OverlayStage.root_mount`), so it never shows in the host's
mountinfo and disappears with the container. Only these directories remain
for the kit to remove: when the run ends (unless the container is kept, with
``--keep`` or ``-d``), by `labkit rm` through `remove_container_fs`, or by
`labkit cleanup` once the container's state is gone.

Taught in: lab 06.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

from kernel_helpers import naming
from kernel_helpers.cleanup import Leftover, remove_tree
from kernel_helpers.errors import Busy, InvalidValue, NotFound
from kernel_helpers import state
from kernel_helpers.files import private_data_dir
from kernel_helpers.images import layers, store
from kernel_helpers.images.store import IMAGE_FILE, Image, containers_fs_root
from kernel_helpers.namespaces import Namespace
from kernel_helpers.rootfs.mounts import MountStep
from kernel_helpers.rootfs.overlay import overlay_step
from kernel_helpers.stage import LaunchContext, Stage

ID_SHIFT = "id_shift"
"""Host uid of root inside, for a container with a user namespace (commit maps ids back)."""
PENDING_ROOTFS = str(naming.DATA_ROOT / "containers" / "<container id>" / "merged")
"""spec.rootfs of an image container until `OverlayStage.prepare` knows the container's id."""


def container_fs_dir(container_id: str) -> Path:
    if not naming.is_ours(container_id):
        raise InvalidValue(f"container id '{container_id}'", "is not a labkit container id",
                           "use the id `labkit run` printed, like lk1a2b3c4d")
    return containers_fs_root() / container_id


class OverlayStage(Stage):
    """Give the container `image`'s layers plus its own upper dir, as its root.

    With `keep` the directories outlive the run (for `labkit commit`, and for
    the next start of a restarting container); otherwise each run removes them.

    Taught in: lab 06.
    """

    def __init__(self, image: Image, keep: bool = False) -> None:
        self.image, self.keep = image, keep

    def prepare(self, ctx: LaunchContext) -> None:
        directory = container_fs_dir(ctx.state.id)
        userns = Namespace.USER in ctx.spec.namespaces
        outside = ctx.spec.id_map.outside
        # Shared store lock: the layers are checked and this container's record written
        # before garbage collection may look again, so it never removes them in between.
        with layers.store_lock(shared=True):
            # A user-namespace root gets layers it owns (a writable image); others the plain ones.
            lowers = ([layers.shifted_diff(d, outside) for d in self.image.layers] if userns
                      else self.image.layer_dirs())  # present, or NotFound now
            if not (directory / IMAGE_FILE).is_file():  # a restart reuses the kept dirs
                private_data_dir("containers")
                directory.mkdir(mode=0o711)
                for name in ("upper", "work", "merged"):
                    (directory / name).mkdir(mode=0o755)
                (directory / IMAGE_FILE).write_text(self.image.to_json())
                if self.keep and not ctx.state.detached:  # detached: `labkit logs` stays clean
                    print(f"labkit: {ctx.state.id} keeps its files after it exits; "
                          f"`labkit commit {ctx.state.id} NEW-IMAGE` makes an image of them",
                          file=sys.stderr)
        # Undone when this run ends; a kept container keeps its files once it has started.
        ctx.registry.push(f"filesystem of {ctx.state.id}",
                          lambda: None if self.keep and ctx.state.pid_start else
                          remove_container_fs(ctx.state.id))
        merged = directory / "merged"
        if userns:  # the container's root is an unprivileged uid on the host: give it its dirs
            for name in ("upper", "work", "merged"):
                os.chown(directory / name, outside, outside)
            (directory / ID_SHIFT).write_text(str(outside))
        ctx.spec = dataclasses.replace(ctx.spec, rootfs=str(merged))
        ctx.notes["overlay"] = overlay_step(lowers, merged, directory / "upper", directory / "work",
                                            userxattr=userns)

    def root_mount(self, ctx: LaunchContext) -> MountStep:
        return ctx.notes["overlay"]  # type: ignore[no-any-return]


def remove_container_fs(container_id: str) -> None:
    """Delete a container's upper, work and merged dirs (`labkit rm` calls this).

    The container must have exited: its overlay lives in its mount namespace,
    which is gone with its last process.
    """
    remove_tree(str(container_fs_dir(container_id)))


def base_image(container_id: str) -> Image:
    """The image a kept container was started from."""
    path = container_fs_dir(container_id) / IMAGE_FILE
    if not path.is_file():
        raise NotFound(f"container '{container_id}'", "has no kept filesystem",
                       "start it with `labkit run --keep --rootfs IMAGE ...` to commit it later")
    return Image.from_json(path.read_text())


def commit(container_id: str, ref: str, created_by: str | None = None) -> Image:
    """Make the container's upper dir a new layer on top of its image: a new image `ref`.

    Deletions travel as whiteouts, so replaying the layer on the base gives
    exactly the view the container had. Commit a container that has exited.

    Taught in: lab 06.
    """
    try:
        record = state.find(container_id)  # an id, a unique prefix, or a --name
        container_id, running = record.id, state.is_running(record)
    except NotFound:
        running = False  # no state left: only the kept files, if any
    base = base_image(container_id)
    if running:
        raise Busy(f"container '{container_id}'", "is still running, so its files may change",
                   f"stop it first with `labkit stop {container_id}`")
    shift_file = container_fs_dir(container_id) / ID_SHIFT
    shift = int(shift_file.read_text()) if shift_file.is_file() else 0
    with layers.store_lock(shared=True):  # the new layer is recorded before GC may look
        digest = layers.add_layer_from_dir(container_fs_dir(container_id) / "upper", shift)
        return store.add_layer_on(base, ref, digest, created_by or f"labkit commit {container_id}")


def leftovers() -> list[Leftover]:
    """Container filesystems whose container's state is gone (or is itself a leftover),
    and the temp dirs of imports that were killed."""
    items = [Leftover("layer-build", p.name, str(p)) for p in layers.stale_builds()]
    root = containers_fs_root()
    entries = sorted(root.iterdir()) if root.is_dir() else []
    if not entries:
        return items
    stale = {item.name for item in state.leftovers() if item.kind == "state"}
    for entry in entries:
        if naming.is_ours(entry.name) and (entry.name in stale or
                                           not (state.containers_dir() / entry.name).is_dir()):
            items.append(Leftover("container-fs", entry.name, str(entry)))
    return items


def remove(item: Leftover) -> None:
    remove_tree(item.where)
