# %% [markdown]
# # Lab 09: assemble your runtime
#
# **The idea.** You have built every part by hand: namespaces (labs 01-04),
# a root filesystem with pivot_root (03), cgroups (05), an overlay of image
# layers (06), networking (07) and hardening (08). A container runtime such
# as runc, crun or youki is the program that does all of it **in the right
# order** for one container:
#
#     supervisor                 setup child                container (PID 1 inside)
#     prepare: group, overlay,   unshare(user)?
#       lease, seccomp program   ...
#     join: uid maps, cgroup  -> unshare(pid, mnt, uts, ipc, net, cgroup)
#     attach: veth into netns -> fork -----------------> mounts, pivot_root, hostname
#     wait, forward signals                              inside: caps, no_new_privs, seccomp
#     undo everything at exit                            exec the command
#
# The order matters. The cgroup is joined *before* the namespaces are made,
# so the container's cgroup namespace is rooted at its own group. The veth is
# moved in once the network namespace exists. Privileges are dropped *last*,
# because mounting and pivot_root still need them. The kit's engine calls
# each mechanism a **Stage**, with hooks for each moment: `prepare`, `join`,
# `attach`, `root_mount`, `mounts`, `inside`. A runtime is a **spec** (what
# to run) plus a tuple of stages (how).

# %% labkit={"kind": "setup"}
from kernel_helpers import images
from kernel_helpers.cgroups import Limits
from kernel_helpers.cgroups.stage import CgroupStage
from kernel_helpers.course import verify
from kernel_helpers.images.containerfs import PENDING_ROOTFS, OverlayStage
from kernel_helpers.runtime.foreground import run_captured
from kernel_helpers.stage import Stage
from kernel_helpers.spec import DEFAULT_NAMESPACES, ContainerSpec
from kernel_helpers.security.hardening import HardeningStage

# %% [markdown] labkit={"step": "runtime.assemble"}
# ## Step 1: a spec, then stages one by one
#
# With no stages, a spec alone gives namespaces and a bind-mounted busybox
# root. Each stage adds one mechanism. A stage of your own can watch the
# hooks fire in order:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
class Tracer(Stage):
    """Prints when each hook runs (inside: in the container, just before exec)."""
    def prepare(self, ctx):
        print("prepare: supervisor, before fork")
    def join(self, ctx, pid):
        print(f"join:    setup process {pid} made its user namespace (if any)")
    def attach(self, ctx, pid):
        print(f"attach:  setup process {pid} is in all its namespaces")
    def inside(self, ctx):
        print("inside:  container PID 1, new root, about to exec")

spec = ContainerSpec(command=("/bin/sh", "-c", "echo hostname=$(hostname) pid=$$; ls /"),
                     rootfs=PENDING_ROOTFS, namespaces=DEFAULT_NAMESPACES, hostname="mine")
busybox = images.get("busybox")
code, output = run_captured(spec, (Tracer(), OverlayStage(busybox)))
print(output, "exit code", code)

# %% [markdown] labkit={"step": "runtime.assemble"}
# Now the memory limit (lab 05) as a stage, and the hardening of lab 08.
# `grep Cap /proc/self/status` inside shows what root kept:

# %% tags=["nbval-ignore-output"] labkit={"kind": "demo"}
spec2 = ContainerSpec(command=("/bin/sh", "-c", "grep -E 'CapEff|Seccomp|NoNewPrivs' /proc/self/status"),
                      rootfs=PENDING_ROOTFS)
print(run_captured(spec2, (OverlayStage(busybox), CgroupStage(Limits(memory=32 * 2**20)),
                           HardeningStage()))[1])

# %% [markdown] labkit={"step": "runtime.assemble"}
# **Exercise.** Write `my_runtime(command, memory)` returning `(spec, stages)`
# for a container that:
#
# - runs `command` in all of Docker's namespaces (`DEFAULT_NAMESPACES`);
# - has the `busybox` image as an overlay root (`OverlayStage(images.get("busybox"))`
#   with `rootfs=PENDING_ROOTFS` in the spec: the stage fills in the real path);
# - lives in a group limited to `memory` bytes (`CgroupStage(Limits(memory=memory))`);
# - is hardened with Docker's defaults (`HardeningStage()`), last.
#
# The check starts your container detached and inspects it from the host:
# `/proc/PID/ns`, the container's mountinfo, its group's `memory.max`, and its
# capability and seccomp lines in `/proc/PID/status`.

# %% labkit={"kind": "exercise"}
def my_runtime(command, memory):
    """(spec, stages) for a hardened busybox container limited to `memory` bytes."""
    ### BEGIN SOLUTION
    spec = ContainerSpec(command=tuple(command), rootfs=PENDING_ROOTFS,
                         namespaces=DEFAULT_NAMESPACES)
    stages = (OverlayStage(images.get("busybox")), CgroupStage(Limits(memory=memory)),
              HardeningStage())
    return spec, stages
    ### END SOLUTION

# %% labkit={"kind": "check"}
verify("runtime.assemble", my_runtime)

# %% [markdown]
# ## What you saw
#
# - A runtime is an ordered dance of processes: supervisor, setup child, container.
# - Each mechanism plugs in at its moment: groups before namespaces, veths
#   after, privileges dropped last, just before exec.
# - `labkit run` is exactly this: options become a spec plus stages.
