"""The content-addressed layer store: a layer's name is the sha256 of its tar.

    DATA_ROOT/layers/<hex>/layer.tar   the layer as an OCI tar (.wh. whiteouts)
    DATA_ROOT/layers/<hex>/diff/       the same, unpacked in overlay form (a lower dir)
    DATA_ROOT/layers/<hex>/diff-<n>/   a copy owned n ids up, for `--userns` (made on first use)

The digest is checked every time the tar is read (unpack, export), so a
corrupted or swapped file is noticed instead of silently run. Two images that
share a layer share it on disk too, which is why pulling a second image based
on the same distribution is fast. Layers are built in a temporary directory
and renamed into place, so a layer dir either is complete or does not exist.

One lock guards the store (`store_lock`): whatever adds layers and records
what uses them (an import, a commit, a container start) holds it shared, from
the first layer to the record; garbage collection holds it exclusive, so it
never sees a layer that is written but not yet recorded.

Taught in: lab 08.

Every `labkit run` of an image reads this store, but only imports and commits
write to it: the writers' modules (hashlib, tempfile, shutil, subprocess and
`tarsafe`, with tarfile) are imported in the functions that use them, which
keeps about 15 ms of imports off each container start.
"""

from __future__ import annotations

import os
import re
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator

from kernel_helpers import naming
from kernel_helpers.errors import InvalidValue, NotFound
from kernel_helpers.files import PRIVATE_DIRS, flocked, private_data_dir

LAYER_TAR = "layer.tar"
DIFF = "diff"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
CHUNK = 1 << 20
LOCK = ".lock"
"""The store's lock file, in the layers dir (dot names are never taken for layers)."""


def layers_root() -> Path:
    """Where layers live (follows LABKIT_DATA_ROOT)."""
    return naming.DATA_ROOT / "layers"


@contextmanager
def store_lock(shared: bool = False) -> Iterator[None]:
    """Shared: add layers and record their users. Exclusive: decide what is unused and remove it."""
    with flocked(_ensure_root() / LOCK, shared):
        yield


def check_digest(digest: str) -> str:
    """Refuse anything but ``sha256:`` + 64 hex digits (digests also become paths)."""
    if not _DIGEST.match(digest):
        raise InvalidValue(f"digest '{digest}'", "is not a sha256 digest",
                           "use the form sha256:<64 hex digits>")
    return digest


def layer_dir(digest: str) -> Path:
    return layers_root() / check_digest(digest).split(":", 1)[1]


def has_layer(digest: str) -> bool:
    return (layer_dir(digest) / LAYER_TAR).is_file()


class HashingReader:
    """A read-only stream that hashes what passes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        import hashlib
        self.raw, self.sha, self.size = raw, hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        self.sha.update(data)
        self.size += len(data)
        return data

    def drain(self) -> str:
        """Read to the end (tar readers stop before the padding) and return the digest."""
        while self.read(CHUNK):
            pass
        return "sha256:" + self.sha.hexdigest()


def digest_mismatch(what: str, expected: str, actual: str) -> InvalidValue:
    return InvalidValue(what, f"has digest {actual[:19]}… but should have {expected[:19]}…",
                        "the data is corrupt or was tampered with; fetch it again")


@contextmanager
def _building() -> Iterator[Path]:
    """A temp dir in the store, removed unless the caller renamed it into place."""
    import shutil
    import tempfile
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{os.getpid()}-", dir=_ensure_root()))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _install(tmp: Path, digest: str) -> None:
    try:
        os.rename(tmp, layer_dir(digest))
    except OSError:
        if not has_layer(digest):  # not "another process stored the same layer first"
            raise


def add_layer(source: IO[bytes], expected: str | None = None) -> str:
    """Store the (uncompressed) layer tar read from `source`; return its digest.

    The tar is unpacked while it is copied and hashed, so it is read once. If
    `expected` is given and the digest differs, nothing is kept.
    """
    from kernel_helpers.images.tarsafe import extract_layer
    with _building() as tmp:
        os.chmod(tmp, 0o755)
        reader = HashingReader(source)
        with open(tmp / LAYER_TAR, "wb") as copy:
            tee = _Tee(reader, copy.write)
            (tmp / DIFF).mkdir(mode=0o755)
            extract_layer(tee, tmp / DIFF)  # type: ignore[arg-type]
            while tee.read(CHUNK):
                pass
        digest = "sha256:" + reader.sha.hexdigest()
        if expected is not None and expected != digest:
            raise digest_mismatch("layer", expected, digest)
        if not has_layer(digest):
            _install(tmp, digest)
    return digest


class _Tee:
    def __init__(self, reader: HashingReader, write: Callable[[bytes], object]) -> None:
        self.reader, self.write = reader, write

    def read(self, n: int = -1) -> bytes:
        data = self.reader.read(n)
        self.write(data)
        return data


def add_layer_from_dir(src: Path, id_shift: int = 0) -> str:
    """Store a directory in overlay form as a layer (a commit, or the busybox base).

    `id_shift` is subtracted from owners (a user-namespace container's files).
    """
    from kernel_helpers.images.diff import write_layer
    import tempfile
    with tempfile.TemporaryFile(dir=_ensure_root()) as tar:
        write_layer(src, tar, id_shift)
        tar.seek(0)
        return add_layer(tar)


def _ensure_root() -> Path:
    """The layers dir, made if missing; every data dir checked to be private (0710)."""
    for name in PRIVATE_DIRS:  # "on open of the store": an upgraded machine is tightened too
        if name == "layers" or (naming.DATA_ROOT / name).is_dir():
            private_data_dir(name)
    return layers_root()


def copy_layer(digest: str, out: IO[bytes]) -> int:
    """Copy the layer tar to `out`, checking its digest on the way; return its size."""
    path = layer_dir(digest) / LAYER_TAR
    if not path.is_file():
        raise NotFound(f"layer {digest[:19]}…", "is not in the store",
                       "import the image again (`labkit image import`)")
    with open(path, "rb") as f:
        reader = HashingReader(f)
        while data := reader.read(CHUNK):
            out.write(data)
    actual = "sha256:" + reader.sha.hexdigest()
    if actual != digest:
        raise digest_mismatch(f"layer file {path}", digest, actual)
    return reader.size


def verify_layer(digest: str) -> None:
    """Read the stored tar once and raise if it no longer has its digest."""
    with open(os.devnull, "wb") as sink:
        copy_layer(digest, sink)


def diff_dir(digest: str) -> Path:
    """The unpacked layer (an overlay lower dir), checked to exist."""
    path = layer_dir(digest) / DIFF
    if not path.is_dir():
        raise NotFound(f"layer {digest[:19]}…", "is not in the store",
                       "import the image again (`labkit image import`)")
    return path


def shifted_diff(digest: str, shift: int) -> Path:
    """The unpacked layer with every owner moved up by `shift` (the host uid of root inside).

    A `--userns` container's root is host uid `shift`; files owned by host uid 0
    are "nobody" to it, so it could not write to /etc. Docker's userns-remap
    solves this the same way: the layers it uses are unpacked owned by the
    remapped ids. The copy is made once per layer (under the store's lock,
    shared) and removed with the layer.
    """
    path = layer_dir(digest) / f"{DIFF}-{shift}"
    if path.is_dir():
        return path
    import subprocess
    source = diff_dir(digest)
    with _building() as tmp:
        copy = tmp / DIFF
        # cp -a keeps whiteouts (0/0 devices), hard links, modes and the opaque xattrs.
        subprocess.run(["cp", "-a", "--", str(source), str(copy)], check=True,
                       capture_output=True)
        for top, dirs, files in os.walk(copy):
            for name in [*dirs, *files, ""] if top == str(copy) else [*dirs, *files]:
                entry = os.path.join(top, name) if name else top
                st = os.lstat(entry)
                os.chown(entry, st.st_uid + shift, st.st_gid + shift, follow_symlinks=False)
                if not stat.S_ISLNK(st.st_mode):  # chown cleared setuid/setgid: put them back
                    os.chmod(entry, stat.S_IMODE(st.st_mode))
        try:
            os.rename(copy, path)
        except OSError:
            if not path.is_dir():  # not "another start made the same copy first"
                raise
    return path


def layer_size(digest: str) -> int:
    return (layer_dir(digest) / LAYER_TAR).stat().st_size


def all_layers() -> list[str]:
    root = layers_root()
    return sorted(f"sha256:{p.name}" for p in root.iterdir()
                  if not p.name.startswith(".")) if root.is_dir() else []


def remove_layer(digest: str) -> None:
    import shutil
    shutil.rmtree(layer_dir(digest), ignore_errors=True)


def stale_builds() -> list[Path]:
    """Temp dirs of imports whose process died (SIGKILL) before it could remove them."""
    from kernel_helpers.process import pid_alive
    root = layers_root()
    return [p for p in (root.iterdir() if root.is_dir() else ())
            if p.name.startswith(".tmp-") and not pid_alive(int(p.name.split("-")[1]))]
