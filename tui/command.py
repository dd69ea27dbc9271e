"""``labkit tui``: the subcommand (registered through kernel_helpers.cli.COMMAND_MODULES)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_tui(args: argparse.Namespace) -> int:
    from tui.app import LabKitApp
    app = LabKitApp(args.labs)
    app.run()
    return app.return_code or 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `labkit tui`."""
    tui = subparsers.add_parser("tui", help="the labs in the terminal: steps, checks, hints, progress")
    tui.add_argument("--labs", type=Path, help="a labs folder with course.toml (default: the kit's)")
    tui.set_defaults(handler=_cmd_tui)
