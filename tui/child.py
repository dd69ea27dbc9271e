"""Child processes of the TUI: step operations and checks run outside the app's own process.

The app is multi-threaded (asyncio plus Textual's threads), and forking a
threaded process can deadlock the child, so the learner's code never runs in a
fork of the app: it runs in a fresh ``python -m ...`` child, started here.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

STOP_GRACE_S = 2.0
"""Seconds a stopped child gets to clean up (``labkit run`` unwinds on SIGTERM) before SIGKILL."""


def python_argv(module: str, *args: str) -> list[str]:
    """``python -I -u -m module args``: isolated (the learner's cwd cannot shadow our modules), unbuffered."""
    return [sys.executable, "-I", "-u", "-m", module, *args]


@asynccontextmanager
async def running(argv: list[str], labs_root: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """Start `argv` with stdout+stderr on one pipe; stop it (SIGTERM, then SIGKILL) if cancelled."""
    env = dict(os.environ, LABKIT_LABS_ROOT=str(labs_root))
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT, start_new_session=True, env=env)
    try:
        yield proc
    finally:
        await _stop(proc)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    """Stop the child's whole session the way Ctrl-C would, so `labkit run` cleans up after itself."""
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), STOP_GRACE_S)
    except TimeoutError:
        os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
    except ProcessLookupError:  # it ended between the check and the signal
        await proc.wait()
