"""kernel_helpers: the engine of the container lab kit.

Real syscalls, real mounts, real cgroups. The public names are re-exported here.
"""

from kernel_helpers.errors import (Busy, InvalidValue, KernelError, KernelFeatureMissing,
                                   LabkitError, NameTaken, NotFound, NotRoot)

__all__ = ["Busy", "InvalidValue", "KernelError", "KernelFeatureMissing", "LabkitError",
           "NameTaken", "NotFound", "NotRoot"]
