"""OCI hooks: programs the runtime runs at points of a container's life, given its state on stdin.

    create:  prestart (deprecated), createRuntime, createContainer  -> a failure undoes the create
    start:   startContainer, then the command; poststart after it    -> poststart only warns
    delete:  poststop, once the container is gone                   -> only warns

The kit runs createContainer and startContainer in the runtime's namespaces
(runc runs them inside the container's); everything else is where the spec puts it.

Taught in: lab 09.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from kernel_helpers.errors import InvalidValue, LabkitError

KINDS = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")
CREATE = ("prestart", "createRuntime", "createContainer")
START = ("startContainer",)
WARN_ONLY = frozenset({"poststart", "poststop"})


def parse_hooks(hooks: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The config's hooks, checked: known kinds, absolute paths, whole-second timeouts."""
    parsed: dict[str, list[dict[str, Any]]] = {}
    for kind, items in hooks.items():
        if kind not in KINDS:
            raise InvalidValue(f"hooks.{kind}", "is not a hook kind", f"use one of: {', '.join(KINDS)}")
        for item in items or []:
            path = item.get("path", "")
            if not os.path.isabs(path):
                raise InvalidValue(f"hooks.{kind} path '{path}'", "is not an absolute path",
                                   "give the hook program's absolute path")
            timeout = item.get("timeout")
            if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
                raise InvalidValue(f"hooks.{kind} timeout '{timeout}'", "is not a positive number "
                                   "of seconds", "use e.g. 5, or leave it out")
            parsed.setdefault(kind, []).append({"path": path, "args": list(item.get("args") or [path]),
                                                "env": list(item.get("env") or []),
                                                "timeout": timeout})
    return parsed


def run_hooks(hooks: dict[str, list[dict[str, Any]]], kinds: tuple[str, ...],
              state: dict[str, Any]) -> None:
    """Run each hook of `kinds`, in order, with `state` (the runtime-spec state JSON) on stdin.

    A failing hook of a warn-only kind prints one line and the next one runs;
    any other failure raises, and the caller undoes what it did.
    """
    text = json.dumps(state).encode()
    for kind in kinds:
        for hook in hooks.get(kind, []):
            try:
                _run(hook, text, kind)
            except LabkitError as err:
                if kind not in WARN_ONLY:
                    raise
                print(f"labkit: warning: {err}", file=sys.stderr)


def _run(hook: dict[str, Any], state: bytes, kind: str) -> None:
    env = dict(item.split("=", 1) for item in hook["env"] if "=" in item)
    what = f"{kind} hook {hook['path']}"
    try:
        done = subprocess.run(hook["args"], executable=hook["path"], input=state, env=env,
                              timeout=hook["timeout"], capture_output=True, close_fds=True)
    except OSError as err:
        raise LabkitError(what, f"could not be run ({err.strerror})",
                          "check that the hook's path exists and is executable") from None
    except subprocess.TimeoutExpired:
        raise LabkitError(what, f"ran longer than its timeout of {hook['timeout']}s",
                          "make the hook faster or give it a longer timeout") from None
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise LabkitError(what, f"exited with status {done.returncode}" +
                          (f" ({detail[-1]})" if detail else ""), "fix the hook, or remove it")
