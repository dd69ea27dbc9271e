"""`labkit`: the command line. Catches LabkitError at one boundary, prints one sentence.

Imports stay inside the command handlers so `labkit run` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Callable, Sequence

COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "kernel_helpers.runtime.cli": ("ps", "inspect", "logs", "stop", "kill", "rm", "exec",
                                        "pause", "unpause", "stats"),
    "kernel_helpers.runtime.oci": ("oci",),
    "kernel_helpers.images.cli": ("image", "commit"),
    "kernel_helpers.course.cli": ("check", "course"),
    "kernel_helpers.course.workfile_cli": ("init", "checkpoint"),
    "tui.command": ("tui",),
    "kernel_helpers.audit.cli": ("audit", "escapes", "provenance"),
    "kernel_helpers.net.cli": ("network",),
}
"""Modules adding subcommands with ``register(subparsers)``, and the words they add.

Only the module owning the command typed is imported, so `labkit run` never pays
for the TUI or the notebooks' libraries; help lists them all."""

OTHER_WORDS = frozenset({"doctor", "cleanup", "ns", *(w for ws in COMMAND_MODULES.values() for w in ws)})
"""Every command but `run`: for these the parser skips `run`'s options (and their imports)."""

NEEDS_ROOT = frozenset({"run", "exec", "ps", "inspect", "logs", "stop", "kill", "rm", "pause",
                        "unpause", "stats", "oci", "image", "commit", "network", "audit",
                        "escapes", "provenance", "cleanup"})
"""Commands that read or change the kit's state (containers, images, networks) or the kernel's.

They check for root before anything else, so a learner without sudo gets one sentence,
never a PermissionError from whichever state file happens to be read first."""


def _cmd_run(args: argparse.Namespace) -> int:
    from kernel_helpers.runtime.run_options import spec_and_stages
    from kernel_helpers.runtime.logfile import parse_max_size
    from kernel_helpers.runtime.supervisor import parse_restart
    policy = parse_restart(args.restart)
    log_max_size = parse_max_size(args.log_max_size)
    spec, stages = spec_and_stages(args)
    if args.detach:
        from kernel_helpers.runtime.detach import run_detached
        print(run_detached(spec, stages, name=args.name, keep=not args.rm, policy=policy,
                           log_max_size=log_max_size))
        return 0
    from kernel_helpers.runtime.foreground import run
    return run(spec, stages, name=args.name, keep=args.keep, policy=policy)


def _cmd_doctor(args: argparse.Namespace) -> int:
    from kernel_helpers.doctor import as_json, diagnose
    findings = diagnose()
    if args.json:
        print(json.dumps(as_json(findings), indent=1))
    else:
        print("\n".join(f.line() for f in findings))
    return 0 if all(f.ok for f in findings) else 1


def _cmd_cleanup(args: argparse.Namespace) -> int:
    from kernel_helpers import cleanup
    if args.dry_run:
        found = cleanup.leftovers()
        print("\n".join(f"would remove {item}" for item in found) or "nothing to clean up")
        return 0
    removed, problems = cleanup.sweep()
    for item in removed:
        print(f"removed {item}")
    for problem in problems:
        print(f"could not remove {problem}", file=sys.stderr)
    if not removed and not problems:
        print("nothing to clean up")
    return 1 if problems else 0


def _cmd_ns(args: argparse.Namespace) -> int:
    from kernel_helpers.namespaces import namespaces_of, shared_with
    ids = namespaces_of(args.pid)
    shared = set(shared_with(args.pid))
    for kind, ns_id in ids.items():
        print(f"{kind:<7} {ns_id.inode:<12} {'shared with labkit' if kind in shared else 'own'}")
    return 0


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with `command`, only the module that owns that word is loaded."""
    parser = argparse.ArgumentParser(prog="labkit", description="Learn containers by building one.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a command in a new container, in the foreground")
    if command not in OTHER_WORDS:  # `run` (or help, or a typo): its options load cgroups,
        from kernel_helpers.runtime.run_options import add_run_options  # security and net
        add_run_options(run)
    run.set_defaults(handler=_cmd_run)

    doctor = sub.add_parser("doctor", help="what this machine supports, and what to do if not")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.set_defaults(handler=_cmd_doctor)

    clean = sub.add_parser("cleanup", help="remove everything a crashed run left behind")
    clean.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    clean.set_defaults(handler=_cmd_cleanup)

    ns = sub.add_parser("ns", help="show a process's namespaces (like lsns -p PID)")
    ns.add_argument("pid", nargs="?", default="self")
    ns.set_defaults(handler=_cmd_ns)

    owners = [module for module, words in COMMAND_MODULES.items() if command in words]
    core = command in sub.choices
    for module in owners or ([] if core else COMMAND_MODULES):
        importlib.import_module(module).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `labkit` console script."""
    from kernel_helpers.errors import LabkitError
    from kernel_helpers import vm
    if argv is None:  # a learner's command line, not a caller's list
        vm.rerun_as_root_in_lab_vm()
    given = list(sys.argv[1:] if argv is None else argv)
    if not given and sys.stdin.isatty() and sys.stdout.isatty():
        given = ["tui"]  # `labkit` alone, in a terminal, opens the TUI
    words = [word for word in given if not word.startswith("-")]
    parser = build_parser(words[0] if words else None)
    args = parser.parse_args(given)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 0
    vm.warn_once_outside_vm()
    try:
        if words[0] in NEEDS_ROOT:  # the subcommand, as `build_parser` chose its module by it
            from kernel_helpers.process import require_root
            require_root(f"labkit {words[0]}")
        return handler(args)
    except LabkitError as err:
        print(f"labkit: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
