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
from dataclasses import replace
from kernel_helpers.audit.escapes import battery_in_container
from kernel_helpers.audit.isolation import audit_container, report
from kernel_helpers.course.checks import check_runtime
from kernel_helpers.course.notebook_slots import use_slots
from kernel_helpers.course.runtime_check import try_runtime
from kernel_helpers.namespaces import Namespace
from kernel_helpers.runtime.run_options import spec_from_options
from kernel_helpers.security.hardening import Hardening, HardeningStage
from kernel_helpers import learn as lk
use_slots()  # %slot NAME shows a function of your myruntime.py; %%slot NAME saves it

# %% [markdown] labkit={"step": "security.masked-paths"}
# ## The isolation audit
#
# The audit starts a real container, probes sixteen things from inside it,
# and names the mechanism that closes each one. First a **naive** container
# (namespaces only, every capability, as `--privileged`), then the kit's
# default hardening (Docker's defaults):

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
spec = spec_from_options(["/bin/true"])
print("naive:\n" + report(audit_container(spec, (HardeningStage(Hardening.naive()),))))
print("\nhardened:\n" + report(audit_container(spec, (HardeningStage(),))))

# %% [markdown] labkit={"step": "security.masked-paths"}
# Two leaks are left that hardening cannot fix: root is still host root, and
# the clocks are the host's. A **user namespace** (`--userns`) and a **time
# namespace** (`--time-offset`) close them:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
userns = replace(spec, namespaces=spec.namespaces | {Namespace.USER, Namespace.TIME},
                 time_offset=86400)
print(report(audit_container(userns, (HardeningStage(),))))

# %% [markdown] labkit={"step": "security.masked-paths"}
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

# %% [markdown] labkit={"step": "security.masked-paths"}
# ## Step 1: masked and read-only paths
#
# Your runtime gives the container its own `/proc` and `/sys` (lab 03), but they
# show the one kernel everyone shares. Some of their files tell the host's secrets
# (`/proc/keys`, `/proc/timer_list`, `/proc/kcore`, the memory of the machine) and
# some change the whole machine when written (`/proc/sys`, `/proc/sysrq-trigger`).
# runc hides the first kind and makes the second read-only, with plain mounts
# inside the container's mount namespace:
#
# - **masked**: a file is covered by a bind mount of `/dev/null` (it reads empty
#   and takes no writes); a folder by an empty **read-only** tmpfs;
# - **read-only**: the path is bind-mounted onto itself, then remounted
#   read-only. A bind mount ignores `MS_RDONLY` on the first call: only the
#   remount (`MS_REMOUNT | MS_BIND | MS_RDONLY`) makes that one mount read-only.
#
# The lists are runc's own, as `lk.MASKED_PATHS` and `lk.READONLY_PATHS`; a
# kernel may lack some of them (skip what does not exist):

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
print("masked:   ", *lk.MASKED_PATHS)
print("read-only:", *lk.READONLY_PATHS)

# %% [markdown] labkit={"step": "security.masked-paths"}
# **Exercise.** Write `mask_paths()`, called in `run`'s child right after
# `mount_pseudo_fs()` (inside `if spec.rootfs:`), so the paths it covers are the
# container's new `/proc` and `/sys`:
#
# 1. for each path of `lk.MASKED_PATHS`: a folder gets
#    `lk.mount("tmpfs", path, "tmpfs", lk.MS_RDONLY)`, a file
#    `lk.mount("/dev/null", path, None, lk.MS_BIND)`;
# 2. for each path of `lk.READONLY_PATHS`: `lk.mount(path, path, None,
#    lk.MS_BIND | lk.MS_REC)`, then `lk.mount(None, path, None, lk.MS_REMOUNT |
#    lk.MS_BIND | lk.MS_RDONLY)`.
#
# The check reads the container's mount table from the host
# (`/proc/PID/mountinfo`) and each masked path through `/proc/PID/root`: what the
# container itself would read.

# %% labkit={"kind": "slot", "slot": "mask_paths"}
# mask_paths(): the code lives in myruntime.py; this cell shows it and saves it back.

# %% [markdown] labkit={"step": "security.capabilities"}
# ## Step 2: capabilities, for good
#
# Root's power is cut into ~41 **capabilities**, held in five sets per process
# (`grep Cap /proc/self/status`): *effective* (what the kernel checks now),
# *permitted* (what it may switch on), *inheritable* and *ambient* (what
# survives exec for non-root programs) and the **bounding** set, the most any
# later exec can give. The bounding set is the one that counts for a container:
# when root execs a program, its permitted and effective sets become the
# bounding set. Dropping effective alone is undone by the very exec that starts
# the container's command.
#
# Docker keeps 14 capabilities (`lk.DEFAULT_CAPS`): no `SYS_ADMIN` (mount, most
# namespaces), no `SYS_MODULE`, no `SYS_TIME`, no `NET_ADMIN`. `docker run
# --cap-add NET_ADMIN` adds one back; your runtime now takes `--cap-add` too,
# as `spec.cap_add`.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
print(sorted(lk.DEFAULT_CAPS))
print("SYS_ADMIN is number", lk.cap_number("SYS_ADMIN"), "of", lk.cap_last_cap() + 1)

# %% [markdown] labkit={"step": "security.capabilities"}
# **Exercise.** Write `harden(spec)`, called in `run`'s child **last before
# exec**, after `enter_userns` (always, with a user namespace or not). This step
# grades its capabilities:
#
# 1. `keep = lk.DEFAULT_CAPS | set(spec.cap_add)`;
# 2. the **bounding** set first: `lk.prctl(lk.PR_CAPBSET_DROP, n)` for every `n`
#    in `range(lk.cap_last_cap() + 1)` not kept (`lk.cap_number(name)` gives a
#    name's number). This needs `SETPCAP`, so do it before anything else goes;
# 3. clear **ambient**: `lk.prctl(lk.PR_CAP_AMBIENT, lk.PR_CAP_AMBIENT_CLEAR_ALL)`;
# 4. **effective** and **permitted** to `keep`, nothing inheritable:
#    `lk.capset(mask, mask, 0)`, where bit `n` of `mask` is set for each kept `n`.
#
# The check reads `CapBnd`, `CapEff`, `CapPrm`, `CapInh` and `CapAmb` of the
# container's command from the host, with different `spec.cap_add` on every
# run, once without and once with a user namespace. In a user namespace the same
# sets hold, but only over what that namespace owns.

# %% labkit={"kind": "slot", "slot": "harden"}
# harden(spec): the code lives in myruntime.py; this cell shows it and saves it back.

# %% [markdown] labkit={"step": "security.seccomp"}
# ## Step 3: no_new_privs and seccomp
#
# Two more lines finish `harden`:
#
# 1. `lk.prctl(lk.PR_SET_NO_NEW_PRIVS, 1)`: from now on no exec adds privileges
#    (setuid binaries and file capabilities give nothing), for good;
# 2. `lk.seccomp_load(lk.seccomp_default_program(keep))`, **last of all**: a
#    syscall filter the kernel runs on every syscall of the container.
#    `seccomp_default_program` compiles Docker's default profile for the
#    capabilities kept (about 50 syscalls refused, such as `unshare`, `mount`,
#    `keyctl`, `kexec_load`).
#
# Why this order? Without `CAP_SYS_ADMIN`, the kernel loads a filter only for a
# process with no_new_privs set (else a filter could trick a setuid program);
# and a filter loaded last only has to allow what the command does, not this
# setup. The check holds the container and reads `NoNewPrivs: 1` and
# `Seccomp: 2` (filter mode) from the host; the container's command first tries
# `unshare -U`, which needs no privilege at all, and must be refused.

# %% [markdown] labkit={"step": "security.meminfo"}
# ## Step 4: a /proc/meminfo that tells the limit (the LXCFS idea)
#
# `/proc/meminfo` is not namespaced either: a container limited to 48 MiB by its
# cgroup (lab 05) still reads the whole machine's `MemTotal`. Whatever sizes
# itself from that file (a JVM's heap, a database's caches, procps's `free` and
# `top`) plans for memory it cannot have, and meets the OOM killer instead.
#
# **LXCFS** fixes this on LXC and some Kubernetes nodes: a small FUSE
# filesystem whose `meminfo`, `cpuinfo`, `uptime`, ... are computed on every read
# from the reading container's cgroup, bind-mounted over the container's
# `/proc/meminfo` and friends. You will do the same with one bind mount of a
# file written once, at start: `MemTotal` is the limit, `MemFree` and
# `MemAvailable` are capped at it (a snapshot, not live like LXCFS's).
#
# Not everything reads the file: busybox's `free` asks the kernel with
# `sysinfo(2)`, which no file can fake (the demo below shows both).

# %% [markdown] labkit={"step": "security.meminfo"}
# **Exercise.** Write `fake_meminfo(spec)`, called in `run`'s child right after
# `mask_paths()`, only when `spec.memory_max` is set:
#
# 1. read `/proc/meminfo` (the container's new `/proc`: the kernel's numbers);
# 2. `MemTotal` becomes `spec.memory_max // 1024` (the file counts kB);
#    `MemFree` and `MemAvailable` become `min(their value, that)`;
# 3. write the copy on the container's own `/dev` (a tmpfs `mount_pseudo_fs`
#    made: it goes when the container does), e.g. `/dev/.meminfo`;
# 4. `lk.mount(copy, "/proc/meminfo", None, lk.MS_BIND)`.
#
# The check reads the container's `/proc/meminfo` from the host through
# `/proc/PID/root`, with another odd limit on every run; and, with a pids limit
# but no memory limit, that the file is the host's with nothing over it.

# %% labkit={"kind": "slot", "slot": "fake_meminfo"}
# fake_meminfo(spec): the code lives in myruntime.py; this cell shows it and saves it back.

# %% [markdown] labkit={"step": "security.meminfo"}
# In `run`:
#
#     if spec.rootfs:
#         enter_rootfs(spec.rootfs)
#         mount_pseudo_fs()
#         mask_paths()
#         if spec.memory_max:
#             fake_meminfo(spec)
#     if spec.uid_map:
#         enter_userns(unshared, mapped)
#     harden(spec)
#     os.execvp(spec.argv[0], list(spec.argv))

# %% labkit={"kind": "slot", "slot": "run"}
# run(spec): mask_paths after mount_pseudo_fs, then fake_meminfo with a memory limit, harden last before exec.

# %% labkit={"kind": "check"}
check_runtime("08")

# %% [markdown] labkit={"step": "security.seccomp"}
# Your runtime's container, as a learner sees it from inside: the capability sets,
# no_new_privs and seccomp, a masked file, a read-only `/proc/sys`, and the
# syscalls the filter refuses.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
SHOW = ("grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status; wc -c < /proc/keys; "
        "echo x > /proc/sys/kernel/domainname || echo '/proc/sys is read-only'; "
        "hostname lk || echo 'no renaming: no SYS_ADMIN, and the filter says no'")
print(*try_runtime(["/bin/sh", "-c", SHOW], rootfs="busybox", options=("--cap-add", "NET_ADMIN")),
      sep="\n")

# %% [markdown] labkit={"step": "security.meminfo"}
# With `--memory 48m`: `/proc/meminfo` says 49152 kB; busybox's `free` takes its
# total from `sysinfo(2)` (the machine's) and only its `available` column from the file.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
print(*try_runtime(["/bin/sh", "-c", "head -3 /proc/meminfo; free"], rootfs="busybox",
                   options=("--memory", "48m")), sep="\n")

# %% [markdown]
# ## What you saw
#
# - Namespaces isolate names, not the kernel: /proc, /sys, devices, modules,
#   the clock, the kernel log and keyrings are shared unless closed.
# - Capabilities, seccomp, no_new_privs and masked paths close most of it;
#   a user namespace makes root inside harmless outside. Your runtime now does
#   all of them: `mask_paths` after the pseudo filesystems, `harden` last before
#   exec (bounding set, then the other sets, no_new_privs, seccomp).
# - Some things nothing closes (`sysinfo`, the load average): LXCFS fakes the
#   /proc files with FUSE, your runtime fakes /proc/meminfo with one bind mount,
#   and the cgroup limits of lab 05 are what really bound a container.
