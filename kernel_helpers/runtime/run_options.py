"""The options of `labkit run`, and how they become a ContainerSpec plus stages.

One place turns command-line words into a spec, so the CLI, the TUI and the
notebooks (which call `spec_from_options`) agree on every default.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
from typing import Any

from kernel_helpers.errors import InvalidValue
from kernel_helpers.namespaces import parse_namespaces
from kernel_helpers.stage import Stage
from kernel_helpers.spec import DEFAULT_NAMESPACES, ContainerSpec

_HOSTNAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rootfs", default="busybox",
                        help="an image (default: busybox, the offline base), a directory, "
                             "or 'host' (no new root)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the container's files after it exits (for `labkit commit`)")
    parser.add_argument("--hostname", help="hostname inside (uts namespace)")
    parser.add_argument("--ns", default=",".join(sorted(ns.proc_name for ns in DEFAULT_NAMESPACES)),
                        help="namespaces to create, comma separated (default: %(default)s)")
    parser.add_argument("--init", action="store_true",
                        help="run a tiny init as PID 1 that reaps zombies and forwards signals "
                             "(it shows as labkit-init, with the container's environment only)")
    parser.add_argument("--read-only", action="store_true", help="mount the root filesystem read-only")
    parser.add_argument("-d", "--detach", action="store_true",
                        help="run in the background; print the id (see ps, logs, stop, rm)")
    parser.add_argument("--name", default="", help="a name to use instead of the id")
    parser.add_argument("--restart", default="no", help="no, always or on-failure[:N]")
    parser.add_argument("--rm", action="store_true",
                        help="with -d: remove the container when it exits")
    parser.add_argument("--log-max-size", metavar="SIZE",
                        help="with -d: rotate the log at SIZE, keeping one older file "
                             "(default 10M; max never rotates)")
    from kernel_helpers.cgroups.stage import add_cgroup_options
    add_cgroup_options(parser)
    from kernel_helpers.security.options import add_security_options
    add_security_options(parser)
    from kernel_helpers.net.options import add_network_options
    add_network_options(parser)
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- CMD ARGS...")


def spec_from_options(command: list[str], rootfs: str = "busybox", hostname: str | None = None,
                      ns: str | None = None, init: bool = False,
                      read_only: bool = False) -> ContainerSpec:
    """Validate the options and build the spec; every bad value gets one sentence."""
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise InvalidValue("labkit run", "no command was given",
                           "put it after --, e.g. labkit run -- /bin/sh")
    if hostname is not None and not _HOSTNAME.match(hostname):
        raise InvalidValue(f"hostname '{hostname}'", "is not a valid hostname",
                           "use letters, digits and inner dashes, at most 63 characters")
    namespaces = parse_namespaces(ns) if ns is not None else DEFAULT_NAMESPACES
    return ContainerSpec(command=tuple(command), rootfs=resolve_rootfs(rootfs),
                         namespaces=namespaces, hostname=hostname, init=init,
                         read_only=read_only)


def resolve_rootfs(rootfs: str) -> str | None:
    """'busybox' -> the base image dir (built on first use), 'host' -> None, else the dir."""
    from pathlib import Path
    if rootfs == "host":
        return None
    if rootfs == "busybox":
        from kernel_helpers.rootfs.busybox import busybox_rootfs
        return str(busybox_rootfs())
    if not Path(rootfs).is_dir():
        from kernel_helpers.errors import NotFound
        raise NotFound(f"rootfs '{rootfs}'", "does not exist or is not a directory",
                       "give a directory holding a root filesystem, or use --rootfs busybox")
    return rootfs


def spec_and_stages(args: argparse.Namespace) -> tuple[ContainerSpec, tuple[Stage, ...]]:
    """The CLI's parsed arguments as a spec and the stages the options ask for."""
    from kernel_helpers.cgroups.stage import stage_from_args
    cgroup = stage_from_args(args)  # bad limits are refused before anything is made
    from kernel_helpers.net.options import stage_from_args as network_stage
    cgroup = (*cgroup, *network_stage(args))  # bad ports or names too
    from pathlib import Path
    directory = args.rootfs.startswith(("/", ".")) or (Path(args.rootfs).is_dir()
                                                        and args.rootfs != "busybox")
    if args.rootfs != "host" and not directory:  # an image name, like busybox or myimage:v1
        keep = args.keep or (args.detach and not args.rm)
        spec, stage = image_spec_and_stage(args.rootfs, args.command, keep, hostname=args.hostname,
                                           ns=args.ns, init=args.init, read_only=args.read_only)
        return _secured(args, spec, (stage, *cgroup))
    spec = spec_from_options(args.command, args.rootfs, args.hostname, args.ns, args.init,
                             args.read_only)
    return _secured(args, spec, cgroup)


def image_spec_and_stage(ref: str, command: list[str], keep: bool = False,
                         **options: Any) -> tuple[ContainerSpec, Stage]:
    """`labkit run --rootfs IMAGE`: the image's command, env and workdir, and its overlay stage.

    Docker's rule for the command: entrypoint + (the given args, or else cmd).
    `options` are those of `spec_from_options` (hostname, ns, init, read_only).
    """
    from kernel_helpers.images import store
    from kernel_helpers.images.containerfs import PENDING_ROOTFS, OverlayStage
    image = store.get(ref)
    args = command[1:] if command and command[0] == "--" else command
    spec = spec_from_options(["--", *image.config.command(args)], "host", **options)
    env = dict(spec.env) | dict(e.split("=", 1) for e in image.config.env if "=" in e)
    spec = dataclasses.replace(spec, rootfs=PENDING_ROOTFS, env=tuple(env.items()),
                               cwd=image.config.workdir or "/")
    return spec, OverlayStage(image, keep)


def _secured(args: argparse.Namespace, spec: ContainerSpec,
             stages: tuple[Stage, ...]) -> tuple[ContainerSpec, tuple[Stage, ...]]:
    """Hardening (on unless turned off) comes last: it drops privileges just before exec."""
    from kernel_helpers.security.options import apply_security_options
    spec, hardening = apply_security_options(spec, args)
    return spec, (*stages, *hardening)
