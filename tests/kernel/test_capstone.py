"""The capstone: a web app runs detached with a memory limit and a published port on
127.0.0.1, answers HTTP, shows its logs and stats, and is stopped and removed cleanly."""

from __future__ import annotations

import socket
import time
import urllib.request

import pytest

from kernel_helpers import cleanup
from kernel_helpers.testing import labkit

pytestmark = pytest.mark.usefixtures("root")
PAGE = "<h1>hello from a labkit container</h1>"
APP = f"mkdir -p /www && echo '{PAGE}' > /www/index.html && exec httpd -f -v -p 80 -h /www"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(url: str, seconds: float = 10) -> str:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_a_web_app_ships_in_a_labkit_container() -> None:
    port = free_port()
    run = labkit("run", "-d", "--name", "lk-capstone", "--init", "--memory", "64M",
                 "-p", f"127.0.0.1:{port}:80", "--", "/bin/sh", "-c", APP)
    assert run.returncode == 0, run.stderr
    cid = run.stdout.strip()
    try:
        assert get(f"http://127.0.0.1:{port}/").strip() == PAGE
        logs = labkit("logs", "lk-capstone").stdout
        assert "response:200" in logs, logs  # busybox httpd -v logs each request's status
        stats = labkit("stats", "--no-stream", "lk-capstone").stdout.splitlines()[1].split()
        assert stats[0] == cid and stats[2] == "64.0MiB"
        assert labkit("stop", "lk-capstone").returncode == 0
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
    finally:
        assert labkit("rm", "-f", "lk-capstone").returncode == 0
    assert cleanup.leftovers() == []
    assert cid not in labkit("network", "show", "default").stdout
