"""OCI runtime-spec bundles: `labkit oci create|start|state|kill|delete`, as runc does it.

A bundle is a directory with a config.json (`runc spec` writes one) and a
root filesystem. The same bundle runs under runc, crun and labkit, so a lab
can compare them. `create` sets everything up and leaves the process blocked
before exec on a FIFO; `start` opens the FIFO and the command runs.

Supported: root (path, readonly), process (args, env, cwd, user, capabilities,
noNewPrivileges), hostname, linux.namespaces (new ones; joining one by path is
refused), uid/gid mappings, linux.resources (memory, cpu, pids), maskedPaths and
readonlyPaths, and mounts beyond the standard /proc, /sys, /dev set. Not yet:
hooks, rlimits, sysctl, devices and a custom seccomp profile (any seccomp
section gets Docker's default).

Taught in: lab 09.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kernel_helpers._sys.linux import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC
from kernel_helpers.errors import Busy, InvalidValue, NotFound
from kernel_helpers.namespaces import Namespace
from kernel_helpers.rootfs.mounts import MountStep
from kernel_helpers.stage import LaunchContext, Stage
from kernel_helpers.spec import ContainerSpec, IdMap
from kernel_helpers.state import START_GATE, ContainerState, find, is_running, locked

if TYPE_CHECKING:
    from kernel_helpers.cgroups.limits import Limits
    from kernel_helpers.security.hardening import Hardening

OCI_VERSION = "1.0.2"
NAMESPACE_TYPES = {"pid": Namespace.PID, "network": Namespace.NET, "mount": Namespace.MNT,
                   "ipc": Namespace.IPC, "uts": Namespace.UTS, "user": Namespace.USER,
                   "cgroup": Namespace.CGROUP, "time": Namespace.TIME}
"""runtime-spec namespace type -> ours."""

STANDARD_MOUNTS = frozenset({"/proc", "/sys", "/dev", "/dev/pts", "/dev/shm"})
"""Destinations every labkit container already gets (see rootfs.mounts.plan_mounts)."""

MOUNT_FLAGS = {"ro": MS_RDONLY, "nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC,
               "bind": MS_BIND, "rbind": MS_BIND | MS_REC}
IGNORED_OPTIONS = frozenset({"rw", "relatime", "strictatime", "private", "rprivate", "suid",
                             "dev", "exec"})


def load_config(bundle: str | Path) -> dict[str, Any]:
    path = Path(bundle, "config.json")
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except FileNotFoundError:
        raise NotFound(f"bundle '{bundle}'", "has no config.json",
                       "make one with `runc spec` in the bundle directory") from None
    except ValueError as err:
        raise InvalidValue(f"{path}", f"is not valid JSON ({err})", "fix or regenerate it") from None


def spec_from_config(config: dict[str, Any], bundle: str | Path) -> tuple[ContainerSpec, tuple[Stage, ...]]:
    """Translate a runtime-spec config into the kit's spec and stages."""
    process = config.get("process") or {}
    if process.get("terminal"):
        raise InvalidValue("process.terminal", "is true, which needs a console socket",
                           "set \"terminal\": false in config.json (labkit oci runs detached)")
    args = process.get("args") or []
    if not args:
        raise InvalidValue("process.args", "is empty", "put the command to run in config.json")
    root = config.get("root") or {}
    rootfs = Path(bundle, root.get("path", "rootfs")).resolve()
    if not rootfs.is_dir():
        raise NotFound(f"root.path '{rootfs}'", "is not a directory", "unpack a rootfs there")
    linux = config.get("linux") or {}
    namespaces = set()
    for item in linux.get("namespaces") or []:
        if item.get("path"):
            raise InvalidValue(f"namespace {item['type']} path", "joining an existing namespace "
                               "is not supported", "remove the path to get a new namespace")
        if item.get("type") not in NAMESPACE_TYPES:
            raise InvalidValue(f"namespace type '{item.get('type')}'", "is unknown",
                               f"use some of: {', '.join(NAMESPACE_TYPES)}")
        namespaces.add(NAMESPACE_TYPES[item["type"]])
    mappings = linux.get("uidMappings") or []
    id_map = (IdMap(mappings[0]["containerID"], mappings[0]["hostID"], mappings[0]["size"])
              if mappings else IdMap())
    user = process.get("user") or {}
    spec = ContainerSpec(
        command=tuple(args), rootfs=str(rootfs), namespaces=frozenset(namespaces),
        hostname=config.get("hostname"), read_only=bool(root.get("readonly")),
        env=tuple(tuple(item.split("=", 1)) for item in process.get("env") or []
                  if "=" in item),  # type: ignore[misc]
        cwd=process.get("cwd", "/"), id_map=id_map,
        user=(int(user.get("uid", 0)), int(user.get("gid", 0))))
    from kernel_helpers.cgroups.stage import CgroupStage
    from kernel_helpers.security.hardening import HardeningStage
    return spec, (OciBundle(str(Path(bundle).resolve()), config.get("mounts") or [], str(rootfs)),
                  CgroupStage(limits_from(linux.get("resources") or {}),
                              mount=any(item.get("type") == "cgroup"
                                        for item in config.get("mounts") or [])),
                  HardeningStage(hardening_from(process, linux)))


def limits_from(resources: dict[str, Any]) -> Limits:
    """linux.resources (memory, cpu, pids) as the kit's cgroup Limits."""
    from kernel_helpers.cgroups.limits import CPU_PERIOD_US, Limits
    from kernel_helpers.units import parse_cpu_list
    memory, cpu = resources.get("memory") or {}, resources.get("cpu") or {}
    quota, period = cpu.get("quota"), cpu.get("period") or CPU_PERIOD_US
    return Limits(memory=memory.get("limit"),
                  cpus=quota / period if quota and quota > 0 else None,
                  cpu_period_us=period, cpu_shares=cpu.get("shares"),
                  cpuset_cpus=parse_cpu_list(cpu["cpus"], "linux.resources.cpu.cpus")
                  if cpu.get("cpus") else None,
                  pids=(resources.get("pids") or {}).get("limit"))


def hardening_from(process: dict[str, Any], linux: dict[str, Any]) -> Hardening:
    """The config's capabilities, noNewPrivileges, masked and read-only paths, as runc applies them.

    The config has no seccomp section by default (`runc spec`), and then neither runc nor
    labkit loads a filter; any section there gets Docker's default profile.
    """
    from kernel_helpers.security.hardening import Hardening
    bounding = (process.get("capabilities") or {}).get("bounding")
    return Hardening(
        caps=None if bounding is None else frozenset(c.removeprefix("CAP_") for c in bounding),
        no_new_privs=bool(process.get("noNewPrivileges")), seccomp="seccomp" in linux,
        system_paths=True, nodev=False,
        masked=tuple(linux.get("maskedPaths") or ()), readonly=tuple(linux.get("readonlyPaths") or ()))


class OciBundle(Stage):
    """Records the bundle, and makes the config's mounts the standard set does not."""

    def __init__(self, bundle: str, mounts: list[dict[str, Any]], rootfs: str) -> None:
        self.bundle = bundle
        self.steps = [step for item in mounts if (step := mount_step(item, rootfs))]

    def prepare(self, ctx: LaunchContext) -> None:
        ctx.state.extra["bundle"] = self.bundle

    def mounts(self, ctx: LaunchContext) -> list[MountStep]:
        return self.steps


def mount_step(item: dict[str, Any], rootfs: str) -> MountStep | None:
    """One runtime-spec mount as a MountStep (None for the standard ones and cgroup)."""
    destination = item["destination"]
    if destination in STANDARD_MOUNTS or item.get("type") == "cgroup":
        return None  # cgroup: CgroupStage mounts the container's own group there
    flags, data = 0, []
    for option in item.get("options") or []:
        if option in MOUNT_FLAGS:
            flags |= MOUNT_FLAGS[option]
        elif option not in IGNORED_OPTIONS:
            data.append(option)
    bind = bool(flags & MS_BIND)
    source = item.get("source")
    if bind and source and not os.path.isabs(source):
        source = os.path.join(rootfs, source)
    make_file = bind and bool(source) and os.path.isfile(source)
    return MountStep(source, f"{rootfs}{destination}", None if bind else item.get("type"),
                     flags, ",".join(data) or None, make_file=make_file)


def create(container_id: str, bundle: str | Path) -> str:
    """Set the container up and leave it blocked before exec; return the kit's id."""
    from kernel_helpers.runtime.detach import run_detached
    spec, stages = spec_from_config(load_config(bundle), bundle)
    return run_detached(spec, stages, name=container_id, gated=True)


def start(container_id: str) -> None:
    """Open the start gate: the created process execs its command."""
    state = find(container_id)
    if state.status != "created":
        raise Busy(f"container '{container_id}'", f"is {state.status}, not created",
                   "only a created container can be started; make one with `labkit oci create`")
    gate = state.directory / START_GATE
    fd = os.open(gate, os.O_RDONLY | os.O_NONBLOCK)
    try:
        os.set_blocking(fd, True)
        os.read(fd, 1)
    finally:
        os.close(fd)
        gate.unlink(missing_ok=True)
    with locked():
        fresh = find(container_id)
        fresh.status = "running" if fresh.status == "created" else fresh.status
        fresh.save()


def oci_state(container_id: str) -> dict[str, Any]:
    """The runtime-spec state object (what `runc state` prints)."""
    state: ContainerState = find(container_id)
    alive = is_running(state)
    status = state.status if alive and state.status in ("created", "running") else "stopped"
    return {"ociVersion": OCI_VERSION, "id": container_id, "status": status,
            "pid": state.pid if alive else 0, "bundle": state.extra.get("bundle", ""),
            "annotations": {}}


def _cmd_oci(args: argparse.Namespace) -> int:
    from kernel_helpers.runtime import manage
    if args.oci_command == "create":
        create(args.id, args.bundle)
    elif args.oci_command == "start":
        start(args.id)
    elif args.oci_command == "state":
        print(json.dumps(oci_state(args.id), indent=2))
    elif args.oci_command == "kill":
        manage.kill(args.id, manage.parse_signal(args.signal))
    elif args.oci_command == "delete":
        manage.remove(args.id, force=args.force)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`labkit oci ...`: the runtime-spec lifecycle commands."""
    oci = sub.add_parser("oci", help="run OCI bundles like runc: create, start, state, kill, delete")
    verbs = oci.add_subparsers(dest="oci_command", metavar="VERB", required=True)
    create_cmd = verbs.add_parser("create", help="set up a container from a bundle, not started")
    create_cmd.add_argument("--bundle", "-b", default=".", help="bundle directory (config.json)")
    create_cmd.add_argument("id")
    for verb, text in (("start", "run the created container's command"),
                       ("state", "print the runtime-spec state JSON")):
        verbs.add_parser(verb, help=text).add_argument("id")
    kill_cmd = verbs.add_parser("kill", help="send a signal (default TERM)")
    kill_cmd.add_argument("id")
    kill_cmd.add_argument("signal", nargs="?", default="TERM")
    delete = verbs.add_parser("delete", help="remove a stopped container")
    delete.add_argument("--force", "-f", action="store_true")
    delete.add_argument("id")
    oci.set_defaults(handler=_cmd_oci)
