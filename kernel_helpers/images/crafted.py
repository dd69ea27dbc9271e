"""Hostile layer tars: the tricks that made tar extractors change files outside their tree.

Used by the importer's tests, and handy in lab 06 to watch `labkit image import`
refuse each one. The tars are only bytes in memory; `sentinel_in` makes the host
file they aim at, and `fingerprint` proves it was left alone.

Taught in: lab 06.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path


def crafted(*members: tuple[str, str, str | bytes] | tuple[str, str, str | bytes, int]) -> io.BytesIO:
    """(name, kind, data[, mode]) with mtime 0: what an attacker wants set on a host file.

    kind is file, dir, symlink, hardlink or chr; data is the content or the link target;
    the mode defaults to 0755 for a directory and 0644 for the rest.
    """
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data, *mode in members:
            info = tarfile.TarInfo(name)
            info.mode = mode[0] if mode else 0o755 if kind == "dir" else 0o644
            info.mtime = 0
            if kind == "file":
                content = data.encode() if isinstance(data, str) else data
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                         "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE}[kind]
            info.linkname = str(data)
            tar.addfile(info)
    buffer.seek(0)
    return buffer


def fingerprint(path: Path) -> tuple[int, ...]:
    """Everything a chmod, chown, utime, link or write would change (ctime moves on any of them)."""
    st = os.lstat(path)
    return (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns, st.st_ctime_ns, st.st_nlink,
            st.st_size, hash(path.read_bytes()))


def sentinel_in(outside: Path) -> Path:
    sentinel = outside / "sentinel"
    sentinel.write_text("host file\n")
    os.chmod(sentinel, 0o640)
    os.utime(sentinel, (1_000_000_000, 1_000_000_000))
    return sentinel


SETUID = 0o4777


def symlink_attacks(outside: Path) -> dict[str, tuple[io.BytesIO, str]]:
    """Each trick that made extractors change a host file, and the words of its refusal."""
    target, folder = str(outside / "sentinel"), str(outside)
    climb = "../" * 12 + target.lstrip("/")
    return {
        "dir then same-named symlink (CVE-2024-12718)": (crafted(
            ("x", "dir", "", SETUID), ("x", "symlink", target, 0o777)),
            "replaces a directory"),
        "dir then symlink to the parent of a deferred dir": (crafted(
            ("a", "dir", "", 0o755), ("a/sentinel", "dir", "", SETUID),
            ("a", "symlink", folder, 0o777)),
            "replaces a directory"),
        "dir, its whiteout, then a symlink": (crafted(
            ("x", "dir", "", SETUID), (".wh.x", "file", "", 0o644),
            ("x", "symlink", target, 0o777)),
            "through the symlink 'x'"),
        "symlink parent": (crafted(
            ("l", "symlink", folder, 0o777), ("l/sentinel", "dir", "", SETUID)),
            "through the symlink 'l'"),
        "symlink then a file through it": (crafted(
            ("s", "symlink", folder, 0o777), ("s/sentinel", "file", "pwned\n", SETUID)),
            "through the symlink 's'"),
        "hard link to an absolute host path": (crafted(("h", "hardlink", target, SETUID)),
                                               "absolute path"),
        "hard link climbing out": (crafted(("h", "hardlink", climb, SETUID)), "climbs out"),
        "hard link through a symlink": (crafted(
            ("s", "symlink", target, 0o777), ("h", "hardlink", "s", SETUID)),
            "not in the layer"),
    }


def docker_save_tar(path: Path, ref: str, layer_tars: list[bytes]) -> Path:
    """A `docker save` tarball holding `layer_tars`, with a config whose diff_ids match them."""
    ids = ["sha256:" + hashlib.sha256(data).hexdigest() for data in layer_tars]
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": ids}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    names = [d[7:] + "/layer.tar" for d in ids]
    manifest = json.dumps([{"Config": config_name, "RepoTags": [ref], "Layers": names}]).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in [(config_name, config), *zip(names, layer_tars),
                           ("manifest.json", manifest)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def oci_layout_dir(path: Path, tag: str, layer_tars: list[bytes]) -> Path:
    """An OCI layout with one image of `layer_tars`, every blob named by its digest."""
    def blob(data: bytes) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (path / "blobs" / "sha256" / digest).write_bytes(data)
        return {"digest": "sha256:" + digest, "size": len(data)}
    (path / "blobs" / "sha256").mkdir(parents=True)
    (path / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    descs = [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **blob(d)} for d in layer_tars]
    config = blob(json.dumps({"rootfs": {"type": "layers", "diff_ids": [
        d["digest"] for d in descs]}, "config": {}}).encode())
    manifest = blob(json.dumps({"schemaVersion": 2, "config": config, "layers": descs}).encode())
    (path / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [
        {**manifest, "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return path

