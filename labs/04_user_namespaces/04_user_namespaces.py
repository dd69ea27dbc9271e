# %% [markdown]
# # Lab 04: user namespaces and uid maps
#
# **The idea.** Root in a container should not be root on the host. A **user
# namespace** gives a process its own numbering of user and group ids, and its
# own set of **capabilities**, valid only for things the namespace owns. A
# process can be uid 0 with all capabilities *inside* while the kernel treats it
# as, say, uid 100000, an unprivileged nobody, for everything *outside*: the
# host's files, the host's network, other users' processes.
#
# The translation is written in two files of the process, `/proc/PID/uid_map`
# and `/proc/PID/gid_map`. Each line reads `inside outside count`: ids
# `inside .. inside+count-1` in the namespace are ids `outside ..
# outside+count-1` in the parent. A new user namespace starts with **no**
# mapping (every id shows as 65534, "nobody"); a process outside it (or the
# process itself, for its own uid only) writes each map once. Before an
# unprivileged writer may write `gid_map`, `/proc/PID/setgroups` must say
# `deny`, or a process could drop a group that was denying it access
# (CVE-2014-8989); once `gid_map` is written, `setgroups` can no longer change.
#
# Files keep their real owners on disk. A file made by root inside the
# namespace belongs to uid 100000 on the host: that is how rootless containers
# (Podman, `dockerd --userns-remap`) keep a breakout from being a root breakout.

# %% labkit={"kind": "setup"}
import os
from kernel_helpers.course import verify
from kernel_helpers.course.checks import check_runtime
from kernel_helpers.course.notebook_slots import use_slots
from kernel_helpers.course.runtime_check import try_runtime
from kernel_helpers.namespaces import Namespace, unshare
from kernel_helpers.process import run_in_child
use_slots()  # %slot NAME shows a function of your myruntime.py; %%slot NAME saves it

# %% [markdown] labkit={"step": "user.id-maps"}
# ## Step 1: a new user namespace, and who may map it
#
# A child makes a user namespace and looks at itself. Nothing is mapped yet:
# the kernel shows its uid as 65534 and its maps are empty. Then it tries to
# map itself: a process in the namespace may map only its *own* outside uid
# (here the host's root, 0), never another one such as 100000.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
def look_at_a_new_user_namespace():
    unshare({Namespace.USER})
    before = os.getuid(), open("/proc/self/uid_map").read()
    try:
        with open("/proc/self/uid_map", "w") as f:
            f.write("0 100000 1\n")
        other = "allowed"
    except PermissionError as err:
        other = f"refused ({err.strerror})"
    with open("/proc/self/uid_map", "w") as f:
        f.write("0 0 1\n")  # its own outside uid: allowed, once
    return before, other, os.getuid(), open("/proc/self/uid_map").read().split()

(uid, empty), other, uid_after, row = run_in_child(look_at_a_new_user_namespace)
print(f"unmapped: uid {uid}, uid_map {empty!r}")
print(f"mapping root to 100000 from inside: {other}")
print(f"mapping its own uid: uid {uid_after}, uid_map {row}")

# %% [markdown] labkit={"step": "user.id-maps"}
# So a runtime maps its container from **outside**: the runtime (the parent,
# root on the host) writes the child's maps. The two processes take turns, and
# neither sleeps: `lk.Sync()` is a two-call handshake across `fork`, one process
# calls `release()`, the other's `wait()` returns. Your `run` makes two:
#
#     unshared, mapped = lk.Sync(), lk.Sync()   # before fork
#     # child:  enter_userns(unshared, mapped)  -> unshare, unshared.release(), mapped.wait()
#     # parent: unshared.wait(); write_id_maps(pid, spec); mapped.release()
#
# **Exercise.** Write `write_id_maps(pid, spec)`, run by the parent:
#
# 1. `lk.write_knob(f"/proc/{pid}/setgroups", "deny")`, first: the kernel
#    refuses it once `gid_map` is written (the kernel demands it only from an
#    unprivileged writer; runtimes that map without being root must, and the
#    course asks for it always);
# 2. one line `inside outside count` from `spec.uid_map` to `/proc/{pid}/uid_map`;
# 3. the same from `spec.gid_map` to `/proc/{pid}/gid_map`.
#
# Each map is one `write`: the kernel takes a map once, whole. The check asks
# for different ids on every run (never the 100000 of these demos) and reads
# the container's `uid_map`, `gid_map` and `setgroups` from the host.

# %% labkit={"kind": "slot", "slot": "write_id_maps"}
# write_id_maps(pid, spec): the code lives in myruntime.py; this cell shows it and saves it back.

# %% [markdown] labkit={"step": "user.root-inside"}
# ## Step 2: root inside, nobody outside
#
# **Exercise.** Write `enter_userns(unshared, mapped)`, run by the child:
#
# 1. `os.setgroups([])`: drop the supplementary groups the runtime has (`sudo`
#    gives root group 0). With `setgroups` denied, the container could never drop
#    them, and would keep the host's group root for every file it opens;
# 2. `lk.unshare(lk.CLONE_NEWUSER)`;
# 3. `unshared.release()`: the parent may now write the maps;
# 4. `mapped.wait()`: it has;
# 5. `lk.setresgid(0, 0, 0)` and `lk.setresuid(0, 0, 0)`: the child is still the
#    host's root (uid 0 outside, which the map does not cover); taking uid 0
#    *inside* makes it `spec.uid_map`'s outside uid on the host.
#
# Where does the call go? In this runtime, **last**, right before `exec`,
# after `enter_rootfs` and `mount_pseudo_fs`. The pid namespace was made by
# the runtime (host root) before `fork`, so it belongs to the host's user
# namespace, and mounting a `/proc` for it needs the host's root: done before
# the child becomes nobody. The container's root then owns none of its
# namespaces, so it cannot mount or rename anything. (runc makes the user
# namespace *first* and every other namespace inside it, with a second fork,
# so the container's root may mount; the mapping is the same.) In `run`:
#
#     unshared, mapped = lk.Sync(), lk.Sync()
#     pid = os.fork()
#     if pid == 0:
#         ...                                    # labs 02 and 03
#         if spec.uid_map:
#             enter_userns(unshared, mapped)
#         os.execvp(spec.argv[0], list(spec.argv))
#     if spec.uid_map:
#         unshared.wait()
#         write_id_maps(pid, spec)
#         mapped.release()
#
# The check holds the container and reads, from the host, the Uid, Gid and Groups
# lines of its `/proc/PID/status` (the asked outside ids, and no host group), and
# the same file from a process that joined its user namespace (0 there). It starts
# your runtime as `sudo` would, with group 0 among its supplementary groups. A child that `exec`s before
# the parent wrote the maps, or never takes uid 0, is still the host's root.

# %% labkit={"kind": "slot", "slot": "enter_userns"}
# enter_userns(unshared, mapped): the code lives in myruntime.py; this cell shows it and saves it back.

# %% labkit={"kind": "slot", "slot": "run"}
# run(spec): the two Syncs before fork, enter_userns in the child, the maps in the parent.

# %% labkit={"kind": "check"}
check_runtime("04")

# %% [markdown] labkit={"step": "user.root-inside"}
# Your runtime now takes `--uid-map INSIDE:OUTSIDE:COUNT` (and `--gid-map`).
# Inside, `id` says root; `ls -ln` shows the busybox files as 65534: they belong
# to the host's root, which this namespace does not map, so root inside cannot
# change them. Rootless runtimes give the image's files to the mapped ids
# (`chown` when unpacking, or an idmapped mount); this course keeps the image
# read-only for the container's root instead.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
SHOW = ("id; cat /proc/self/uid_map; ls -ln /bin/busybox; "
        "touch /bin/x || echo 'cannot write the image'; hostname lk || echo 'cannot rename'")
print(*try_runtime(["/bin/sh", "-c", SHOW], rootfs="busybox",
                   options=("--uid-map", "0:100000:65536")), sep="\n")

# %% [markdown] labkit={"step": "user.outside-uid"}
# ## Step 3: reading a map
#
# Your runtime writes one line, but a map may have several (up to 340). Root
# alone can be mapped to one uid and ordinary users to a range somewhere else:
#
# ```
#          0     200000          1
#          1     300001       1000
# ```
#
# Here inside uid 5 is outside uid 300005, and inside uid 1001 is not mapped
# at all: no process in the namespace can take it, and a file owned by an
# unmapped uid shows up inside as 65534.
#
# **Exercise.** Write `outside_uid(uid_map, uid)`: given the text of a
# `uid_map` file and an inside `uid`, return the outside uid, or `None` if the
# map does not cover it. The check creates real files as several users inside
# such a namespace and compares your answers with the owners the host sees.

# %% labkit={"kind": "exercise"}
def outside_uid(uid_map, uid):
    """Translate an inside uid to the outside uid through the text of a uid_map."""
    ### BEGIN SOLUTION
    for line in uid_map.splitlines():
        if not line.strip():
            continue
        inside, outside, count = (int(x) for x in line.split())
        if inside <= uid < inside + count:
            return outside + (uid - inside)
    return None
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("user.outside-uid", outside_uid)

# %% [markdown]
# ## What you saw
#
# - A user namespace renumbers ids; root inside can be an unprivileged uid outside.
# - The maps are written once, from outside, `setgroups` denied first; the child
#   waits for them (a handshake, not a sleep) before it takes uid 0 and execs.
# - Ownership on disk is always the outside id: this is what makes rootless
#   containers safer, and why images need their files shifted (or idmapped mounts).
