"""A terminal the kit owns: a pty made inside the container, relayed to the caller's terminal.

Handing the caller's own terminal to a container lets it type into the admin's
shell: ioctl(fd, TIOCSTI, "c") pushes "c" into a terminal's input as if typed,
and the admin's shell runs it after the container exits. So, as runc's console
socket and `docker run -t` do, an interactive container gets a pty of its own:

    caller's terminal ⇄ relay (the kit, raw mode) ⇄ pty master │ pty slave = container's 0,1,2

The container opens the pty from its own /dev/ptmx (its devpts instance), makes
the slave its controlling terminal (it runs in a session of its own), and passes
the master back over the kit's socket with SCM_RIGHTS. TIOCSTI from inside then
reaches only that pty; Ctrl-C typed by the caller becomes SIGINT from the pty's
line discipline, to the container's foreground process group.

Taught in: lab 09.
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import socket
import struct
import termios
import tty

from kernel_helpers.runtime._channel import send

TIOCGPTPEER = 0x5441
"""Open the slave of a master by fd (Linux 4.13), not by a /dev/pts path that could be swapped."""
TIOCSPTLCK = 0x40045431
CONSOLE_MESSAGE = ("console", None)


def open_pty(ptmx: str = "/dev/ptmx") -> tuple[int, int]:
    """A new pty pair from this mount namespace's ptmx: (master, slave), both close-on-exec."""
    master = os.open(ptmx, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))  # unlockpt(3)
    slave = fcntl.ioctl(master, TIOCGPTPEER, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    return master, slave


def take_console(sock: socket.socket) -> None:
    """In the container, as session leader: make a pty its terminal and send the master out."""
    master, slave = open_pty()
    send(sock, CONSOLE_MESSAGE)
    socket.send_fds(sock, [b"C"], [master])
    os.close(master)
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)


def receive_console(sock: socket.socket) -> int:
    """The master fd sent by `take_console`, after its CONSOLE_MESSAGE was read."""
    _, fds, _, _ = socket.recv_fds(sock, 1, 1)
    return fds[0]


def wants_console(fd: int = 0) -> bool:
    """An interactive run: the caller's stdin is a terminal."""
    return os.isatty(fd)


def relay(master: int, pid: int, stdin: int = 0, stdout: int = 1) -> None:
    """Copy the caller's keys to the pty and the pty's output back, until `pid` exits.

    The caller's terminal is in raw mode meanwhile (the container's pty does
    echo, line editing and Ctrl-C), and its window size follows the caller's.
    Returns once the output is drained; the caller then reaps `pid`.
    """
    pidfd = os.pidfd_open(pid)
    saved = termios.tcgetattr(stdin) if os.isatty(stdin) else None
    old_winch = signal.signal(signal.SIGWINCH, lambda *_: _copy_size(stdin, master))
    _copy_size(stdin, master)
    try:
        if saved is not None:
            tty.setraw(stdin, termios.TCSANOW)
        sources = [master, stdin, pidfd]
        while pidfd in sources:
            ready, _, _ = select.select(sources, [], [])
            for fd in ready:
                if fd == pidfd:
                    sources.remove(pidfd)
                    continue
                data = _read(fd)
                if fd == master and not data:  # every slave is closed: nothing to type into
                    sources = [pidfd]
                elif not data:
                    sources.remove(fd)  # stdin at EOF
                else:
                    _write_all(stdout if fd == master else master, data)
        os.set_blocking(master, False)
        while data := _read(master):
            _write_all(stdout, data)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)
        signal.signal(signal.SIGWINCH, old_winch)
        os.close(pidfd)
        os.close(master)


def _read(fd: int) -> bytes:
    try:
        return os.read(fd, 65536)
    except BlockingIOError:
        return b""
    except OSError as err:
        if err.errno == errno.EIO:  # a pty master once no slave is open
            return b""
        raise


def _write_all(fd: int, data: bytes) -> None:
    try:
        while data:
            data = data[os.write(fd, data):]
    except OSError as err:
        if err.errno != errno.EIO:  # the pty closed meanwhile: the keys have nowhere to go
            raise


def _copy_size(source: int, master: int) -> None:
    """Give the pty the caller's window size (the kernel then sends SIGWINCH inside)."""
    try:
        size = fcntl.ioctl(source, termios.TIOCGWINSZ, b"\0" * 8)
        fcntl.ioctl(master, termios.TIOCSWINSZ, size)
    except OSError:
        pass  # the caller is not a terminal: keep the pty's default size
