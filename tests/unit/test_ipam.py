"""IPAM without root: allocation, validation, persistence and concurrent leases."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import pytest

from kernel_helpers import naming
from kernel_helpers.errors import InvalidValue, NameTaken, NotFound
from kernel_helpers.net import ipam, names, nat


@pytest.fixture(autouse=True)
def state_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(naming, "STATE_ROOT", tmp_path)
    return tmp_path


def saved(name: str = "n1", subnet: str = "10.9.0.0/29") -> ipam.Network:
    with ipam.locked():
        network = ipam.new_network(name, subnet)
        ipam.save(network)
    return network


def test_leases_are_the_lowest_free_addresses_and_never_the_gateway() -> None:
    network = saved()
    got = [ipam.lease(network, f"c{i}", os.getpid()) for i in range(5)]
    assert network.gateway == "10.9.0.1"
    assert got == ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"]
    with pytest.raises(NameTaken, match="no free address left"):
        ipam.lease(network, "c5", os.getpid())
    assert ipam.release(network, "c1") is not None
    assert ipam.lease(network, "c6", os.getpid()) == "10.9.0.3"  # released means reusable


@pytest.mark.parametrize("address, error, text", [
    ("10.8.0.5", InvalidValue, "not a usable address of network 'n1' \\(10.9.0.0/29\\)"),
    ("10.9.0.1", InvalidValue, "not a usable address"),     # the gateway
    ("10.9.0.7", InvalidValue, "not a usable address"),     # broadcast
    ("10.9.0.x", InvalidValue, "not an IPv4 address"),
])
def test_a_requested_address_outside_the_subnet_is_refused(address: str, error: type,
                                                           text: str) -> None:
    network = saved()
    with pytest.raises(error, match=text):
        ipam.lease(network, "c", os.getpid(), address=address)
    assert network.leases == {}


def test_a_requested_address_is_given_once() -> None:
    network = saved()
    assert ipam.lease(network, "a", os.getpid(), address="10.9.0.5") == "10.9.0.5"
    with pytest.raises(NameTaken, match="already leased to container a"):
        ipam.lease(network, "b", os.getpid(), address="10.9.0.5")


@pytest.mark.parametrize("name", ["a/b", "../etc", "", "-x", ".hidden", "front\n", "a b"])
def test_bad_network_names_get_one_sentence(name: str) -> None:
    with pytest.raises(InvalidValue) as err:
        ipam.check_name(name)
    assert str(err.value).startswith(f"network name {name!r}: is not a valid name. Use ")
    assert "\n" not in str(err.value)


def test_network_names_follow_dockers_pattern_up_to_32_characters() -> None:
    assert ipam.check_name("Front-end_1.a") == "Front-end_1.a"
    with pytest.raises(InvalidValue, match="is longer than 32 characters"):
        ipam.check_name("x" * 33)


def test_missing_network_and_overlapping_subnet() -> None:
    with pytest.raises(NotFound, match="network 'nope': does not exist"):
        ipam.load("nope")
    saved("n1", "10.9.0.0/24")
    with ipam.locked(), pytest.raises(NameTaken, match="overlaps 10.9.0.0/24"):
        ipam.new_network("n2", "10.9.0.128/25")
    with ipam.locked():  # automatic subnets skip taken ones, including host routes
        assert ipam.new_network("n3", avoid=["10.200.0.0/23"]).subnet == "10.200.2.0/24"


def _take_one(root: str, container: str) -> str:
    naming.STATE_ROOT = Path(root)
    with ipam.locked():
        network = ipam.load("n1")
        address = ipam.lease(network, container, os.getpid())
        ipam.save(network)
    return address


def test_twenty_concurrent_processes_get_twenty_distinct_addresses(state_root: Path) -> None:
    saved("n1", "10.9.0.0/24")
    with multiprocessing.get_context("fork").Pool(20) as pool:
        got = pool.starmap(_take_one, [(str(state_root), f"c{i}") for i in range(20)])
    assert len(set(got)) == 20
    assert sorted(ipam.load("n1").leases) == sorted(got)  # none lost to a racing write


def test_the_lock_is_what_makes_it_safe(state_root: Path) -> None:
    """Without the lock, read-modify-write races lose leases or double-book: the check can fail."""
    saved("n1", "10.9.0.0/24")
    original = ipam.locked
    try:
        ipam.locked = _no_lock  # type: ignore[assignment]
        results = set()
        for _ in range(10):
            if False in results:
                break
            with multiprocessing.get_context("fork").Pool(20) as pool:
                got = pool.starmap(_take_one, [(str(state_root), f"c{i}") for i in range(20)])
            results.add(len(set(got)) == 20 and len(ipam.load("n1").leases) == 20)
            with original():
                network = ipam.load("n1")
                network.leases.clear()
                ipam.save(network)
        assert False in results
    finally:
        ipam.locked = original  # type: ignore[assignment]


def _no_lock():  # type: ignore[no-untyped-def]
    import contextlib
    return contextlib.nullcontext()


def test_hosts_file_lists_every_lease_with_its_names() -> None:
    network = saved()
    ipam.lease(network, "lk00000001", os.getpid(), names=["web", "web"])
    ipam.lease(network, "lk00000002", os.getpid())
    assert names.hosts_text(network).splitlines()[2:] == ["10.9.0.2\tlk00000001 web",
                                                          "10.9.0.3\tlk00000002"]


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:8080:80", nat.PortMapping("127.0.0.1", 8080, 80)),
    ("8080:80/udp", nat.PortMapping("0.0.0.0", 8080, 80, "udp")),
])
def test_port_mappings_parse(text: str, expected: nat.PortMapping) -> None:
    assert nat.parse_port(text) == expected
    assert nat.PortMapping.from_record(str(expected)) == expected


@pytest.mark.parametrize("text", ["80", "a:1:2", "1.2.3.999:80:80", "0:80", "8080:80/sctp"])
def test_bad_port_mappings_name_the_valid_form(text: str) -> None:
    with pytest.raises(InvalidValue, match="e.g. 127.0.0.1:8080:80"):
        nat.parse_port(text)
