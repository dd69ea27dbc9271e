"""Start a container: the parent/setup/init process dance, with no helper commands.

    supervisor (labkit run)       setup child                 container (PID 1 inside)
    ───────────────────────       ───────────                 ────────────────────────
    stages.prepare()
    fork ───────────────────────▶ unshare(user)?
    write uid/gid maps,  ◀─ "joined"
    stages.join(pid) ───── go ─▶ unshare(pid, mnt, uts, ...)
    stages.attach(pid) ◀─ "unshared"
                      ───── go ─▶ fork ─────────────────────▶ mounts, pivot_root, hostname
    (subreaper adopts it) ◀─ pid ─ exit                       stages.inside(); exec CMD
    forward signals, wait  ◀──────── EOF on exec (CLOEXEC) ──┘

A `Stage` lets each mechanism (cgroups, network, hardening) add its part at
the right moment without the runtime knowing its details.

Taught in: lab 09.
"""

from __future__ import annotations

import gc
import os
import signal
import socket
from typing import Callable

from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers._sys.linux import PR_SET_DUMPABLE
from kernel_helpers.cleanup import Registry
from kernel_helpers.errors import KernelFeatureMissing, LabkitError, translate_oserror
from kernel_helpers.namespaces import Namespace, clone_flags, enter_paths
from kernel_helpers.process import (FORWARDED_SIGNALS, fork_and_forward, require_root, signal_process,
                                    start_time, wait_status_to_exit_code)
from kernel_helpers.runtime._channel import expect, expect_go, recv, report, send
from kernel_helpers.rootfs.mounts import enter_rootfs, plan_mounts
from kernel_helpers.runtime.console import CONSOLE_MESSAGE, receive_console, take_console
from kernel_helpers.runtime.handover import (become, close_inherited_fds,
                                             drop_supplementary_groups, exec_command, present_as)
from kernel_helpers.spec import ContainerSpec
from kernel_helpers.stage import LaunchContext, Stage
from kernel_helpers.state import USER_KEY, ContainerState
from kernel_helpers.sysctl import write_sysctls

INIT_NAME = "labkit-init"
"""What `--init` shows as /proc/1/cmdline: never the admin's `labkit run ...` line."""


def start(spec: ContainerSpec, state: ContainerState, stages: tuple[Stage, ...] = (),
          registry: Registry | None = None, kernel: Kernel = LINUX,
          console: Callable[[int], None] | None = None) -> int:
    """Start the container and return its host pid once its command is exec'ed.

    The caller must be a child subreaper (the CLI sets it) to wait for the pid.
    Raises the container side's LabkitError if setup or exec failed. With
    `console`, the container gets a pty of its own as its terminal, and
    `console` receives the master (see `runtime.console`).
    """
    require_root()
    ctx = LaunchContext(spec, state, registry or Registry())
    state.extra[USER_KEY] = list(spec.user)  # `labkit exec` runs as the same user
    for stage in stages:
        stage.prepare(ctx)
    parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    # Everything made so far (the imported kit, the spec) lives as long as we do: keep the
    # collector away from it, so the two forked children do not copy every page it touches.
    gc.freeze()
    setup_pid = os.fork()
    if setup_pid == 0:
        parent_sock.close()
        _setup_child(ctx, stages, child_sock, kernel, console is not None)  # never returns
    child_sock.close()
    try:
        return _supervise_start(ctx, stages, parent_sock, setup_pid, console, kernel)
    finally:
        parent_sock.close()


def _supervise_start(ctx: LaunchContext, stages: tuple[Stage, ...], sock: socket.socket,
                     setup_pid: int, console: Callable[[int], None] | None,
                     kernel: Kernel = LINUX) -> int:
    spec = ctx.spec
    container_pid = 0
    try:
        expect(sock, "joined")
        if Namespace.USER in spec.namespaces:
            write_id_maps(setup_pid, spec, kernel)
        for stage in stages:
            stage.join(ctx, setup_pid)
        send(sock, "go")
        expect(sock, "unshared")
        for stage in stages:
            stage.attach(ctx, setup_pid)
        send(sock, "go")
        container_pid = int(expect(sock, "pid"))
        ctx.state.pid = container_pid
        ctx.state.pid_start = start_time(container_pid)
        ctx.state.save()  # recorded before it runs, so `labkit cleanup` finds it after a crash
        message = recv(sock)  # None once exec'ed, or ("created", None) at a start gate
        if message == CONSOLE_MESSAGE and console is not None:
            console(receive_console(sock))
            message = recv(sock)
        if isinstance(message, LabkitError):
            raise message
        # "running" only now: until exec the process is still the kit's Python, not the command.
        ctx.state.status = "created" if spec.start_gate else "running"
        ctx.state.save()
        return container_pid
    except BaseException:
        for pid in (setup_pid, container_pid):
            if pid:
                signal_process(pid)
        raise
    finally:
        os.waitpid(setup_pid, 0)


def write_id_maps(pid: int, spec: ContainerSpec, kernel: Kernel = LINUX) -> None:
    """setgroups "deny" first (an unprivileged gid_map requires it), then uid_map, then gid_map.

    Each map is one write(2): the kernel takes a map once, whole. With supplementary
    groups (OCI additionalGids) setgroups stays allowed: setgroups(2) needs it, and
    host root writing the maps needs no "deny".
    """
    if not spec.groups:
        kernel.write_knob(f"/proc/{pid}/setgroups", "deny")
    kernel.write_knob(f"/proc/{pid}/uid_map", spec.id_map.line())
    kernel.write_knob(f"/proc/{pid}/gid_map", (spec.gid_map or spec.id_map).line())


def _setup_child(ctx: LaunchContext, stages: tuple[Stage, ...], sock: socket.socket,
                 kernel: Kernel, console: bool) -> None:
    """The setup process: make namespaces, fork the container, report, exit."""
    code = 0
    try:
        spec = ctx.spec
        user = Namespace.USER in spec.namespaces
        drop_supplementary_groups(kernel)
        enter_paths(spec.join, kernel)  # namespaces given by path (OCI): joined, not made
        if user:
            kernel.unshare(Namespace.USER.flag)
        send(sock, ("joined", None))
        expect_go(sock)
        if user:
            become(0, 0, kernel)
            # Changing uid clears "dumpable", which hands /proc/self to host root; take it
            # back so root here can still write /proc/self/timens_offsets (runc does too).
            kernel.prctl(PR_SET_DUMPABLE, 1)
        kernel.unshare(clone_flags(spec.namespaces - {Namespace.USER}))
        if Namespace.TIME in spec.namespaces and spec.time_offset:
            kernel.write_knob("/proc/self/timens_offsets",  # both clocks in one write(2)
                              f"monotonic {spec.time_offset} 0\nboottime {spec.time_offset} 0\n")
        send(sock, ("unshared", None))
        expect_go(sock)
        pid = os.fork()
        if pid == 0:
            _container_child(ctx, stages, sock, kernel, console)  # never returns
        send(sock, ("pid", pid))
    except LabkitError as err:
        send(sock, _missing_feature(err))
        code = 1
    except OSError as err:
        send(sock, translate_oserror(err, "container setup"))
        code = 1
    except BaseException as err:
        send(sock, LabkitError("container setup", f"{type(err).__name__}: {err}",
                                "this is a bug in the kit; please report it"))
        code = 1
    os._exit(code)


def _missing_feature(err: LabkitError) -> LabkitError:
    if err.subject.startswith("unshare") and "EINVAL" in err.problem:
        return KernelFeatureMissing("unshare", "this kernel lacks one of the namespaces asked for",
                                    "run `labkit doctor` and drop the missing one from --ns")
    return err


def _container_child(ctx: LaunchContext, stages: tuple[Stage, ...], sock: socket.socket,
                     kernel: Kernel, console: bool) -> None:
    """PID 1 of the container: build its world, then exec (or run a tiny init)."""
    try:
        spec = ctx.spec
        for sig in FORWARDED_SIGNALS:  # the supervisor's forwarding handlers are not ours: a
            signal.signal(sig, signal.SIG_DFL)  # TERM before exec (at a start gate) just ends us
        os.setsid()  # a session of its own: the caller's terminal is never its controlling tty
        close_inherited_fds(keep=sock.fileno())
        # Hold the start gate by an O_PATH fd: its path is gone once we pivot_root (as runc).
        gate = os.open(spec.start_gate, os.O_PATH | os.O_CLOEXEC) if spec.start_gate else None
        write_sysctls(spec.sysctl)  # in the container's namespaces, before /proc/sys turns read-only
        if spec.rootfs is not None:
            own_mnt = Namespace.MNT in spec.namespaces | {ns for ns, _ in spec.join}
            if not own_mnt and spec.standard_mounts:
                raise LabkitError("--rootfs", "a root filesystem needs the mnt namespace",
                                  "add mnt to --ns")
            roots = [step for stage in stages if (step := stage.root_mount(ctx))]
            extra = [step for stage in stages for step in stage.mounts(ctx)]
            enter_rootfs(plan_mounts(spec.rootfs, read_only=spec.read_only,
                                     new_net=Namespace.NET in spec.namespaces,
                                     new_pid=Namespace.PID in spec.namespaces | {
                                         ns for ns, _ in spec.join},
                                     root=roots[-1] if roots else None, extra=extra,
                                     standard=spec.standard_mounts,
                                     propagation=spec.rootfs_propagation, pivot=own_mnt), kernel)
        if spec.hostname and Namespace.UTS in spec.namespaces:
            kernel.sethostname(spec.hostname)
        if spec.domainname and Namespace.UTS in spec.namespaces:
            kernel.setdomainname(spec.domainname)
        os.chdir(spec.cwd)
        if console:
            take_console(sock)  # from the container's own /dev/ptmx, after pivot_root
        for stage in stages:
            stage.inside(ctx)
        env = dict(spec.env)
        if spec.init:
            _run_init(spec, env, sock, gate)
        _exec(spec, env, sock, gate)
    except LabkitError as err:
        report(sock, err)
    except OSError as err:
        report(sock, translate_oserror(err, f"container start ({err.filename or 'setup'})"))
    except BaseException as err:
        report(sock, LabkitError("container start", f"{type(err).__name__}: {err}",
                                  "this is a bug in the kit; please report it"))
    os._exit(127)


def _exec(spec: ContainerSpec, env: dict[str, str], sock: socket.socket,
          gate: int | None) -> None:
    """Become the user asked for, wait at the start gate if there is one, then exec."""
    become(*spec.user, groups=spec.groups)
    if spec.umask is not None:
        os.umask(spec.umask)
    if gate is not None:
        # Report "created" and drop the socket, so the supervisor stops waiting; then block
        # until `labkit oci start` opens the FIFO to read.
        send(sock, ("created", None))
        sock.close()
        with open(f"/proc/self/fd/{gate}", "wb") as fifo:
            fifo.write(b"0")
    exec_command(spec.command, env)


def _run_init(spec: ContainerSpec, env: dict[str, str], sock: socket.socket,
              gate: int | None) -> None:
    """A minimal init: forward signals to the command, reap every zombie, exit as it did.

    It shows itself as `labkit-init` with the container's environment, never as
    the forked `labkit run` it is (see `present_as`).
    """
    present_as([INIT_NAME], env)
    status = fork_and_forward(lambda: _exec(spec, env, sock, gate),  # type: ignore[arg-type,return-value]
                              forked=sock.close)  # only the command's exec should end the wait
    os._exit(wait_status_to_exit_code(status))
