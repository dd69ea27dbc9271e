"""``python -m tui``: the same app as ``labkit tui``."""

from __future__ import annotations

import sys

from tui.command import main

sys.exit(main())
