"""Containers on one network find each other by name: a shared hosts file.

Docker answers this with an embedded DNS server at 127.0.0.11. The kit uses
the older, smaller answer: one hosts file per network, bind-mounted read-only
on every member's /etc/hosts and rewritten (under the IPAM lock) whenever a
container joins or leaves. It is rewritten *in place*, never renamed over:
a bind mount pins an inode, so a renamed-in file would never be seen by the
containers already running.

Taught in: lab 07.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from kernel_helpers.net.ipam import Network

HOSTS = "hosts"
RESOLV_CONF = "resolv.conf"
SYSTEMD_RESOLV = Path("/run/systemd/resolve/resolv.conf")
"""The real upstream servers when /etc/resolv.conf points at systemd-resolved's 127.0.0.53."""
FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")
"""Docker's fallback when the host only has loopback resolvers."""


def hosts_text(network: Network) -> str:
    """localhost, then one line per lease: address, container id, its other names."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    for ip in sorted(network.leases, key=ipaddress.IPv4Address):
        lease = network.leases[ip]
        names = dict.fromkeys([lease.container, *lease.names])  # ordered, no repeats
        lines.append(f"{ip}\t{' '.join(names)}")
    return "\n".join(lines) + "\n"


def write_in_place(path: Path, text: str) -> None:
    """Overwrite the file's contents keeping its inode (bind mounts see the change)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        data = text.encode()
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)


def refresh_hosts(network: Network) -> Path:
    """Rewrite the network's hosts file from its leases (callers hold the IPAM lock)."""
    path = network.directory / HOSTS
    write_in_place(path, hosts_text(network))
    return path


def nameservers(resolv: Path = Path("/etc/resolv.conf")) -> list[str]:
    """The host's DNS servers a container can reach (loopback ones cannot be)."""
    found: list[str] = []
    for source in (resolv, SYSTEMD_RESOLV):
        try:
            text = source.read_text()
        except OSError:
            continue
        found = [line.split()[1] for line in text.splitlines()
                 if line.startswith("nameserver") and len(line.split()) > 1
                 and not line.split()[1].startswith(("127.", "::1"))]
        if found:
            return found
    return list(FALLBACK_DNS)


def write_resolv_conf(network: Network) -> Path:
    """The network's resolv.conf, made once when the network is created."""
    path = network.directory / RESOLV_CONF
    path.write_text("".join(f"nameserver {ip}\n" for ip in nameservers()))
    return path
