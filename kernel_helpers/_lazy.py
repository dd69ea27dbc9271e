"""Package re-exports that load their module on first use (PEP 562).

`labkit run` imports `kernel_helpers.net.options` and `kernel_helpers.images.containerfs`
on every start; with plain re-exports in the package `__init__`, that would also load
pyroute2 glue, the tar and OCI code and more, for nothing. Names stay importable
exactly as before (`from kernel_helpers.net import Netns`).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(exports: dict[str, str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A module `__getattr__` and `__dir__` for `{public name: module that defines it}`."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(name)
        return getattr(importlib.import_module(exports[name]), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__
