"""The learner's runtime process: ``python -m kernel_helpers.course.harness.runner FILE ...``.

Started by the judge inside the case's cgroup and its own mount namespace (a shared
peer of the judge's). It waits for the judge's go byte on stdin, imports the
learner's file, swaps in the stand-ins the judge chose, and calls ``run(spec)``:
from here on this process *is* the learner's runtime, and its exit status is
what ``run`` returned.

What it writes on the report fd (close-on-exec, so no container inherits it) is
for messages only: which slots were called, where it failed. No verdict is ever
read from it; the judge decides from kernel state alone.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import traceback
import types
from typing import Any, Callable

from kernel_helpers.learn import Spec
from kernel_helpers.learn.borrow import reference


def _report(fd: int, line: str) -> None:
    try:
        os.write(fd, (line.replace("\n", " ")[:400] + "\n").encode())
    except OSError:
        pass


def _traced(fd: int, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        _report(fd, f"called {name}")
        return fn(*args, **kwargs)
    return call


def _load(path: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("myruntime", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["myruntime"] = module
    spec.loader.exec_module(module)
    return module


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--spec", required=True)
    parser.add_argument("--report-fd", type=int, required=True)
    parser.add_argument("--stand-in", action="append", default=[])
    parser.add_argument("--trace", action="append", default=[])
    args = parser.parse_args(argv)
    fd = args.report_fd
    os.set_inheritable(fd, False)
    if os.read(0, 1) != b"g":  # the judge has read what it needs before any learner code runs
        return 99
    fields: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value  # JSON has no tuples
              for key, value in json.loads(args.spec).items()}
    spec = Spec(tuple(fields.pop("argv")), **fields)
    me = os.getpid()
    root = os.stat("/")
    try:
        _report(fd, "import")
        module = _load(args.file)
        for name in args.stand_in:
            setattr(module, name, reference(name, module.__dict__))
        for name in args.trace:
            if callable(getattr(module, name, None)):
                setattr(module, name, _traced(fd, name, getattr(module, name)))
        _report(fd, "run")
        if not callable(getattr(module, "run", None)):
            _report(fd, "error your file defines no run(spec)")
            return 98
        status = module.run(spec)
    except SystemExit as done:
        status = done.code
    except BaseException as err:
        where = traceback.extract_tb(err.__traceback__)
        line = next((f" (line {f.lineno} of your file)" for f in reversed(where)
                     if f.filename == args.file), "")
        _report(fd, f"raised {type(err).__name__}: {err}{line}")
        now = os.stat("/")
        if (now.st_dev, now.st_ino) != (root.st_dev, root.st_ino):
            _report(fd, "root-moved")  # a pivot_root in the runtime's own mount namespace
        traceback.print_exc()
        status = 97
    if os.getpid() != me:  # a forked child that returned instead of exec'ing
        _report(fd, "child-returned")
        os._exit(126)
    _report(fd, f"returned {status!r}")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status if isinstance(status, int) and 0 <= status < 256 else 96)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
