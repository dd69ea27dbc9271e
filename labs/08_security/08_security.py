# %% [markdown]
# # Lab 08: security, or what a shared kernel does not isolate
#
# **The idea.** Every container on a host runs on **one kernel**. Namespaces
# give a container its own *names* (pids, mounts, hostname, network). Many
# things are not names, and those stay shared:
#
# - **/proc and /sys**: `/proc/meminfo` shows the host's memory, so `free` and
#   `top` inside a container report the whole machine. `/proc/sys` and `/sys`
#   hold knobs that change the whole kernel.
# - **root**: uid 0 in a container is uid 0 on the host unless a **user
#   namespace** maps it to an unprivileged uid.
# - **/dev**: a device node made with `mknod` reaches the host's real disk.
# - **kernel modules**: loading one changes the kernel everyone shares.
# - **time**: `CLOCK_REALTIME` is one clock; a **time namespace** only shifts
#   the monotonic and boot clocks.
# - **the kernel log** (`dmesg`, `syslog(2)`) and **keyrings**.
#
# A runtime closes these with other tools. **Capabilities** split root's power
# into ~41 pieces and a container keeps about 14. **seccomp** filters system
# calls (Docker's default profile blocks ~50). **no_new_privs** stops setuid
# binaries from gaining privileges. **Masked and read-only paths** hide
# `/proc/kcore` and `/proc/keys` and make `/proc/sys` read-only. **User
# namespaces** make root inside an ordinary user outside. LSMs (AppArmor,
# SELinux) add a profile on top; this kit does not apply one.

# %% labkit={"kind": "setup"}
from kernel_helpers._sys import LINUX as kernel
from kernel_helpers._sys.linux import PR_SET_NO_NEW_PRIVS
from kernel_helpers.course import verify
from kernel_helpers.namespaces import Namespace
from kernel_helpers.runtime.run_options import spec_from_options
from kernel_helpers.audit.isolation import audit_container, report
from kernel_helpers.security.capabilities import CAPS, PR_CAPBSET_DROP, read_sets, to_mask
from kernel_helpers.audit.escapes import battery_in_container
from kernel_helpers.security.hardening import Hardening, HardeningStage
from dataclasses import replace

# %% [markdown] labkit={"step": "security.drop-caps"}
# ## Step 1: the isolation audit
#
# The audit starts a real container, probes sixteen things from inside it,
# and names the mechanism that closes each one. First a **naive** container
# (namespaces only, every capability, as `--privileged`), then the kit's
# default hardening (Docker's defaults):

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
spec = spec_from_options(["/bin/true"])
print("naive:\n" + report(audit_container(spec, (HardeningStage(Hardening.naive()),))))
print("\nhardened:\n" + report(audit_container(spec, (HardeningStage(),))))

# %% [markdown] labkit={"step": "security.drop-caps"}
# Two leaks are left that hardening cannot fix: root is still host root, and
# the clocks are the host's. A **user namespace** (`--userns`) and a **time
# namespace** (`--time-offset`) close them:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
userns = replace(spec, namespaces=spec.namespaces | {Namespace.USER, Namespace.TIME},
                 time_offset=86400)
print(report(audit_container(userns, (HardeningStage(),))))

# %% [markdown] labkit={"step": "security.drop-caps"}
# ## The escape battery
#
# Real escape attempts, each reporting what stopped it (or that it got
# through): the chroot trick, sysctl writes, sysrq, a kernel module, a disk
# device node, host processes, the hostname, the clock, a nested user
# namespace, keyrings; then the kernel's edges: the host's 127.0.0.1 over the
# bridge (with a network), io_uring, a disk node behind the devices cgroup,
# and a host file handed in as stdout. Then the seams around the container,
# tried from the host side: what `labkit exec` hands it (privileges, open
# files), the admin's terminal (TIOCSTI), what `--init` shows in /proc/1,
# names and limits the kit accepts, and a user without root. Naive first,
# then hardened:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
for label, hardening in (("naive", Hardening.naive()), ("hardened", Hardening())):
    print(f"--- {label}")
    for outcome in battery_in_container(spec, (HardeningStage(hardening),)):
        print(outcome.line())

# %% [markdown] labkit={"step": "security.drop-caps"}
# **Exercise.** Capabilities live in five sets per process
# (`grep Cap /proc/self/status`). Write `drop_capabilities(keep)`, run as the
# container's PID 1 right before exec, that leaves root with only the names in
# `keep` (such as `{"KILL", "CHOWN"}`; a capability's number is its index in
# `CAPS`):
#
# 1. cut the **bounding** set, the most any later exec can give:
#    `kernel.prctl(PR_CAPBSET_DROP, number)` for every capability not kept
#    (this needs `SETPCAP`, so do it first);
# 2. shrink **effective** and **permitted** and empty **inheritable**:
#    `kernel.capset(mask, mask, 0)` with `mask = to_mask(keep)`;
# 3. set **no_new_privs**: `kernel.prctl(PR_SET_NO_NEW_PRIVS, 1)`.
#
# The check runs your function inside a real container, reads its capability
# sets and tries to set the host's clock from inside.

# %% labkit={"kind": "exercise"}
def drop_capabilities(keep):
    """Leave the calling process with only the capabilities named in `keep`, for good."""
    ### BEGIN SOLUTION
    for number, name in enumerate(CAPS):
        if name not in keep:
            kernel.prctl(PR_CAPBSET_DROP, number)
    mask = to_mask(keep)
    kernel.capset(mask, mask, 0)
    kernel.prctl(PR_SET_NO_NEW_PRIVS, 1)
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("security.drop-caps", drop_capabilities)

# %% [markdown]
# ## What you saw
#
# - Namespaces isolate names, not the kernel: /proc, /sys, devices, modules,
#   the clock, the kernel log and keyrings are shared unless closed.
# - Capabilities, seccomp, no_new_privs and masked paths close most of it;
#   a user namespace makes root inside harmless outside.
# - Some things nothing closes (`free`, the load average): LXCFS fakes them,
#   and the cgroup limits of lab 05 are what really bound a container.
