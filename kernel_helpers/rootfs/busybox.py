"""An offline base image from the machine's static busybox (Debian `busybox-static`).

No network and no registry: one static binary plus a link per applet is a
complete little Linux userland, which is all the early labs need.

Taught in: lab 03.
"""

from __future__ import annotations

import os
from pathlib import Path

from kernel_helpers.errors import NotFound
from kernel_helpers.files import private_data_dir

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")
DIRECTORIES = ("bin", "sbin", "usr/bin", "usr/sbin", "etc", "proc", "sys", "dev", "tmp",
               "root", "home", "var/log", "var/www", "run")
FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/hostname": "labkit\n",
    "etc/hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
    "etc/os-release": 'NAME="labkit busybox"\nID=busybox\n',
}


def find_busybox() -> Path:
    """The static busybox binary, or a clear error saying how to install it."""
    for candidate in BUSYBOX_CANDIDATES:
        path = Path(candidate)
        if path.is_file() and _is_static(path):
            return path
    raise NotFound("busybox", "no static busybox binary was found",
                   "install it with `apt-get install busybox-static`")


def _is_static(path: Path) -> bool:
    # A static ELF has no PT_INTERP program header; checking for the loader path is enough.
    head = path.read_bytes()[:65536]
    return b"/ld-linux" not in head


def busybox_rootfs() -> Path:
    """The base image's rootfs directory, built on first use."""
    root = private_data_dir("images") / "busybox" / "rootfs"  # `--rootfs busybox` writes here
    if not (root / "bin" / "busybox").exists():
        build_busybox_rootfs(root)
    return root


def build_busybox_rootfs(dest: Path) -> Path:
    """Build the rootfs into `dest` atomically (a temp dir renamed into place)."""
    import shutil  # only on first use: keeps `labkit run` start-up lean
    import subprocess
    import tempfile
    binary = find_busybox()
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=dest.parent))
    try:
        os.chmod(tmp, 0o755)  # mkdtemp makes 0700; a user-namespace root must traverse it
        for directory in DIRECTORIES:
            (tmp / directory).mkdir(parents=True, exist_ok=True)
        os.chmod(tmp / "tmp", 0o1777)
        shutil.copy2(binary, tmp / "bin" / "busybox")
        applets = subprocess.run([str(binary), "--list-full"], check=True,
                                 capture_output=True, text=True).stdout.split()
        for applet in applets:
            link = tmp / applet
            if not link.exists():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(os.path.relpath(tmp / "bin" / "busybox", link.parent))
        for name, text in FILES.items():
            (tmp / name).write_text(text)
        try:
            tmp.rename(dest)
        except OSError:
            if not (dest / "bin" / "busybox").exists():
                raise
            shutil.rmtree(tmp)  # another process built it first
        return dest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
