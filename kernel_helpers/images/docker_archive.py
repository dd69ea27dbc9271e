"""`docker save` tarballs: import into the store, export back (`docker load` reads them).

    manifest.json          [{"Config": "<hex>.json", "RepoTags": ["name:tag"],
                             "Layers": ["<hex>/layer.tar", ...]}]
    <hex>.json             the image config (same format as OCI's), named by its digest
    <hex>/layer.tar        each layer, uncompressed; its digest is in the config's diff_ids
    repositories           the legacy name -> top layer map, for old docker versions

Newer docker versions write an OCI layout inside the tarball and point
manifest.json into blobs/sha256/; both shapes are read the same way.

Taught in: lab 06.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from pathlib import Path
from typing import IO

from kernel_helpers.errors import InvalidValue, NotFound
from kernel_helpers.images import layers, store
from kernel_helpers.images.oci import config_json, diff_ids, image_from_config

_HEX = re.compile(r"([0-9a-f]{64})")


def _member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    try:
        stream = tar.extractfile(name)
    except KeyError:
        stream = None
    if stream is None:
        raise NotFound(f"'{name}'", "is missing from the docker archive",
                       "the file is incomplete; run `docker save` again")
    return stream


def _gunzipped(stream: IO[bytes]) -> IO[bytes]:
    """Layers in a docker archive are plain tars, but gzip ones are accepted as well."""
    head = stream.read(2)
    stream.seek(0)
    if head == b"\x1f\x8b":
        import gzip
        return gzip.GzipFile(fileobj=stream)  # type: ignore[return-value]
    return stream


def import_archive(path: Path, ref: str | None = None) -> store.Image:
    """Import the first image of a `docker save` tarball (or the one tagged `ref`).

    Taught in: lab 06.
    """
    if not tarfile.is_tarfile(path):
        raise InvalidValue(f"'{path}'", "is not a tar archive", "give a file made by `docker save`")
    with tarfile.open(path) as tar:
        entries = json.load(_member(tar, "manifest.json"))
        wanted = store.normalize_ref(ref) if ref else None
        entry = next((e for e in entries if wanted is None or wanted in (e.get("RepoTags") or ())),
                     entries[0] if entries else None)
        if entry is None:
            raise NotFound(f"'{path}'", "holds no image", "give a file made by `docker save`")
        raw_config = _member(tar, entry["Config"]).read()
        named = _HEX.search(entry["Config"])
        actual = hashlib.sha256(raw_config).hexdigest()
        if named and named.group(1) != actual:
            raise layers.digest_mismatch(f"config {entry['Config']}", "sha256:" + named.group(1),
                                         "sha256:" + actual)
        config = json.loads(raw_config)
        ids = diff_ids(config, len(entry["Layers"]))
        tags = entry.get("RepoTags") or []
        image = image_from_config(ref or (tags[0] if tags else path.stem.lower()), config, ids)
        with store.importing() as add:
            for name, diff_id in zip(entry["Layers"], ids):
                add(_gunzipped(_member(tar, name)), diff_id)
            return store.save(image)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    tar.addfile(info, io.BytesIO(data))


def export_archive(ref: str, path: Path) -> None:
    """Write `ref` as a `docker save` tarball at `path` (all or nothing).

    Taught in: lab 06.
    """
    image = store.get(ref)
    config = json.dumps(config_json(image), indent=1).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    layer_names = [d.split(":", 1)[1] + "/layer.tar" for d in image.layers]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tarfile.open(tmp, "w", format=tarfile.PAX_FORMAT) as tar:
            _add_bytes(tar, config_name, config)
            for digest, name in zip(image.layers, layer_names):
                info = tarfile.TarInfo(name)
                info.size, info.mode = layers.layer_size(digest), 0o644
                with open(layers.layer_dir(digest) / layers.LAYER_TAR, "rb") as f:
                    reader = layers.HashingReader(f)
                    tar.addfile(info, reader)
                    if (actual := reader.drain()) != digest:
                        raise layers.digest_mismatch(f"layer {digest[:19]}…", digest, actual)
            _add_bytes(tar, "manifest.json", json.dumps(
                [{"Config": config_name, "RepoTags": [image.ref], "Layers": layer_names}]).encode())
            name, tag = image.ref.rsplit(":", 1)
            _add_bytes(tar, "repositories", json.dumps(
                {name: {tag: layer_names[-1].split("/")[0]}}).encode())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
