"""The kernel seam: every privileged syscall the kit makes goes through a `Kernel`.

Mechanism modules take ``kernel: Kernel = LINUX`` so a recording double can be
passed in the few tests that check syscall *order*; kernel behaviour itself is
always tested against the real kernel.
"""

from __future__ import annotations

from typing import Protocol

from kernel_helpers._sys.linux import LINUX, Linux


class Kernel(Protocol):
    """The syscalls the kit uses, named as the kernel names them."""

    def unshare(self, flags: int) -> None: ...
    def setns(self, fd: int, nstype: int) -> None: ...
    def mount(self, source: str | None, target: str, fstype: str | None,
              flags: int = 0, data: str | None = None) -> None: ...
    def umount2(self, target: str, flags: int = 0) -> None: ...
    def pivot_root(self, new_root: str, put_old: str) -> None: ...
    def sethostname(self, name: str) -> None: ...
    def setdomainname(self, name: str) -> None: ...
    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0,
              arg5: int = 0) -> int: ...
    def chroot(self, path: str) -> None: ...


__all__ = ["Kernel", "LINUX", "Linux"]
