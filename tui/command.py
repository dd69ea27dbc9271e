"""``labkit tui`` (registered through kernel_helpers.cli.COMMAND_MODULES) and ``python -m tui``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--labs", type=Path,
                        help="a labs folder with course.toml (default: the kit's)")


def _cmd_tui(args: argparse.Namespace) -> int:
    from tui.app import LabKitApp
    app = LabKitApp(args.labs)
    app.run()
    return app.return_code or 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add `labkit tui`."""
    tui = subparsers.add_parser("tui", help="the labs in the terminal: steps, checks, hints, progress")
    _add_arguments(tui)
    tui.set_defaults(handler=_cmd_tui)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tui``: the app alone, without the rest of the CLI's imports."""
    parser = argparse.ArgumentParser(prog="python -m tui", description="The labkit TUI.")
    _add_arguments(parser)
    return _cmd_tui(parser.parse_args(argv))
