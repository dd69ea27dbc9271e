"""``python -m tui``: the same as ``labkit tui``."""

from __future__ import annotations

import sys

from kernel_helpers.cli import main

sys.exit(main(["tui", *sys.argv[1:]]))
