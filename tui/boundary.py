"""The TUI's one error boundary: a LabkitError becomes a one-sentence notification.

Everything that can fail (loading the course, running a check or a step, saving
progress) runs in a worker method wrapped here, so the app never shows a traceback
for a problem the learner can fix. Any other exception is a bug and still crashes loudly.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, TypeVar

from textual.dom import DOMNode

from kernel_helpers.errors import LabkitError

T = TypeVar("T")
Method = Callable[..., T]

ERROR_TIMEOUT_S = 10.0
"""Errors stay up longer than the default notification so a learner can read the fix."""


def _tell(node: DOMNode, err: LabkitError) -> None:
    # App.notify is thread-safe, so thread workers may call this directly.
    node.app.notify(str(err), severity="error", timeout=ERROR_TIMEOUT_S, markup=False)


def notifying(method: Method[T]) -> Method[T | None]:
    """Wrap a widget's worker method (sync or async): on LabkitError, notify and return None."""
    if inspect.iscoroutinefunction(method):
        @functools.wraps(method)
        async def run_async(self: DOMNode, *args: Any, **kwargs: Any) -> Any:
            try:
                return await method(self, *args, **kwargs)
            except LabkitError as err:
                _tell(self, err)
                return None
        return run_async

    @functools.wraps(method)
    def run_sync(self: DOMNode, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except LabkitError as err:
            _tell(self, err)
            return None
    return run_sync
