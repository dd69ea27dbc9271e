"""OCI image layouts (what umoci and skopeo write): import into the store, export back.

    DIR/oci-layout            {"imageLayoutVersion": "1.0.0"}
    DIR/index.json            manifests, each tagged by org.opencontainers.image.ref.name
    DIR/blobs/sha256/<hex>    manifests, configs and layers, named by their own digest

Every blob is hashed and compared with the digest that names it before it is
used, and each unpacked layer must also match the config's ``diff_ids``, so a
layer whose digest does not match is refused and nothing of it is kept.

Taught in: lab 06.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import platform
from datetime import datetime, UTC
from pathlib import Path
from typing import IO, Any

from kernel_helpers.errors import InvalidValue, NotFound
from kernel_helpers.files import READABLE, write_atomic
from kernel_helpers.images import layers, store
from kernel_helpers.images.store import HistoryEntry, Image, ImageConfig

REF_ANNOTATION = "org.opencontainers.image.ref.name"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
INDEX_TYPES = (INDEX, "application/vnd.docker.distribution.manifest.list.v2+json")
ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "riscv64": "riscv64"}


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _stamp(text: str | None) -> float:
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def config_json(image: Image) -> dict[str, Any]:
    """The OCI image config for `image` (also what `docker save` carries)."""
    cfg = image.config
    return {
        "created": _iso(image.created),
        "architecture": ARCH.get(platform.machine(), platform.machine()), "os": "linux",
        "config": {"Entrypoint": list(cfg.entrypoint) or None, "Cmd": list(cfg.cmd) or None,
                   "Env": list(cfg.env), "WorkingDir": cfg.workdir},
        "rootfs": {"type": "layers", "diff_ids": list(image.layers)},
        "history": [{"created": _iso(h.created), "created_by": h.created_by,
                     **({"empty_layer": True} if h.empty_layer else {})} for h in image.history],
    }


def image_from_config(ref: str, config: dict[str, Any], digests: list[str]) -> Image:
    """Read entrypoint, cmd, env, workdir and history out of an OCI/docker config."""
    inner = config.get("config") or {}
    return Image(store.normalize_ref(ref), tuple(digests),
                 ImageConfig(tuple(inner.get("Entrypoint") or ()), tuple(inner.get("Cmd") or ()),
                             tuple(inner.get("Env") or ()), inner.get("WorkingDir") or "/"),
                 tuple(HistoryEntry(h.get("created_by", ""), _stamp(h.get("created")),
                                    bool(h.get("empty_layer"))) for h in config.get("history", ())),
                 _stamp(config.get("created")))


def diff_ids(config: dict[str, Any], count: int) -> list[str]:
    ids = (config.get("rootfs") or {}).get("diff_ids") or []
    if len(ids) != count:
        raise InvalidValue("image config", f"lists {len(ids)} layer ids for {count} layers",
                           "the image is damaged; export it again")
    return [layers.check_digest(d) for d in ids]


class Layout:
    """An OCI layout directory, every blob read checked against its digest."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def blob_path(self, digest: str) -> Path:
        return self.path / "blobs" / "sha256" / layers.check_digest(digest).split(":", 1)[1]

    def verify(self, digest: str) -> Path:
        path = self.blob_path(digest)
        if not path.is_file():
            raise NotFound(f"blob {digest[:19]}…", f"is missing from {self.path}",
                           "the layout is incomplete; copy it again")
        with open(path, "rb") as f:
            reader = layers.HashingReader(f)
            actual = reader.drain()
        if actual != digest:
            raise layers.digest_mismatch(f"blob {path}", digest, actual)
        return path

    def json(self, digest: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.verify(digest).read_bytes())
        return data

    def index(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.path / "index.json").read_text())
            return data
        except FileNotFoundError:
            raise NotFound(f"'{self.path}'", "is not an OCI image layout (no index.json)",
                           "give a directory made by `umoci init` or `skopeo copy ... oci:DIR`") from None

    def manifest_for(self, tag: str | None) -> tuple[str, dict[str, Any]]:
        """(ref name, manifest) of `tag`, or of the only image when no tag is given."""
        found = self.index().get("manifests", [])
        if tag is not None:
            found = [m for m in found if (m.get("annotations") or {}).get(REF_ANNOTATION) == tag]
        if len(found) != 1:
            names = ", ".join((m.get("annotations") or {}).get(REF_ANNOTATION, "?")
                              for m in self.index().get("manifests", []))
            raise NotFound(f"image '{tag or ''}' in {self.path}",
                           "is not there" if not found else "is ambiguous",
                           f"name one of the tags it has ({names or 'none'}), as DIR:TAG")
        desc = found[0]
        name = (desc.get("annotations") or {}).get(REF_ANNOTATION) or "latest"
        manifest = self.json(desc["digest"])
        if manifest.get("mediaType") in INDEX_TYPES or desc.get("mediaType") in INDEX_TYPES:
            arch = ARCH.get(platform.machine(), platform.machine())
            picks = [m for m in manifest.get("manifests", [])
                     if (m.get("platform") or {}).get("architecture") == arch]
            if not picks:
                raise NotFound(f"image '{name}'", f"has no {arch} variant", "use an image built for it")
            manifest = self.json(picks[0]["digest"])
        return name, manifest


def open_layer(path: Path, media_type: str = "") -> IO[bytes]:
    """The uncompressed tar stream of a layer blob (plain or gzip, told by its first bytes)."""
    if "zstd" in media_type:
        raise InvalidValue(f"layer type '{media_type}'", "is not supported by this kit",
                           "convert it first, e.g. `skopeo copy --dest-compress-format gzip`")
    with open(path, "rb") as f:
        magic = f.read(2)
    return gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")  # type: ignore[return-value]


def import_layout(path: Path, tag: str | None = None, ref: str | None = None) -> Image:
    """Import one image of an OCI layout (``DIR`` or ``DIR:TAG``) into the store.

    Taught in: lab 06.
    """
    layout = Layout(path)
    name, manifest = layout.manifest_for(tag)
    config = layout.json(manifest["config"]["digest"])
    descs = manifest.get("layers", [])
    ids = diff_ids(config, len(descs))
    default = name if ":" in name.rsplit("/", 1)[-1] else f"{path.name.lower()}:{name}"
    image = image_from_config(ref or default, config, ids)
    with store.importing() as add:
        for desc, diff_id in zip(descs, ids):
            blob = layout.verify(desc["digest"])
            with open_layer(blob, desc.get("mediaType", "")) as stream:
                add(stream, diff_id)
        return store.save(image)


def _write_blob(layout: Layout, data: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    layout.blob_path(digest).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def export_layout(ref: str, path: Path) -> str:
    """Write `ref` into an OCI layout at `path` (made, or added to); return its tag there.

    Taught in: lab 06.
    """
    image = store.get(ref)
    layout = Layout(path)
    (path / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (path / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    descs = []
    for digest in image.layers:
        with open(layout.blob_path(digest), "wb") as out:
            size = layers.copy_layer(digest, out)
        descs.append({"mediaType": LAYER_TAR, "digest": digest, "size": size})
    config = _write_blob(layout, json.dumps(config_json(image), indent=1).encode())
    manifest = _write_blob(layout, json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST,
        "config": {"mediaType": CONFIG, **config}, "layers": descs}, indent=1).encode())
    tag = image.ref.rsplit(":", 1)[1]
    index: dict[str, Any] = json.loads((path / "index.json").read_text()) if (path / "index.json").exists() else {
        "schemaVersion": 2, "mediaType": INDEX, "manifests": []}
    index["manifests"] = [m for m in index["manifests"]
                          if (m.get("annotations") or {}).get(REF_ANNOTATION) != tag]
    index["manifests"].append({"mediaType": MANIFEST, **manifest,
                               "annotations": {REF_ANNOTATION: tag}})
    write_atomic(path / "index.json", json.dumps(index, indent=1), READABLE)
    return tag
