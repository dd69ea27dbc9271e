"""Images: an ordered list of layers (bottom first) plus how to start a container from it.

    DATA_ROOT/imagedb/<name>%3A<tag>.json   one file per image reference

The file is small and rewritten atomically; the heavy content lives in the
layer store, shared between images. The offline busybox base image becomes
the image ``busybox:latest`` the first time it is asked for.

Taught in: lab 06.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Callable, Iterator

from kernel_helpers import naming, validate
from kernel_helpers.errors import NotFound
from kernel_helpers.files import READABLE, write_atomic
from kernel_helpers.images import layers

BASE_IMAGE = "busybox:latest"
IMAGE_FILE = "image.json"
"""In each container's filesystem dir: the image it runs, so GC keeps its layers."""
DEFAULT_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)


@dataclass(frozen=True)
class ImageConfig:
    """How a container starts from the image (the OCI config's "config" part)."""

    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    """Empty for the kit's busybox base: `labkit run` asks for a command."""
    env: tuple[str, ...] = DEFAULT_ENV
    workdir: str = "/"

    def command(self, args: tuple[str, ...] | list[str] = ()) -> tuple[str, ...]:
        """Docker's rule: entrypoint + (the given args, or else cmd)."""
        return self.entrypoint + (tuple(args) or self.cmd)


@dataclass(frozen=True)
class HistoryEntry:
    created_by: str
    created: float = field(default_factory=time.time)
    empty_layer: bool = False


@dataclass(frozen=True)
class Image:
    """A named image: its layers (bottom first), config and history (oldest first)."""

    ref: str
    layers: tuple[str, ...]
    config: ImageConfig = field(default_factory=ImageConfig)
    history: tuple[HistoryEntry, ...] = ()
    created: float = field(default_factory=time.time)

    def layer_dirs(self) -> list[Path]:
        """The unpacked layers, bottom first: the overlay's lower dirs."""
        return [layers.diff_dir(digest) for digest in self.layers]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Image:
        data = json.loads(text)
        fields: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v)
                                  for k, v in (data.get("config") or {}).items()}
        return cls(ref=data["ref"], layers=tuple(data["layers"]),
                   config=ImageConfig(**fields),
                   history=tuple(HistoryEntry(**h) for h in data.get("history", ())),
                   created=data.get("created", 0.0))


def normalize_ref(ref: str) -> str:
    """``busybox`` and ``docker.io/library/busybox`` -> ``busybox:latest``; refuse non-refs."""
    for prefix in ("docker.io/library/", "docker.io/"):
        ref = ref.removeprefix(prefix) if ref else ref
    validate.image_ref(ref or "")
    return ref if ":" in ref.rsplit("/", 1)[-1] else f"{ref}:latest"


def imagedb() -> Path:
    return naming.DATA_ROOT / "imagedb"


def _path(ref: str) -> Path:
    return imagedb() / (urllib.parse.quote(normalize_ref(ref), safe="") + ".json")


def save(image: Image) -> Image:
    """Record the image (replacing an older one of the same name); its layers must exist."""
    image = replace(image, ref=normalize_ref(image.ref))
    for digest in image.layers:
        layers.diff_dir(digest)
    imagedb().mkdir(parents=True, exist_ok=True)
    write_atomic(_path(image.ref), image.to_json(), READABLE)
    return image


def exists(ref: str) -> bool:
    return _path(ref).is_file() or normalize_ref(ref) == BASE_IMAGE


def get(ref: str) -> Image:
    """The image named `ref`; busybox is built from the offline base on first use."""
    path = _path(ref)
    if not path.is_file():
        if normalize_ref(ref) == BASE_IMAGE:
            return import_busybox()
        raise NotFound(f"image '{ref}'", "is not in the store",
                       "list images with `labkit image ls`, or import one with `labkit image import`")
    return Image.from_json(path.read_text())


def all_images() -> list[Image]:
    root = imagedb()
    return [Image.from_json(p.read_text()) for p in sorted(root.glob("*.json"))] if root.is_dir() else []


def remove(ref: str) -> list[str]:
    """Forget the image, then delete the layers nothing uses any more; return those digests."""
    with layers.store_lock():
        path = _path(ref)
        if not path.is_file():
            raise NotFound(f"image '{ref}'", "is not in the store",
                           "list images with `labkit image ls`")
        path.unlink()
        return _unused_removed()


def containers_fs_root() -> Path:
    """Where containers' upper, work and merged dirs live (`images/containerfs.py`)."""
    return naming.DATA_ROOT / "containers"


def layers_in_use() -> set[str]:
    """Layers below some container's upper dir (they must not be garbage collected)."""
    used: set[str] = set()
    root = containers_fs_root()
    for entry in root.iterdir() if root.is_dir() else ():
        try:
            used.update(json.loads((entry / IMAGE_FILE).read_text())["layers"])
        except (OSError, ValueError, KeyError):
            continue
    return used


def collect_garbage() -> list[str]:
    """Remove layers that no image and no container's filesystem still uses.

    Under the store's exclusive lock: an import that has written a layer but not
    yet recorded its image holds the shared lock, so this waits for it.
    """
    with layers.store_lock():
        return _unused_removed()


def _unused_removed(only: list[str] | None = None) -> list[str]:
    """The layers (of `only`, if given) nothing uses, removed; the exclusive lock is held."""
    used = {d for image in all_images() for d in image.layers} | layers_in_use()
    unused = [d for d in (layers.all_layers() if only is None else only) if d not in used]
    for digest in unused:
        layers.remove_layer(digest)
    return unused


@contextmanager
def importing() -> Iterator[Callable[[IO[bytes], str], None]]:
    """Add layers that must match `expected`, under the store's shared lock.

    Record the image (`save`) inside the block: once it ends, garbage collection
    may run. If the import fails, the layers it added and nothing else records
    are dropped again, under the exclusive lock, so another import that is
    adding the same layer keeps it.
    """
    added: list[str] = []

    def add(stream: IO[bytes], expected: str) -> None:
        fresh = not layers.has_layer(expected)
        layers.add_layer(stream, expected)
        if fresh:
            added.append(expected)

    try:
        with layers.store_lock(shared=True):
            yield add
    except BaseException:
        with layers.store_lock():
            _unused_removed(added)
        raise


def import_busybox() -> Image:
    """Turn the offline busybox rootfs into a one-layer image, ``busybox:latest``."""
    from kernel_helpers.rootfs.busybox import busybox_rootfs
    with layers.store_lock(shared=True):
        digest = layers.add_layer_from_dir(busybox_rootfs())
        return save(Image(BASE_IMAGE, (digest,), ImageConfig(),
                          (HistoryEntry("labkit: static busybox from this machine (offline base)"),)))


def add_layer_on(base: Image, ref: str, digest: str, created_by: str,
                 config: ImageConfig | None = None) -> Image:
    """A new image: `base` plus one layer on top (what each Dockerfile step makes)."""
    return save(Image(normalize_ref(ref), base.layers + (digest,), config or base.config,
                      base.history + (HistoryEntry(created_by),)))
