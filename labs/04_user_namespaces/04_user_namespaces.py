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
# mapping (every id shows as 65534, "nobody"); its parent (or the process
# itself, for its own uid only) writes the maps once. Before an unprivileged
# writer may write `gid_map`, `setgroups` must be denied, or a process could
# drop a group that was denying it access (CVE-2014-8989).
#
# Files keep their real owners on disk. A file made by root inside the
# namespace belongs to uid 100000 on the host: that is how rootless containers
# (Podman, `dockerd --userns-remap`) keep a breakout from being a root breakout.

# %% labkit={"kind": "setup"}
import os
from kernel_helpers.course import verify
from kernel_helpers.rootfs import busybox_rootfs
from kernel_helpers.runtime.foreground import run_captured
from kernel_helpers.spec import DEFAULT_NAMESPACES, ContainerSpec, IdMap
from kernel_helpers.namespaces import Namespace

# %% [markdown] labkit={"step": "user.id-maps"}
# ## Step 1: root inside, nobody outside
#
# A container with a user namespace whose root is uid 100000 outside. Inside,
# `id` says root; the host's `/proc` says otherwise.

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
spec = ContainerSpec(("sh", "-c", "id; cat /proc/self/uid_map"), rootfs=str(busybox_rootfs()),
                     namespaces=DEFAULT_NAMESPACES | {Namespace.USER},
                     id_map=IdMap(inside=0, outside=100000, count=65536))
print(run_captured(spec)[1])

# %% [markdown] labkit={"step": "user.id-maps"}
# **Exercise.** Write `write_id_maps(pid, outside, count)`, which maps ids
# `0 .. count-1` of the user namespace of process `pid` to `outside ..` on the
# host, for users and groups. Write `deny` to `/proc/PID/setgroups` first, then
# one line to `uid_map` and to `gid_map`. The check starts a process that has
# just made its user namespace, calls your function on it, and then has that
# process become root inside.

# %% labkit={"kind": "exercise"}
def write_id_maps(pid, outside, count):
    """Map ids 0..count-1 inside pid's user namespace to outside.. on the host."""
    ### BEGIN SOLUTION
    with open(f"/proc/{pid}/setgroups", "w") as f:
        f.write("deny")
    for name in ("uid_map", "gid_map"):
        with open(f"/proc/{pid}/{name}", "w") as f:
            f.write(f"0 {outside} {count}\n")
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("user.id-maps", write_id_maps)

# %% [markdown] labkit={"step": "user.outside-uid"}
# ## Step 2: reading a map
#
# A map may have several lines (up to 340). Root alone can be mapped to one
# uid and ordinary users to a range somewhere else:
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
# - The maps are written once, by the parent, `setgroups` denied first.
# - Ownership on disk is always the outside id: this is what makes rootless
#   containers safer, and why images need their files shifted (or idmapped mounts).
