"""IP address management: networks and leases in files, changed only under one lock.

Each network is a JSON file under STATE_ROOT/net/<name>/network.json holding
its subnet, its bridge and its leases (address -> container). Every change
happens while holding an flock(2) on STATE_ROOT/net/.lock and is written with
an atomic rename, so concurrent `labkit run`s never get the same address and a
crash never leaves half a file. A lease records its owner's pid and start
time, so the sweeper can tell a live lease from one a killed run left.

Taught in: lab 07.
"""

from __future__ import annotations

import ipaddress
import json
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from kernel_helpers import naming, validate
from kernel_helpers.errors import InvalidValue, NameTaken, NotFound
from kernel_helpers.files import READABLE, flocked, write_atomic
from kernel_helpers.process import same_process, start_time

NETWORK_FILE = "network.json"
DEFAULT_NETWORK = "default"
"""Created on first use, like Docker's docker0 bridge."""
SUBNET_POOL = ipaddress.IPv4Network("10.200.0.0/16")
"""Where automatic /24 subnets come from."""
def net_root() -> Path:
    """Where network records live (follows LABKIT_STATE_ROOT)."""
    return naming.STATE_ROOT / "net"


@dataclass
class Lease:
    """One address handed to one container."""

    container: str
    owner_pid: int
    owner_start: int
    names: list[str] = field(default_factory=list)
    """Names besides the id that resolve to it (--name, --hostname)."""
    ports: list[str] = field(default_factory=list)
    """Published ports, "proto:host_ip:host_port:container_port"."""

    def alive(self) -> bool:
        """True while the process that took the lease still runs."""
        return same_process(self.owner_pid, self.owner_start)


@dataclass
class Network:
    """A bridge, its subnet and who holds which address."""

    name: str
    subnet: str
    bridge: str
    created: float = field(default_factory=time.time)
    leases: dict[str, Lease] = field(default_factory=dict)

    @property
    def net(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)

    @property
    def gateway(self) -> str:
        """The bridge's own address: the first host address."""
        return str(self.net.network_address + 1)

    @property
    def directory(self) -> Path:
        return net_root() / self.name

    def lease_of(self, container: str) -> tuple[str, Lease] | None:
        return next(((ip, lease) for ip, lease in self.leases.items()
                     if lease.container == container), None)


@contextmanager
def locked() -> Iterator[None]:
    """Hold the one IPAM lock (flock: released by the kernel even on SIGKILL)."""
    with flocked(net_root() / ".lock"):
        yield


def check_name(name: str) -> str:
    """A network name becomes a directory name, so it must be plain (`validate.network_name`)."""
    return validate.network_name(name)


def load(name: str) -> Network:
    """Read one network, or say clearly that it does not exist."""
    path = net_root() / check_name(name) / NETWORK_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFound(f"network '{name}'", "does not exist",
                       f"create it with `labkit network create {name}` "
                       "or see them with `labkit network ls`") from None
    data["leases"] = {ip: Lease(**lease) for ip, lease in data["leases"].items()}
    return Network(**data)


def save(network: Network) -> None:
    """Write atomically; callers hold `locked()`."""
    network.directory.mkdir(parents=True, exist_ok=True)
    write_atomic(network.directory / NETWORK_FILE, json.dumps(asdict(network), indent=1),
                 READABLE)


def all_networks() -> list[Network]:
    """Every network with a readable record, by name."""
    root = net_root()
    names = sorted(p.parent.name for p in root.glob(f"*/{NETWORK_FILE}")) if root.is_dir() else []
    return [load(name) for name in names]


def parse_subnet(text: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.IPv4Network(text, strict=True)
    except ValueError:
        raise InvalidValue(f"subnet '{text}'", "is not an IPv4 network",
                           "give it as address/prefix with the host bits zero, e.g. 10.201.0.0/24") from None
    if not 16 <= net.prefixlen <= 29:
        raise InvalidValue(f"subnet '{text}'", "must be between a /16 and a /29",
                           "use e.g. 10.201.0.0/24")
    return net


def new_network(name: str, subnet: str | None = None,
                avoid: Iterable[str] = ()) -> Network:
    """Plan a network (callers hold `locked()` and save it once its bridge exists).

    Args:
        avoid: subnets already routed on this machine (the host's own routes).
    """
    check_name(name)
    if (net_root() / name / NETWORK_FILE).exists():
        raise NameTaken(f"network '{name}'", "already exists",
                        f"use it with --network {name}, or pick another name")
    taken = [ipaddress.IPv4Network(s, strict=False) for s in avoid]
    taken += [n.net for n in all_networks()]
    net: ipaddress.IPv4Network | None
    if subnet is not None:
        net = parse_subnet(subnet)
        clash = next((t for t in taken if net.overlaps(t)), None)
        if clash is not None:
            raise NameTaken(f"subnet {net}", f"overlaps {clash}, which is already in use",
                            "pick a subnet that overlaps no other network or host route")
    else:
        net = next((n for n in SUBNET_POOL.subnets(new_prefix=24)
                    if not any(n.overlaps(t) for t in taken)), None)
        if net is None:
            raise NameTaken(f"subnet pool {SUBNET_POOL}", "has no free /24 left",
                            "remove unused networks with `labkit network rm NAME`")
    return Network(name=name, subnet=str(net), bridge=naming.new_name())


def lease(network: Network, container: str, owner_pid: int, names: list[str] | None = None,
          address: str | None = None, ports: list[str] | None = None) -> str:
    """Give `container` an address (the lowest free, or the one asked for); callers save."""
    net = network.net
    reserved = {str(net.network_address), network.gateway, str(net.broadcast_address)}
    if address is not None:
        try:
            wanted = ipaddress.IPv4Address(address)
        except ValueError:
            raise InvalidValue(f"address '{address}'", "is not an IPv4 address",
                               f"give one inside {net}, e.g. {net.network_address + 10}") from None
        if wanted not in net or str(wanted) in reserved:
            raise InvalidValue(f"address {address}", f"is not a usable address of network "
                               f"'{network.name}' ({net})",
                               f"pick one from {net.network_address + 2} to {net.broadcast_address - 1}")
        if str(wanted) in network.leases:
            raise NameTaken(f"address {address}", "is already leased to container "
                            f"{network.leases[address].container}", "pick another address")
        chosen = str(wanted)
    else:
        chosen = next((str(ip) for ip in net.hosts()
                       if str(ip) not in reserved and str(ip) not in network.leases), "")
        if not chosen:
            raise NameTaken(f"network '{network.name}'", f"has no free address left in {net}",
                            "stop a container on it, or create a network with a bigger subnet")
    network.leases[chosen] = Lease(container, owner_pid, start_time(owner_pid), list(names or []),
                                   list(ports or []))
    return chosen


def release(network: Network, container: str) -> Lease | None:
    """Drop `container`'s lease (idempotent); callers save."""
    found = network.lease_of(container)
    if found is None:
        return None
    return network.leases.pop(found[0])
