"""Networking on the real kernel: veth, bridge, published ports, names, overlay, no leaks."""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from typing import Iterator

import pytest

from kernel_helpers import cleanup, naming
from kernel_helpers.audit import attempts_kernel
from kernel_helpers.audit.attempt import Context
from kernel_helpers.audit.probe import run_inside
from kernel_helpers.net import diagram, ipam, nat, netdev, networks, overlay
from kernel_helpers.net.stage import NetworkStage
from kernel_helpers.process import run_in_child
from kernel_helpers.runtime.run_options import spec_from_options
from kernel_helpers.security.hardening import HardeningStage
from kernel_helpers.testing import labkit

pytestmark = pytest.mark.usefixtures("root")
LABKIT = [sys.executable, "-m", "kernel_helpers"]
PAGE = "echo served-by-$(hostname) > /tmp/index.html; exec httpd -f -p 80 -h /tmp"


@pytest.fixture
def network() -> Iterator[ipam.Network]:
    net = networks.create(f"t{os.urandom(3).hex()}")
    yield net
    networks.remove(net.name, force=True)


def serve(net: ipam.Network, name: str, *extra: str) -> subprocess.Popen[str]:
    """A web server container (busybox httpd) on `net`, once it holds its lease."""
    proc = subprocess.Popen([*LABKIT, "run", "--init", "--network", net.name, "--name", name,
                             "--hostname", name, *extra, "--", "/bin/sh", "-c", PAGE],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        lease = next((ip for ip, lease_ in ipam.load(net.name).leases.items() if name in lease_.names), None)
        if lease and _answers(f"http://{lease}/"):
            return proc
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the server container never answered")


def _answers(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=1) as reply:
            return reply.read().decode().strip()
    except OSError:
        return ""


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=15)


def address_of(net: ipam.Network, name: str) -> str:
    return next(ip for ip, lease_ in ipam.load(net.name).leases.items() if name in lease_.names)


def test_host_to_container_and_container_to_container_by_address_and_name(
        network: ipam.Network) -> None:
    web = serve(network, "web")
    try:
        ip = address_of(network, "web")
        assert _answers(f"http://{ip}/") == "served-by-web"  # host -> container over the bridge
        client = labkit("run", "--network", network.name, "--", "/bin/sh", "-c",
                        f"wget -q -O - http://{ip}/ && wget -q -O - http://web/ "
                        f"&& ping -c1 -W2 {network.gateway} >/dev/null && echo gw-ok")
        assert client.stdout.split() == ["served-by-web", "served-by-web", "gw-ok"], client.stderr
    finally:
        stop(web)


def test_names_do_not_resolve_across_networks(network: ipam.Network) -> None:
    """The name check can fail: on another network `web` is unknown."""
    web = serve(network, "web")
    other = networks.create(f"t{os.urandom(3).hex()}")
    try:
        result = labkit("run", "--network", other.name, "--", "/bin/sh", "-c",
                        "wget -q -T 2 -O - http://web/ || echo unresolved")
        assert result.stdout.strip().endswith("unresolved")
    finally:
        stop(web)
        networks.remove(other.name, force=True)


def test_a_published_port_answers_on_127_0_0_1_and_goes_away(network: ipam.Network) -> None:
    port = _free_port()
    web = serve(network, "pub", "-p", f"127.0.0.1:{port}:80")
    try:
        assert _answers(f"http://127.0.0.1:{port}/") == "served-by-pub"
        assert f"127.0.0.1 . {port}" in nat.nft(f"list map ip {network.bridge} ports", "test")
    finally:
        stop(web)
    assert _answers(f"http://127.0.0.1:{port}/") == ""
    assert f". {port} :" not in nat.nft(f"list map ip {network.bridge} ports", "test")


def _reach_host_loopback(port: int, gateway: str) -> dict[str, str]:
    """Inside a hardened container: a plain connect to the gateway, and a crafted SYN for
    the host's 127.0.0.1, both at the port a host service listens on (127.0.0.1 only)."""
    with socket.socket() as plain:
        plain.settimeout(2)
        try:
            plain.connect((gateway, port))
            via_gateway = "connected"
        except OSError as err:
            via_gateway = type(err).__name__
    return {"gateway": via_gateway,
            "raw": attempts_kernel.syn_to_host_loopback(Context(0, 0), port)}


@pytest.fixture
def loopback_service() -> Iterator[int]:
    """A host TCP service bound to 127.0.0.1 only, on a random port (the kernel answers SYNs)."""
    with socket.socket() as service:
        service.bind(("127.0.0.1", 0))
        service.listen()
        yield service.getsockname()[1]


def test_a_host_service_on_127_0_0_1_is_unreachable_from_a_container(
        network: ipam.Network, loopback_service: int) -> None:
    stages = (NetworkStage(network.name), HardeningStage())  # Docker's caps: NET_RAW kept
    seen = run_inside(_reach_host_loopback, spec_from_options(["/bin/true"]), stages,
                      loopback_service, network.gateway)
    assert seen == {"gateway": "ConnectionRefusedError", "raw": ""}


def _syn_from(ns: netdev.Netns, port: int) -> str:
    with netdev.inside(ns):
        return attempts_kernel.syn_to_host_loopback(Context(0, 0), port)


def test_the_localnet_chain_is_what_stops_the_crafted_syn(network: ipam.Network,
                                                          loopback_service: int) -> None:
    """A bare namespace on the bridge (no kit stage re-adds the chain): the same SYN is
    answered by the service once the chain is flushed, so the detector sees a reach, and
    a network made before the fix gets the chain back when a container next joins it."""
    ns, veth = netdev.Netns.new("localnet test"), naming.new_name()
    try:
        netdev.add_veth(veth, "eth0", peer_ns=ns, master=network.bridge)
        address = str(network.net.broadcast_address - 1)  # far from the leases
        netdev.configure(ns, "eth0", address, network.net.prefixlen, network.gateway)
        assert run_in_child(_syn_from, ns, loopback_service) == ""
        nat.nft(f"flush chain ip {network.bridge} {nat.LOCALNET_CHAIN}", "test")
        assert run_in_child(_syn_from, ns, loopback_service) == "SYN-ACK"
        with ipam.locked():
            networks.ensure(network.name)
        assert run_in_child(_syn_from, ns, loopback_service) == ""
    finally:
        netdev.delete_link(veth)
        ns.close()


def test_a_port_published_on_127_0_0_1_still_answers_with_the_localnet_guard(
        network: ipam.Network) -> None:
    port = _free_port()
    web = serve(network, "guarded", "-p", f"127.0.0.1:{port}:80")
    try:
        assert "127.0.0.0/8 drop" in nat.nft(f"list chain ip {network.bridge} localnet", "test")
        assert _answers(f"http://127.0.0.1:{port}/") == "served-by-guarded"
    finally:
        stop(web)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_twenty_concurrent_containers_get_distinct_addresses_and_leave_nothing(
        network: ipam.Network) -> None:
    procs = [subprocess.Popen([*LABKIT, "run", "--network", network.name, "--", "/bin/sh", "-c",
                               "ip -o -4 addr show eth0 | awk '{print $4}'; sleep 0.5"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(20)]
    outs = [proc.communicate(timeout=120) for proc in procs]
    addresses = [out.strip() for out, _ in outs]
    assert all(proc.returncode == 0 for proc in procs), [err for _, err in outs]
    assert len(set(addresses)) == 20 and all(a.endswith("/24") for a in addresses)
    assert all(ipaddress.ip_address(a.split("/")[0]) in network.net for a in addresses)
    assert ipam.load(network.name).leases == {}
    assert [n for n in netdev.link_names() if n.startswith("lk") and n != network.bridge
            and n not in {b.bridge for b in ipam.all_networks()}] == []
    assert [i for i in cleanup.leftovers() if i.kind in ("lease", "link", "nft table")] == []


@pytest.mark.parametrize("args, sentence", [
    (["--network", "nope"], "network 'nope': does not exist"),
    (["--network", "a/b"], "network name 'a/b': is not a valid name"),
    (["--ip", "10.1.2.3"], "address 10.1.2.3: is not a usable address of network"),
    (["-p", "127.0.0.1:99999:80"], "port '127.0.0.1:99999:80': ports must be from 1 to 65535"),
])
def test_bad_input_gets_one_sentence_and_changes_nothing(network: ipam.Network, args: list[str],
                                                         sentence: str) -> None:
    if "--ip" in args:
        args = ["--network", network.name, *args]
    before = (netdev.link_names(), ipam.load(network.name), nat.tables())
    result = labkit("run", *args, "--", "/bin/true")
    assert result.returncode == 2
    assert result.stderr.startswith(f"labkit: {sentence}") and result.stderr.count("\n") == 1
    assert (netdev.link_names(), ipam.load(network.name), nat.tables()) == before


def test_a_taken_port_is_refused(network: ipam.Network) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = labkit("run", "--network", network.name, "-p", f"127.0.0.1:{port}:80",
                        "--", "/bin/true")
    assert result.returncode == 2
    assert result.stderr == (f"labkit: port 127.0.0.1:{port}: is in use by a process on this "
                             "machine. Pick another host port, e.g. -p 127.0.0.1:8081:80.\n")
    assert ipam.load(network.name).leases == {}


def test_a_network_in_use_cannot_be_removed(network: ipam.Network) -> None:
    web = serve(network, "busy")
    try:
        result = labkit("network", "rm", network.name)
        assert result.returncode == 2 and "is used by 1 running container(s)" in result.stderr
    finally:
        stop(web)
    assert network.bridge in netdev.link_names()


def test_a_sigkilled_run_leaves_a_lease_and_a_veth_that_cleanup_removes(
        network: ipam.Network) -> None:
    web = serve(network, "doomed", "-p", f"127.0.0.1:{_free_port()}:80")
    container = ipam.load(network.name).leases[address_of(network, "doomed")].container
    web.kill()
    web.wait()  # not communicate(): the orphaned container still holds its stdout pipe
    kinds = {i.kind for i in cleanup.leftovers() if container in (i.name, i.where)}
    assert {"lease", "process"} <= kinds
    labkit("cleanup")
    web.communicate(timeout=10)  # the container is gone now, so its pipes close
    assert ipam.load(network.name).leases == {}
    assert "elements" not in nat.nft(f"list map ip {network.bridge} ports", "test")
    deadline = time.monotonic() + 5  # the kernel frees the veth with the dead namespace
    while container in netdev.link_names() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert container not in netdev.link_names()


def test_the_diagram_shows_the_bridge_and_each_members_eth0(network: ipam.Network) -> None:
    web = serve(network, "drawn")
    try:
        text = diagram.render_text(diagram.of_network(network.name))
        ip = address_of(network, "drawn")
        assert f"{network.bridge}   bridge   up   {network.gateway}/24" in text
        assert f"eth0         veth     up   {ip}/24" in text
        assert "<-> host:lk" in text and "on bridge " + network.bridge in text
    finally:
        stop(web)


def _echo_server(ns: netdev.Netns, address: str) -> socket.socket:
    with netdev.inside(ns):
        srv = socket.socket()
    srv.bind((address, 7007))
    srv.listen()

    def answer() -> None:
        conn, _ = srv.accept()
        with conn:
            conn.sendall(b"echo:" + conn.recv(64))
    threading.Thread(target=answer, daemon=True).start()
    return srv


def _talk(ns: netdev.Netns, address: str) -> bytes:
    with netdev.inside(ns):
        client = socket.socket()
    with client:
        client.settimeout(2)
        client.connect((address, 7007))
        client.sendall(b"hi")
        return client.recv(64)


def test_the_vxlan_overlay_carries_traffic_between_two_simulated_hosts() -> None:
    before = netdev.link_names()
    with overlay.simulate() as lab:
        a, b = lab.hosts
        (a1, _), (b1, b1_ip) = a.containers["a1"], b.containers["b1"]
        srv = _echo_server(b1, b1_ip)
        assert _talk(a1, b1_ip) == b"echo:hi"
        drawn = diagram.render_text(diagram.snapshot(lab.namespaces()))
        assert f"{a.vxlan}" in drawn and f"on bridge {a.bridge}" in drawn
        netdev.delete_link(a.vxlan, a.ns)  # without the tunnel, the other side is unreachable
        with pytest.raises(OSError):
            _talk(a1, b1_ip)
        srv.close()
    assert netdev.link_names() == before  # nothing of it was ever in the host's namespace


def test_netlink_works_while_an_event_loop_runs_as_in_a_notebook() -> None:
    import asyncio

    async def cell() -> list[str]:  # a notebook cell runs inside ipykernel's running loop
        return netdev.link_names()
    assert "lo" in asyncio.run(cell())
