"""The supervisor and its children talk over a socketpair: length-prefixed pickles.

EOF means the other side exited or exec'ed (the socket is close-on-exec), which
is how the supervisor learns that the container's command is running.
"""

from __future__ import annotations

import os
import pickle
import socket
import struct
from typing import Any

from kernel_helpers.errors import LabkitError


def send(sock: socket.socket, message: Any) -> None:
    data = pickle.dumps(message)
    sock.sendall(struct.pack("!I", len(data)) + data)


def recv(sock: socket.socket) -> Any:
    header = sock.recv(4, socket.MSG_WAITALL)
    if len(header) < 4:
        return None  # EOF: the other side exited or exec'ed
    (size,) = struct.unpack("!I", header)
    return pickle.loads(sock.recv(size, socket.MSG_WAITALL))


def expect(sock: socket.socket, tag: str) -> Any:
    message = recv(sock)
    if isinstance(message, LabkitError):
        raise message
    if not (isinstance(message, tuple) and message[0] == tag):
        raise LabkitError("container setup", f"the setup process stopped before '{tag}'",
                          "run `labkit doctor` to check this machine, then try again")
    return message[1]


def expect_go(sock: socket.socket) -> None:
    if recv(sock) != "go":
        os._exit(1)  # the supervisor gave up


def report(sock: socket.socket, err: LabkitError) -> None:
    """Tell the supervisor; after a start gate it has stopped listening, so tell stderr (the log)."""
    try:
        send(sock, err)
    except OSError:
        os.write(2, f"labkit: {err}\n".encode())
