"""`labkit audit`, `labkit escapes` and `labkit provenance`: security from the shell.

Both take every `labkit run` option, so a lab can compare, e.g.,
`labkit audit` with `labkit audit --privileged` or `labkit escapes --userns`.

Taught in: lab 08.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any


def _spec_and_stages(args: argparse.Namespace) -> tuple[Any, Any]:
    from kernel_helpers.runtime.run_options import spec_and_stages
    if getattr(args, "naive", False):
        args.privileged = True
    if not args.command or args.command == ["--"]:
        args.command = ["/bin/true"]  # never run: the probe takes the command's place
    return spec_and_stages(args)


def _cmd_audit(args: argparse.Namespace) -> int:
    from kernel_helpers.audit.isolation import audit_container, report
    items = audit_container(*_spec_and_stages(args))
    print(json.dumps([asdict(item) for item in items], indent=1) if args.json else report(items))
    return 0


def _cmd_escapes(args: argparse.Namespace) -> int:
    from kernel_helpers.audit.escapes import battery_in_container
    outcomes = battery_in_container(*_spec_and_stages(args))
    if args.json:
        print(json.dumps([asdict(outcome) for outcome in outcomes], indent=1))
    else:
        print("\n".join(outcome.line() for outcome in outcomes))
        escaped = sum(outcome.escaped for outcome in outcomes)
        print(f"{escaped} of {len(outcomes)} attempts escaped")
    return 1 if any(outcome.escaped for outcome in outcomes) else 0


def _cmd_provenance(args: argparse.Namespace) -> int:
    from pathlib import Path
    from kernel_helpers.security import provenance
    checks = []
    if Path(args.source).is_dir():
        entries = provenance.rootfs_content(args.source)
    else:
        checks = provenance.verify_image(args.source)
        print("\n".join(check.line() for check in checks))
        if not all(check.ok for check in checks):
            return 1
        entries = provenance.image_content(args.source)
    shown = entries if args.all else [entry for entry in entries if entry.flags]
    for entry in shown:
        print(entry.line())
    files = sum(entry.kind == "file" for entry in entries)
    print(f"{len(entries)} paths, {files} files, {sum(bool(e.flags) for e in entries)} flagged"
          + ("" if args.all else " (shown; --all lists everything)"))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from kernel_helpers.runtime.run_options import add_run_options
    audit = sub.add_parser("audit", help="what a container still sees or can do of the host, "
                                         "item by item (takes the options of run)")
    audit.add_argument("--json", action="store_true", help="machine-readable output")
    add_run_options(audit)
    audit.set_defaults(handler=_cmd_audit)

    escapes = sub.add_parser("escapes", help="try real escapes from a container (hardened "
                                             "unless --naive); exit 1 if any succeeds")
    escapes.add_argument("--naive", action="store_true",
                         help="no hardening at all (the same as --privileged)")
    escapes.add_argument("--json", action="store_true", help="machine-readable output")
    add_run_options(escapes)
    escapes.set_defaults(handler=_cmd_escapes)

    prov = sub.add_parser("provenance", help="verify an image's layer digests and list what is "
                                             "in it (setuid, devices, world-writable flagged)")
    prov.add_argument("source", help="an image (e.g. busybox) or a rootfs directory")
    prov.add_argument("--all", action="store_true", help="list every path, not only flagged ones")
    prov.set_defaults(handler=_cmd_provenance)
