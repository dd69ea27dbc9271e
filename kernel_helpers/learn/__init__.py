"""What a learner's runtime imports: ``from kernel_helpers import learn as lk``.

- syscalls named after themselves, errors with a hint (`kernel_helpers.learn.sys`);
- netlink verbs for a container's network, the same way (`kernel_helpers.learn.net`, lab 07);
- `Spec` (what to run), `write_pidfile`, `Sync` (a two-call handshake);
- `main`, the command line at the bottom of myruntime.py;
- cgroups by path, on v1 and v2 alike (`kernel_helpers.learn.cgroup`, lab 05);
- `image_layers` (an image's layer folders) and `remove_tree` (lab 06);
- lab 08: `DEFAULT_CAPS`, `MASKED_PATHS`, `READONLY_PATHS`, `cap_number`, `cap_last_cap`,
  `seccomp_default_program` (thin over `kernel_helpers.security`).

No ctypes here and none in lesson code: every call goes through the kit's seam.

Taught in: lab 01.
"""

from kernel_helpers.learn.cgroup import (CGROUP_PARENT, add_to_cgroup, cgroup_folders,
                                         make_cgroup, rmdir_cgroup, write_limit)
from kernel_helpers.learn.command import main
from kernel_helpers.learn.image import image_layers, remove_tree
from kernel_helpers.learn.net import *  # noqa: F403 - veth_add, addr_add... (lab 07)
from kernel_helpers.learn.spec import Spec, exit_status, write_pidfile
from kernel_helpers.learn.sync import Sync
from kernel_helpers.learn.sys import *  # noqa: F403 - the syscalls and constants, by their kernel names
from kernel_helpers.learn.sys import HINTS, SyscallError, error_for

__all__ = ["CGROUP_PARENT", "HINTS", "Spec", "Sync", "SyscallError", "add_to_cgroup",
           "cgroup_folders", "error_for", "exit_status", "image_layers", "main", "make_cgroup",
           "remove_tree", "rmdir_cgroup", "write_limit", "write_pidfile"]
