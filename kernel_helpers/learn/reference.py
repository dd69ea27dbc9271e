"""The reference runtime: the course's own answer for every slot of myruntime.py.

Laid out like a learner's myruntime.py (the same `# --- lab NN: name ---` markers).
The harness imports it for stand-ins (`kernel_helpers.learn.borrow`); in the instructor's
tree `kernel_helpers.course.standins` also reads its text, for the solution notebooks and
`labkit checkpoint`. A line ending in ``# lab>=NN`` belongs to the runtime only from lab
NN on (the call lab NN asks the learner to add to their own `run`).

`labkit course release` ships this module as bytecode only (kernel_helpers.course.release):
importable by the checks, not readable with a double click. Not a secret: bytecode can be
disassembled.
"""

import os
import stat
import sys

from kernel_helpers import learn as lk

# --- lab 01: run ---
def run(spec: lk.Spec) -> int:
    """Run spec.argv as PID 1 of a new pid namespace, wait for it, and return its exit status."""
    lk.unshare(lk.CLONE_NEWPID)          # children made from now on are in a new pid namespace
    unshared, mapped = lk.Sync(), lk.Sync()          # lab>=04
    joined = lk.Sync()                               # lab>=05
    limited = spec.memory_max or spec.pids_max or spec.cpu_quota or spec.cpu_weight  # lab>=05
    cgroup = create_cgroup(spec) if limited else None  # lab>=05
    netns_made, connected = lk.Sync(), lk.Sync()     # lab>=07
    pid = os.fork()                      # the first one is its PID 1
    if pid == 0:
        try:
            joined.wait()                            # lab>=05
            enter_uts_ipc(spec.hostname)             # lab>=02
            if spec.address:                         # lab>=07
                lk.unshare(lk.CLONE_NEWNET)          # lab>=07
                netns_made.release()                 # lab>=07
                connected.wait()                     # lab>=07
                configure_net(spec)                  # lab>=07
            rootfs = spec.rootfs                     # lab>=03
            if spec.image and spec.container_dir:    # lab>=06
                rootfs = mount_overlay(spec.image, spec.container_dir)  # lab>=06
            if rootfs:                               # lab>=03
                enter_rootfs(rootfs)                 # lab>=03
                mount_pseudo_fs()                    # lab>=03
                mask_paths()                         # lab>=08
                if spec.memory_max:                  # lab>=08
                    fake_meminfo(spec)               # lab>=08
            if spec.uid_map:                         # lab>=04
                enter_userns(unshared, mapped)       # lab>=04
            harden(spec)                             # lab>=08
            os.execvp(spec.argv[0], list(spec.argv))
        except BaseException as err:
            print(f"myruntime: {err}", file=sys.stderr)
        os._exit(127)                    # only reached if something failed before exec
    if cgroup:                                       # lab>=05
        join_cgroup(cgroup, pid)                     # lab>=05
    joined.release()                                 # lab>=05
    if spec.address:                                 # lab>=07
        netns_made.wait()                            # lab>=07
        connect(spec, pid)                           # lab>=07
        connected.release()                          # lab>=07
    if spec.uid_map:                                 # lab>=04
        unshared.wait()                              # lab>=04
        write_id_maps(pid, spec)                     # lab>=04
        mapped.release()                             # lab>=04
    lk.write_pidfile(spec, pid)
    _, status = os.waitpid(pid, 0)
    if cgroup:                                       # lab>=05
        remove_cgroup(cgroup)                        # lab>=05
    if spec.image and spec.container_dir:            # lab>=06
        remove_container_dir(spec.container_dir)     # lab>=06
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)

# --- lab 02: enter_uts_ipc ---
def enter_uts_ipc(hostname: str | None) -> None:
    """Give the container its own hostname and its own System V IPC objects."""
    lk.unshare(lk.CLONE_NEWUTS | lk.CLONE_NEWIPC)   # first: the host keeps its name
    if hostname:
        lk.sethostname(hostname)

# --- lab 03: enter_rootfs ---
def enter_rootfs(rootfs: str) -> None:
    """Make `rootfs` the root of a new mount namespace, with no way back to the host's files."""
    lk.unshare(lk.CLONE_NEWNS)
    lk.mount(None, "/", None, lk.MS_REC | lk.MS_PRIVATE)   # nothing flows back to the host
    lk.mount(rootfs, rootfs, None, lk.MS_BIND | lk.MS_REC)  # pivot_root needs a mount point
    os.chdir(rootfs)
    lk.pivot_root(".", ".")              # the old root is now stacked on top of the new one
    lk.umount2(".", lk.MNT_DETACH)       # ... and detached: the host's files are gone
    os.chdir("/")

# --- lab 03: mount_pseudo_fs ---
def mount_pseudo_fs() -> None:
    """Inside the new root: /proc for the container's pid namespace, /sys read-only, a minimal /dev."""
    quiet = lk.MS_NOSUID | lk.MS_NODEV | lk.MS_NOEXEC
    lk.mount("proc", "/proc", "proc", quiet)
    lk.mount("sysfs", "/sys", "sysfs", quiet | lk.MS_RDONLY)
    lk.mount("tmpfs", "/dev", "tmpfs", lk.MS_NOSUID, "mode=755,size=64k")
    devices = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8),
               "urandom": (1, 9), "tty": (5, 0)}
    for name, (major, minor) in devices.items():
        lk.mknod(f"/dev/{name}", stat.S_IFCHR | 0o666, os.makedev(major, minor))
        os.chmod(f"/dev/{name}", 0o666)  # mknod's mode is cut by the umask

# --- lab 04: enter_userns ---
def enter_userns(unshared: lk.Sync, mapped: lk.Sync) -> None:
    """In the child, last before exec: a new user namespace, mapped by the parent, and root in it."""
    os.setgroups([])                     # setgroups is denied inside: drop the host's groups now
    lk.unshare(lk.CLONE_NEWUSER)         # no ids are mapped yet: we are "nobody" here
    unshared.release()                   # the parent may write our maps now
    mapped.wait()                        # ... and has written them
    lk.setresgid(0, 0, 0)                # gid 0 here: spec.gid_map's outside gid
    lk.setresuid(0, 0, 0)                # root inside, spec.uid_map's outside uid on the host

# --- lab 04: write_id_maps ---
def write_id_maps(pid: int, spec: lk.Spec) -> None:
    """In the parent: map the child's user namespace, setgroups denied before the gid map."""
    lk.write_knob(f"/proc/{pid}/setgroups", "deny")  # refused once gid_map is written
    for name, row in (("uid_map", spec.uid_map), ("gid_map", spec.gid_map or spec.uid_map)):
        inside, outside, count = row or (0, 0, 0)  # run calls us only with a uid_map
        lk.write_knob(f"/proc/{pid}/{name}", f"{inside} {outside} {count}\n")  # one write each

# --- lab 05: create_cgroup ---
def create_cgroup(spec: lk.Spec) -> str:
    """Make the container's cgroup under spec.cgroup_parent, with its memory, pids and CPU limits."""
    parent = spec.cgroup_parent or lk.CGROUP_PARENT
    path = f"{parent}/{spec.run_prefix}{os.getpid()}"  # the prefix: leftovers are found by it
    lk.make_cgroup(path)                 # v2: one folder; v1: one in every hierarchy
    if spec.memory_max:
        lk.write_limit(path, "memory.max", spec.memory_max)  # v1: memory.limit_in_bytes
    if spec.pids_max:
        lk.write_limit(path, "pids.max", spec.pids_max)
    if spec.cpu_quota:                   # CPUs -> microseconds per period of 100000
        lk.write_limit(path, "cpu.max", f"{round(spec.cpu_quota * 100_000)} 100000")
    if spec.cpu_weight:                  # v1: cpu.shares, converted
        lk.write_limit(path, "cpu.weight", spec.cpu_weight)
    return path

# --- lab 05: join_cgroup ---
def join_cgroup(path: str, pid: int) -> None:
    """In the parent, before releasing the child: put it in the container's cgroup."""
    lk.add_to_cgroup(path, pid)          # what it forks from now on starts there too

# --- lab 05: remove_cgroup ---
def remove_cgroup(path: str) -> None:
    """In the parent, after waitpid: remove the container's cgroup, empty by now."""
    lk.rmdir_cgroup(path)                # EBUSY while any process is still in it

# --- lab 06: mount_overlay ---
def mount_overlay(layers: tuple[str, ...], container_dir: str) -> str:
    """In the child: the image's layers under the container's own upper dir; return the merged root."""
    lk.unshare(lk.CLONE_NEWNS)           # the overlay lives and dies with the container
    lk.mount(None, "/", None, lk.MS_REC | lk.MS_PRIVATE)   # ... and never shows on the host
    upper, work, merged = (os.path.join(container_dir, name) for name in ("upper", "work", "merged"))
    for folder in (upper, work, merged):
        os.makedirs(folder, exist_ok=True)
    lower = ":".join(reversed(layers))   # overlayfs lists the TOP layer first; images bottom first
    lk.mount("overlay", merged, "overlay", lk.MS_NODEV,
             f"lowerdir={lower},upperdir={upper},workdir={work}")
    return merged

# --- lab 06: remove_container_dir ---
def remove_container_dir(container_dir: str) -> None:
    """In the parent, once the container has exited: remove its upper, work and merged dirs."""
    lk.remove_tree(container_dir)        # the image's layers stay: they belong to the image

# --- lab 07: connect ---
def connect(spec: lk.Spec, pid: int) -> str:
    """In the parent, once the child has its own network namespace: a veth pair, the runtime's
    end addressed as the gateway and up, the peer moved into the child's namespace."""
    host_if = f"{spec.run_prefix}{pid}"              # unique while the container runs; <= 15
    peer = f"{host_if}c"
    lk.veth_add(host_if, peer)
    lk.link_set_netns(peer, pid)                     # the container's end leaves this namespace
    _, prefixlen = str(spec.address).split("/")      # run calls us only with an address
    lk.addr_add(host_if, f"{spec.gateway}/{prefixlen}")   # the subnet's route comes with it
    lk.link_up(host_if)
    return host_if

# --- lab 07: configure_net ---
def configure_net(spec: lk.Spec) -> None:
    """In the child, once the parent connected it: lo up, the peer as eth0 with spec.address,
    up, and the default route via spec.gateway."""
    lk.link_up("lo")
    for name in lk.link_names():                     # a new namespace has lo and what was moved in
        if name != "lo":
            lk.link_rename(name, "eth0")             # while it is still down
    lk.addr_add("eth0", str(spec.address))
    lk.link_up("eth0")
    lk.route_add_default(str(spec.gateway))

# --- lab 08: mask_paths ---
def mask_paths() -> None:
    """After mount_pseudo_fs: hide the host-wide files of /proc and /sys, and make /proc/sys and its kin read-only."""
    for path in lk.MASKED_PATHS:         # runc's list; a kernel may lack some of them
        if os.path.isdir(path):          # an empty read-only tmpfs hides the folder's files
            lk.mount("tmpfs", path, "tmpfs", lk.MS_RDONLY)
        elif os.path.exists(path):       # /dev/null reads empty and takes no writes
            lk.mount("/dev/null", path, None, lk.MS_BIND)
    for path in lk.READONLY_PATHS:
        if os.path.exists(path):         # a bind ignores MS_RDONLY: bind, then remount
            lk.mount(path, path, None, lk.MS_BIND | lk.MS_REC)
            lk.mount(None, path, None, lk.MS_REMOUNT | lk.MS_BIND | lk.MS_RDONLY)

# --- lab 08: fake_meminfo ---
def fake_meminfo(spec: lk.Spec) -> None:
    """After mask_paths, with a memory limit: bind over /proc/meminfo a copy whose MemTotal is the limit."""
    limit = (spec.memory_max or 0) // 1024  # meminfo counts kB; run calls us only with a limit
    lines = []
    with open("/proc/meminfo") as f:     # the kernel's, for the whole machine
        for line in f:
            key, value = line.split(":", 1)
            if key in ("MemTotal", "MemFree", "MemAvailable"):  # free can't exceed the total
                kb = limit if key == "MemTotal" else min(int(value.split()[0]), limit)
                line = f"{key + ':':<16}{kb:>8} kB\n"  # the kernel's own layout
            lines.append(line)
    fake = "/dev/.meminfo"               # the container's own tmpfs: gone with the container
    with open(fake, "w") as f:
        f.writelines(lines)
    lk.mount(fake, "/proc/meminfo", None, lk.MS_BIND)  # LXCFS does this with a FUSE file

# --- lab 08: harden ---
def harden(spec: lk.Spec) -> None:
    """Last before exec: only Docker's default capabilities (plus spec.cap_add), no_new_privs, then a seccomp filter."""
    keep = lk.DEFAULT_CAPS | set(spec.cap_add)  # names, as docker run --cap-add takes them
    numbers = {lk.cap_number(name) for name in keep}
    for number in range(lk.cap_last_cap() + 1):  # bounding first, while SETPCAP is effective:
        if number not in numbers:                # after exec, root's sets become this set
            lk.prctl(lk.PR_CAPBSET_DROP, number)
    lk.prctl(lk.PR_CAP_AMBIENT, lk.PR_CAP_AMBIENT_CLEAR_ALL)
    mask = sum(1 << number for number in numbers)
    lk.capset(mask, mask, 0)             # effective, permitted; nothing inheritable
    lk.prctl(lk.PR_SET_NO_NEW_PRIVS, 1)  # no setuid binary or file capability adds any back
    lk.seccomp_load(lk.seccomp_default_program(keep))  # last: it need not allow this setup

# --- the command line ---
if __name__ == "__main__":
    raise SystemExit(lk.main(globals()))
