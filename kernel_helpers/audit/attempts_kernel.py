"""Escape attempts at the kernel's edges: the host's loopback, io_uring, devices, the log file.

Each one is a finding that once held against the kit (issue 15), kept as a
regression attempt in `labkit escapes`:

- localnet: a crafted TCP SYN for 127.0.0.1 sent to the bridge (NET_RAW is in
  Docker's default set). A bridge with route_localnet=1 lets the host's
  loopback-only services answer, unless the network's nft table drops it.
- io-uring: io_uring_setup(2), a large kernel surface Docker's profile now blocks.
- dev-cgroup: a mount without nodev, the host's disk made there and opened: only
  the devices cgroup still stands when nodev is gone (e.g. `--cap-add SYS_ADMIN`).
- log-fd: stdout or stderr being a host file the container could truncate or
  rewrite (a detached log was one); the supervisor now relays through a pipe.

Like the rest of the battery, nothing is changed on the host: the SYN is
answered or not, the ring is closed at once, the disk is only read, and the
file is truncated to the size it already has.

Taught in: lab 08.
"""

from __future__ import annotations

import errno
import os
import random
import socket
import stat
import struct
import time
from functools import partial
from pathlib import Path
from typing import Callable

from kernel_helpers import naming
from kernel_helpers._sys.linux import MNT_DETACH
from kernel_helpers.errors import LabkitError
from kernel_helpers.audit.attempt import Context, Outcome, errno_of, try_call, why

ETH_P_IP = 0x0800
SIOCGIFHWADDR = 0x8927
LOCALNET_PORT = 1
"""tcpmux: almost surely closed, and a closed port still answers with RST if it is reached."""
TCP_SYN, TCP_RST, TCP_ACK = 0x02, 0x04, 0x10


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) over `data`."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return int(~total & 0xFFFF)


def _syn_frame(src_mac: bytes, dst_mac: bytes, src: str, dst: str, sport: int,
               dport: int, seq: int) -> bytes:
    """An Ethernet frame holding one TCP SYN from src:sport to dst:dport."""
    s, d = socket.inet_aton(src), socket.inet_aton(dst)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, TCP_SYN, 64240, 0, 0)
    tcp = tcp[:16] + struct.pack("!H", _checksum(s + d + struct.pack("!BBH", 0, 6, len(tcp))
                                                 + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, s, d)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return dst_mac + src_mac + struct.pack("!H", ETH_P_IP) + ip + tcp


def default_route(route_file: str = "/proc/net/route") -> tuple[str, str] | None:
    """(interface, gateway address) of this network namespace's default route, if any."""
    for line in Path(route_file).read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == "00000000" and fields[2] != "00000000":
            return fields[0], socket.inet_ntoa(struct.pack("<I", int(fields[2], 16)))
    return None


def _neighbour_mac(address: str, arp_file: str = "/proc/net/arp") -> bytes | None:
    for line in Path(arp_file).read_text().splitlines()[1:]:
        fields = line.split()
        if fields[0] == address and fields[2] != "0x0":
            return bytes.fromhex(fields[3].replace(":", ""))
    return None


def _resolve(gateway: str, timeout: float = 2) -> bytes | None:
    """The gateway's MAC: one UDP datagram makes the kernel ARP for it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.sendto(b"", (gateway, 9))
    deadline = time.monotonic() + timeout
    while (mac := _neighbour_mac(gateway)) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return mac


def syn_to_host_loopback(ctx: Context, port: int, timeout: float = 1.5) -> str:
    """Send a SYN for 127.0.0.1:`port` to the gateway's MAC; return what came back.

    "SYN-ACK" or "RST" means the host's loopback stack answered; "" means nothing
    did. The container's own kernel drops the answer (a 127.0.0.1 source on eth0
    is a martian there), so only this packet socket ever sees it.
    """
    route = default_route()
    if route is None:
        return ""
    ifname, gateway = route
    gateway_mac = _resolve(gateway)
    if gateway_mac is None:
        return ""
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IP)) as raw:
        raw.bind((ifname, ETH_P_IP))
        request = struct.pack("16s16x", ifname.encode())
        my_mac = bytes(ctx.kernel.ioctl(raw.fileno(), SIOCGIFHWADDR, request))[18:24]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((gateway, 9))
            my_ip = probe.getsockname()[0]
        sport, seq = random.randint(40000, 60000), random.getrandbits(32)
        raw.send(_syn_frame(my_mac, gateway_mac, my_ip, "127.0.0.1", sport, port, seq))
        raw.settimeout(0.2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                frame = raw.recv(2048)
            except TimeoutError:
                continue
            ip = frame[14:]
            if len(ip) < 40 or ip[9] != 6 or ip[12:16] != socket.inet_aton("127.0.0.1"):
                continue
            tcp = ip[(ip[0] & 0xF) * 4:]
            if struct.unpack("!HH", tcp[:4]) == (port, sport):
                flags = tcp[13]
                return "RST" if flags & TCP_RST else "SYN-ACK" if flags & TCP_SYN else "ACK"
    return ""


def attempt_localnet(ctx: Context) -> Outcome:
    """A crafted SYN for the host's 127.0.0.1, sent over the bridge (needs NET_RAW)."""
    if default_route() is None:
        return Outcome("localnet", False, "no route off the container (loopback only)",
                       "net namespace without a network")
    try:
        answer = syn_to_host_loopback(ctx, LOCALNET_PORT)
    except PermissionError as err:
        return Outcome("localnet", False, "no packet socket", why(err, ctx, "socket", "NET_RAW"))
    if answer:
        return Outcome("localnet", True, f"the host's 127.0.0.1:{LOCALNET_PORT} answered "
                       f"({answer}): loopback-only services are reachable")
    return Outcome("localnet", False, "a SYN for the host's 127.0.0.1 got no answer",
                   "the network's nft table drops 127.0.0.0/8 from the bridge")


def attempt_io_uring(ctx: Context) -> Outcome:
    """io_uring_setup(2): a ring means the container reaches io_uring's whole surface."""
    try:
        os.close(ctx.kernel.io_uring_setup(1))
    except LabkitError as err:
        reason = why(err, ctx, "io_uring_setup")
        if errno_of(err) == errno.EPERM and not reason.startswith("seccomp"):
            reason = "kernel.io_uring_disabled (EPERM)"
        return Outcome("io-uring", False, "io_uring_setup refused", reason)
    return Outcome("io-uring", True, "made an io_uring: its kernel code (a frequent source "
                   "of privilege escalations) is reachable")


def attempt_device_cgroup(ctx: Context) -> Outcome:
    """Get a mount without nodev (a fresh tmpfs), make the host's disk there, open it."""
    if ctx.disk is None:
        return Outcome("dev-cgroup", False, "no block device host root can read", "nothing to reach")
    name, major, minor = ctx.disk
    place = f"/dev/.{naming.new_name()}"
    os.mkdir(place, 0o700)
    try:
        err = try_call(lambda: ctx.kernel.mount("tmpfs", place, "tmpfs", 0, "size=4k"))
        if err is not None:
            return Outcome("dev-cgroup", False, "could not get a mount that allows device nodes",
                           f"mount refused: {why(err, ctx, 'mount', 'SYS_ADMIN')}; every "
                           "writable mount is nodev")
        try:
            return _open_disk(ctx, f"{place}/disk", name, major, minor)
        finally:
            ctx.kernel.umount2(place, MNT_DETACH)
    finally:
        os.rmdir(place)


def _open_disk(ctx: Context, node: str, name: str, major: int, minor: int) -> Outcome:
    err = try_call(lambda: ctx.kernel.mknod(node, stat.S_IFBLK | 0o600, os.makedev(major, minor)))
    if err is not None:
        return Outcome("dev-cgroup", False, "mknod refused on a fresh tmpfs",
                       why(err, ctx, "mknod", "MKNOD"))
    try:
        fd = os.open(node, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as open_err:
        reason = ("devices cgroup (EPERM)" if open_err.errno == errno.EPERM
                  else why(open_err, ctx, "openat"))
        return Outcome("dev-cgroup", False, f"made {major}:{minor} on a mount without nodev, "
                       "but could not open it", reason)
    try:
        os.read(fd, 512)
    finally:
        os.close(fd)
    return Outcome("dev-cgroup", True, f"read the host's block device {name} through a node "
                   "on a mount without nodev")


def attempt_log_fd(ctx: Context) -> Outcome:
    """Is stdout or stderr a host file? Then truncate it to the size it has (no change)."""
    for fd in (1, 2):
        try:
            info = os.fstat(fd)
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            err = try_call(partial(os.ftruncate, fd, info.st_size))
            if err is None:
                return Outcome("log-fd", True, f"fd {fd} is a host file "
                               f"({os.readlink(f'/proc/self/fd/{fd}')}): the container could "
                               "truncate or rewrite it")
    return Outcome("log-fd", False, "stdout and stderr are pipes or terminals, not host files",
                   "the supervisor relays output through a pipe")


ATTEMPTS: tuple[Callable[[Context], Outcome], ...] = (
    attempt_localnet, attempt_io_uring, attempt_device_cgroup, attempt_log_fd)
"""This module's part of the battery, in the order `labkit escapes` prints it."""
