"""Check of lab 11, the capstone: a web app shipped in the learner's runtime.

The check picks a free port, asks the learner's `ship` for a detached
container serving a page there on 127.0.0.1, fetches it, reads the
container's group and network record, then stops and removes it and makes
sure nothing is left: no page, no veth, no group.

Taught in: lab 11.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from typing import Any

from kernel_helpers.course.checks import call, check, fail
from kernel_helpers.runtime import manage
from kernel_helpers.state import find, is_running

MEMORY = 32 * 2**20
PAGE = "<h1>shipped from a runtime I wrote</h1>"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _fetch(port: int, seconds: float) -> str | None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as reply:
                return str(reply.read().decode(errors="replace")).strip()
        except urllib.error.HTTPError as err:
            return f"HTTP {err.code}"
        except OSError:
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)


def _links() -> set[str]:
    from kernel_helpers.net import netdev
    return netdev.link_names()


@check("capstone.ship")
def ship(answer: object) -> str:
    port = _free_port()
    container = call(answer, PAGE, port)
    if not isinstance(container, str):
        raise fail("`ship` did not return the container's id",
                   "return what run_detached returned")
    try:
        state = find(container)
        if not is_running(state):
            raise fail("the container is not running", "start it detached (run_detached)")
        network: dict[str, Any] = state.extra.get("network") or {}  # type: ignore[assignment]
        ports = network.get("ports", [])  # e.g. tcp:127.0.0.1:8080:80
        published = any(str(p).endswith(f"127.0.0.1:{port}:80") for p in ports)
        page = _fetch(port, 10) if published else None  # wait only for a port that is there
        if page is None:
            raise fail("nothing answers on 127.0.0.1 at the port given",
                       "publish the port: NetworkStage(ports=(f'127.0.0.1:{port}:80',))")
        if page != PAGE:
            raise fail("the server answers, but not with the page given",
                       "write the page to the web root's index.html before starting httpd")
        limit = manage.stats(container).get("memory_max") if state.extra.get("cgroup") else None
        if limit != MEMORY:
            raise fail("the container has no 32 MiB memory limit",
                       "add CgroupStage(Limits(memory=32 * 2**20))")
    finally:
        manage.remove(container, force=True)
    if _fetch(port, 0) is not None:
        raise fail("the page is still served after the container was removed",
                   "publish through the container's NetworkStage, which unpublishes at exit")
    if container in _links():
        raise fail("the container's veth is still on the host after it was removed",
                   "let NetworkStage make the veth, so its undo removes it")
    return "your runtime shipped the page on 127.0.0.1 with a memory limit, and left nothing behind"
