"""Write a directory in overlay form (a layer, or a container's upper dir) as a layer tar.

This is the other direction of `tarsafe.extract_layer`: overlayfs' whiteouts
(0/0 character devices) become ``.wh.NAME`` files and opaque directories get
a ``.wh..wh..opq`` file, the form OCI images and `docker save` carry.
Entries are written in sorted order with numeric owners only, so the same
tree always gives the same bytes and therefore the same digest.

Taught in: lab 06.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path
from typing import IO

from kernel_helpers.errors import InvalidValue
from kernel_helpers.images.tarsafe import OPAQUE_MARKER, WHITEOUT_PREFIX
from kernel_helpers.rootfs.overlay import is_opaque, is_whiteout


def _marker(arcname: str, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(arcname)
    info.mode, info.mtime = 0o644, int(mtime)
    return info


def _entry(tar: tarfile.TarFile, path: Path, arcname: str, shift: int) -> tarfile.TarInfo:
    info = tar.gettarinfo(str(path), arcname)  # notices hard links to earlier entries
    info.uname = info.gname = ""
    if shift:  # ids as the container saw them (its user namespace's map, undone)
        info.uid, info.gid = (i - shift if i >= shift else 65534 for i in (info.uid, info.gid))
    info.mtime = int(info.mtime)
    return info


def write_layer(src: Path, out: IO[bytes], id_shift: int = 0) -> int:
    """Tar up `src` (overlay form) into `out` (OCI form); return the number of entries.

    `id_shift` is the host uid of root inside a user namespace; owners are
    written as seen inside (ids outside the map become nobody, 65534).
    """
    count = 0
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for top, dirnames, filenames in os.walk(src):
            dirnames.sort()
            rel = os.path.relpath(top, src)
            prefix = "" if rel == "." else rel + "/"
            if prefix and is_opaque(top):
                tar.addfile(_marker(prefix + OPAQUE_MARKER, os.lstat(top).st_mtime))
                count += 1
            # os.walk lists symlinks to dirs among dirnames; tar them as the links they are
            names = sorted(filenames + [d for d in dirnames if os.path.islink(os.path.join(top, d))])
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(top, d))]
            for name in sorted(names + dirnames):
                path = Path(top, name)
                st = os.lstat(path)
                if is_whiteout(st):
                    tar.addfile(_marker(prefix + WHITEOUT_PREFIX + name, st.st_mtime))
                elif stat.S_ISSOCK(st.st_mode):
                    continue  # a socket is a live endpoint, not content (docker skips them too)
                elif stat.S_ISREG(st.st_mode):
                    info = _entry(tar, path, prefix + name, id_shift)
                    if info.isreg():
                        with open(path, "rb") as f:
                            tar.addfile(info, f)
                    else:
                        tar.addfile(info)  # a hard link to a file already in the tar
                elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                    raise InvalidValue(f"'{path}'", "is a device node, which layers may not carry",
                                       "delete it in the container before committing")
                else:
                    tar.addfile(_entry(tar, path, prefix + name, id_shift))
                count += 1
    return count
