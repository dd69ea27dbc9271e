"""python -m kernel_helpers -> the labkit CLI."""

import sys

from kernel_helpers.cli import main

sys.exit(main())
