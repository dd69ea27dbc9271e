"""Security: what a shared kernel does not isolate, and the runtime hardening that closes it.

Image provenance (`provenance`) is imported where used; the audit, the escape battery and
the in-container probe that judge this hardening are in `kernel_helpers/audit/`.

Taught in: lab 08.
"""

from kernel_helpers.security.capabilities import (CAPS, DOCKER_DEFAULT, RUNC_SPEC_DEFAULT, CapSets,
                                                  drop_to, read_sets)
from kernel_helpers.security.hardening import Hardening, HardeningStage
from kernel_helpers.security.masking import MASKED_PATHS, READONLY_PATHS, plan_masking
from kernel_helpers.security.seccomp import Profile, Rule, docker_default

__all__ = ["CAPS", "DOCKER_DEFAULT", "RUNC_SPEC_DEFAULT", "CapSets", "drop_to", "read_sets",
           "Hardening", "HardeningStage", "MASKED_PATHS", "READONLY_PATHS", "plan_masking",
           "Profile", "Rule", "docker_default"]
