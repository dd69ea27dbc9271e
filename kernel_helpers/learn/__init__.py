"""What a learner's runtime imports: ``from kernel_helpers import learn as lk``.

- syscalls named after themselves, errors with a hint (`kernel_helpers.learn.sys`);
- `Spec` (what to run), `write_pidfile`, `Sync` (a two-call handshake);
- `main`, the command line at the bottom of myruntime.py;
- `image_layers` (an image's layer folders) and `remove_tree` (lab 06);
- lab 08: `DEFAULT_CAPS`, `MASKED_PATHS`, `READONLY_PATHS`, `cap_number`, `cap_last_cap`,
  `seccomp_default_program` (thin over `kernel_helpers.security`).

No ctypes here and none in lesson code: every call goes through the kit's seam.

Taught in: lab 01.
"""

from kernel_helpers.learn.command import main
from kernel_helpers.learn.image import image_layers, remove_tree
from kernel_helpers.learn.spec import Spec, exit_status, write_pidfile
from kernel_helpers.learn.sync import Sync
from kernel_helpers.learn.sys import *  # noqa: F403 - the syscalls and constants, by their kernel names
from kernel_helpers.learn.sys import HINTS, SyscallError, error_for

__all__ = ["HINTS", "Spec", "Sync", "SyscallError", "error_for", "exit_status", "image_layers",
           "main", "remove_tree", "write_pidfile"]
