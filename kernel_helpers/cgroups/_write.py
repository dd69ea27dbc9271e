"""The only code that changes cgroupfs: it applies plans (Write lists), makes and removes groups."""

from __future__ import annotations

import os
import time

from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers.cgroups.limits import Write
from kernel_helpers.errors import (InvalidValue, KernelError, KernelFeatureMissing,
                                   LabkitError, NameTaken, NotFound)


def apply_writes(folders: dict[str, str], writes: list[Write], subtree_roots: list[str],
                 kernel: Kernel = LINUX) -> None:
    """Write each value into its controller's folder, in order.

    Args:
        folders: controller -> the group's folder in that controller's hierarchy
            (on v2 every controller maps to the same folder).
        subtree_roots: the kit's own folders; a write anywhere else is refused.
    """
    for write in writes:
        folder = folders.get(write.controller)
        if folder is None:
            if write.optional:
                continue
            raise KernelFeatureMissing(
                f"cgroup controller {write.controller}", "is not available on this machine",
                "run `labkit doctor` to see the controllers, or drop that limit")
        path = os.path.join(folder, write.file)
        check_inside(path, subtree_roots)
        if write.optional and not os.path.exists(path):
            continue
        try:
            kernel.write_knob(path, write.value)
        except NotFound:
            raise KernelFeatureMissing(
                f"cgroup file {write.file}", f"does not exist in {folder}",
                f"this machine's {write.controller} controller lacks it; run `labkit doctor`"
            ) from None
        except KernelError as err:  # EINVAL, ERANGE...: the value itself was refused
            raise InvalidValue(f"cgroup file {write.file}",
                               f"the kernel refused '{write.value}' ({err.problem})",
                               "use a value this machine supports; `labkit doctor` lists its "
                               "CPUs and cgroup controllers") from err
        except LabkitError as err:
            raise type(err)(f"cgroup {path}", f"writing '{write.value}' failed: {err.problem}",
                            err.fix) from err


def check_inside(path: str, subtree_roots: list[str]) -> None:
    """Refuse any path outside the kit's own cgroup folders (safety: never touch the host's)."""
    real = os.path.normpath(path)
    if not any(real.startswith(os.path.normpath(root) + os.sep) for root in subtree_roots):
        raise LabkitError(f"cgroup path {path}", "is outside the kit's own cgroup subtree",
                          "only groups under the kit's 'labkit' folder may be changed")


def make_folder(path: str, exist_ok: bool = True, kernel: Kernel = LINUX) -> None:
    """mkdir a group; EEXIST is fine for a shared parent, an error for a group of our own."""
    try:
        kernel.mkdir(path)
    except NameTaken:
        if not exist_ok:
            raise


def remove_folder(path: str, timeout: float, kernel: Kernel = LINUX) -> None:
    """rmdir, retrying EBUSY: a group stays busy briefly while its last tasks finish exiting."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            kernel.rmdir(path)
            return
        except NotFound:
            return
        except LabkitError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)
