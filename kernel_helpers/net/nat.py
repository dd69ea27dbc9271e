"""Masquerade and published ports with nftables: one kit-owned table per network.

Why nftables rules and not a userland proxy (Docker's docker-proxy): a DNAT
rule is handled in the kernel, costs no process per port, keeps the client's
source address, and is the mechanism the course teaches; a proxy would be one
more process to supervise and clean up. Each network owns `table ip <bridge>`
(the bridge's kit-prefixed name), so removing the network is one
`delete table`, and nothing the kit does touches anyone else's rules.

Published ports are elements of a map, not rules: publishing a port is
`add element`, unpublishing `delete element`, and `nft list table` shows them
as data. Reaching a port published on 127.0.0.1 needs two extra steps:
route_localnet=1 on the kit's bridge (the kernel otherwise refuses to route a
127.0.0.1 source off the loopback device, and the container's replies, once
un-masqueraded, are for 127.0.0.1) and a masquerade of that source.

route_localnet=1 alone would also let a container reach the host's
loopback-only services: with NET_RAW (in Docker's default set) it can send a
frame for 127.0.0.1 to the bridge, and the host answers (the bug class of
kube-proxy's CVE-2020-8558). So the table's `localnet` chain drops, before
conntrack sees them, packets arriving on the bridge from or to 127.0.0.0/8:
the published ports' own traffic never has such an address there (the host
side leaves masqueraded, the replies come back for the gateway address and are
turned back into 127.0.0.1 only after this chain). A userland proxy (Docker's
docker-proxy) would avoid route_localnet altogether, at the cost of one
process per port; DNAT cannot, since nftables has no source NAT on output.

The kit never changes net.ipv4.ip_forward: the bridge, published ports and
names work without it; only containers' outbound traffic past the host needs
it (`labkit doctor` says so, the lab VM enables it when provisioned).

Rules are sent through libnftables (the library behind `nft`) with ctypes,
so no `nft` process is spawned.

Taught in: lab 07.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import ipaddress
import os
import re
import socket
from dataclasses import dataclass

from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers.errors import InvalidValue, KernelError, KernelFeatureMissing, NameTaken

_PORT_SPEC = re.compile(r"^(?:(?P<ip>[0-9.]+):)?(?P<host>\d+):(?P<cont>\d+)(?:/(?P<proto>tcp|udp))?$")


@dataclass(frozen=True)
class PortMapping:
    """`-p HOST_IP:HOST_PORT:CONTAINER_PORT[/PROTO]`; host_ip 0.0.0.0 means every local address."""

    host_ip: str
    host_port: int
    container_port: int
    proto: str = "tcp"

    def __str__(self) -> str:
        return f"{self.proto}:{self.host_ip}:{self.host_port}:{self.container_port}"

    @classmethod
    def from_record(cls, text: str) -> PortMapping:
        proto, ip, host, cont = text.split(":")
        return cls(ip, int(host), int(cont), proto)


def parse_port(text: str) -> PortMapping:
    """Parse one -p value, naming the valid form when it is wrong."""
    match = _PORT_SPEC.match(text)
    form = "use [HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|/udp], e.g. 127.0.0.1:8080:80"
    if not match:
        raise InvalidValue(f"port '{text}'", "is not a port mapping", form)
    ip = match["ip"] or "0.0.0.0"
    try:
        ipaddress.IPv4Address(ip)
    except ValueError:
        raise InvalidValue(f"port '{text}'", f"'{ip}' is not an IPv4 address", form) from None
    host, cont = int(match["host"]), int(match["cont"])
    if not (0 < host < 65536 and 0 < cont < 65536):
        raise InvalidValue(f"port '{text}'", "ports must be from 1 to 65535", form)
    return PortMapping(ip, host, cont, match["proto"] or "tcp")


def check_free(mapping: PortMapping, taken: list[PortMapping]) -> None:
    """Refuse a host port another container publishes, or a host process listens on."""
    for other in taken:
        if (other.proto, other.host_port) == (mapping.proto, mapping.host_port) and (
                "0.0.0.0" in (other.host_ip, mapping.host_ip) or other.host_ip == mapping.host_ip):
            raise NameTaken(f"port {mapping.host_ip}:{mapping.host_port}",
                            "is already published by another container",
                            "pick another host port, e.g. -p 127.0.0.1:8081:80")
    kind = socket.SOCK_STREAM if mapping.proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as probe:
        try:
            probe.bind((mapping.host_ip, mapping.host_port))
        except OSError as err:
            problem = ("is in use by a process on this machine" if err.errno == 98
                       else f"cannot be used here ({err.strerror})")
            raise NameTaken(f"port {mapping.host_ip}:{mapping.host_port}", problem,
                            "pick another host port, e.g. -p 127.0.0.1:8081:80") from None


class _Nft:
    """A libnftables context: run nft commands in-process."""

    def __init__(self) -> None:
        path = ctypes.util.find_library("nftables") or "libnftables.so.1"
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            raise KernelFeatureMissing("nftables", "libnftables is not installed",
                                       "install it with `apt-get install nftables`") from None
        lib.nft_ctx_new.restype = ctypes.c_void_p
        for name in ("nft_ctx_buffer_output", "nft_ctx_buffer_error", "nft_ctx_free"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        for name in ("nft_ctx_get_output_buffer", "nft_ctx_get_error_buffer"):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
            getattr(lib, name).restype = ctypes.c_char_p
        self.lib = lib
        self.ctx = lib.nft_ctx_new(0)
        lib.nft_ctx_buffer_output(self.ctx)
        lib.nft_ctx_buffer_error(self.ctx)

    def run(self, commands: str, what: str, missing_ok: bool = False) -> str:
        """Run commands as one atomic transaction; raise with nft's first error line."""
        rc = self.lib.nft_run_cmd_from_buffer(self.ctx, commands.encode())
        out = (self.lib.nft_ctx_get_output_buffer(self.ctx) or b"").decode()
        if rc != 0:
            err = (self.lib.nft_ctx_get_error_buffer(self.ctx) or b"").decode().strip()
            if missing_ok and "No such file or directory" in err:
                return out  # `destroy` (delete if present) needs nft >= 1.0.8; this works on all
            raise KernelError(what, f"nftables refused it ({err.splitlines()[0] if err else rc})",
                              "run `labkit doctor`; the kernel may lack nf_tables or nat support")
        return out


_NFT: tuple[int, _Nft] | None = None
"""The context and the pid that made it: a context holds a netlink socket, which a forked
child must not share with its parent (and a detached supervisor closes what it inherited)."""


def nft(commands: str, what: str, missing_ok: bool = False) -> str:
    """Run nft commands through one in-process context per process."""
    global _NFT
    if _NFT is None or _NFT[0] != os.getpid():
        _NFT = (os.getpid(), _Nft())
    return _NFT[1].run(commands, what, missing_ok)


LOCALNET_CHAIN = "localnet"


_LOCALNET_HOOK = "type filter hook prerouting priority raw;"


def _localnet_rules(bridge: str) -> list[str]:
    """Nothing from or to 127.0.0.0/8 comes in on the bridge (at raw: before conntrack)."""
    return [f'iifname "{bridge}" ip {field} 127.0.0.0/8 drop' for field in ("saddr", "daddr")]


def table_rules(bridge: str, subnet: str) -> str:
    """The whole table of one network, as nft source (a lab can print it)."""
    key = "inet_proto . ipv4_addr . inet_service : ipv4_addr . inet_service"
    return f"""table ip {bridge} {{
  map ports {{ type {key}; }}
  map anyports {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
  chain prerouting {{ type nat hook prerouting priority dstnat;
    dnat ip to meta l4proto . ip daddr . th dport map @ports
    fib daddr type local dnat ip to meta l4proto . th dport map @anyports; }}
  chain output {{ type nat hook output priority -100;
    dnat ip to meta l4proto . ip daddr . th dport map @ports
    fib daddr type local dnat ip to meta l4proto . th dport map @anyports; }}
  chain postrouting {{ type nat hook postrouting priority srcnat;
    ip saddr {subnet} oifname != "{bridge}" masquerade
    oifname "{bridge}" ip saddr 127.0.0.0/8 masquerade; }}
  chain {LOCALNET_CHAIN} {{ {_LOCALNET_HOOK}
    {(chr(10) + "    ").join(_localnet_rules(bridge))}; }}
}}
"""


def create_table(bridge: str, subnet: str, kernel: Kernel = LINUX) -> None:
    """Install the network's table and let 127.0.0.1 be DNATed onto its bridge.

    The table goes in first, so its `localnet` chain already guards the bridge
    when route_localnet is turned on.
    """
    nft(table_rules(bridge, subnet), f"nftables table {bridge}")
    kernel.write_knob(f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet", "1")


def guard_localnet(bridge: str) -> None:
    """(Re)state the `localnet` chain: a network made by an older kit lacks it (idempotent)."""
    chain = f"ip {bridge} {LOCALNET_CHAIN}"
    nft("\n".join([f"add chain {chain} {{ {_LOCALNET_HOOK} }}", f"flush chain {chain}",
                   *(f"add rule {chain} {rule}" for rule in _localnet_rules(bridge))]),
        f"nftables chain {chain}")


def delete_table(bridge: str) -> None:
    """Remove the network's table and every rule and port in it (idempotent)."""
    nft(f"delete table ip {bridge}", f"nftables table {bridge}", missing_ok=True)


def tables() -> list[str]:
    """Names of the ip-family tables on this machine."""
    out = nft("list tables ip", "list nftables tables")
    return [line.split()[2] for line in out.splitlines() if line.startswith("table ip ")]


def _element(mapping: PortMapping, address: str) -> tuple[str, str]:
    target = f"{address} . {mapping.container_port}"
    if mapping.host_ip == "0.0.0.0":
        return "anyports", f"{mapping.proto} . {mapping.host_port} : {target}"
    return "ports", f"{mapping.proto} . {mapping.host_ip} . {mapping.host_port} : {target}"


def publish(bridge: str, mapping: PortMapping, address: str) -> None:
    """Forward host_ip:host_port to the container's address:container_port."""
    table, element = _element(mapping, address)
    nft(f"add element ip {bridge} {table} {{ {element} }}", f"publish port {mapping.host_port}")


def unpublish(bridge: str, mapping: PortMapping, address: str) -> None:
    """Stop forwarding the port (idempotent: deleting a missing element is fine)."""
    table, element = _element(mapping, address)
    key = element.split(" : ")[0]
    nft(f"delete element ip {bridge} {table} {{ {key} }}", f"unpublish port {mapping.host_port}",
        missing_ok=True)
