"""Lab 07 judged from the host: the container's own network namespace, cabled to its runtime.

Wrong runtimes fail the case they are meant to fail with a sentence naming the mistake;
correct runtimes written differently pass; the reference passes three times in a row. The
judge starts every runtime in a network namespace it made, so nothing here ever touches the
machine's own interfaces: the fixture compares `ip -o link` of the machine before and after.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kernel_helpers.course.harness.cases import lab07
from kernel_helpers.course.runtime_check import KIT_ROOT, judge
from kernel_helpers.course.standins import reference_slot
from kernel_helpers.naming import is_ours
from runtime_variants import failed_case, statuses, runtime_file
from variants_lab07 import BY_STEP, RIGHT as RIGHT_07

WRONG = [(slot, case, name, code) for slot, cases in BY_STEP.values()
         for case, variants in cases.items() for name, code in variants.items()]

EXPECTED_WORDS = {
    "unshares the network namespace in the parent after fork":
        "shares its runtime's network namespace",
    "leaves the runtime's end down": "the runtime's end of the veth is down",
    "no address on the runtime's end": "the runtime's end of the veth has no address",
    "the gateway as a /32": "spec.gateway with another prefix length",
    "the container's address on the runtime's end": "another address than spec.gateway",
    "names the runtime's end without the run prefix": "not named from spec.run_prefix",
    "moves its own end instead of the peer": "one moved away by link_set_netns is gone",
    "moves the peer into the runtime's own namespace": "the peer the parent moved in",
    "moves the peer to pid 1, the container's pid inside":
        "moved an interface into the machine's own network namespace",
    "puts its end on a bridge it never removes":
        "still holds a bridge named from the run prefix",
    "leaves eth0 down": "eth0 is down in the container",
    "leaves lo down": "lo is down in the container",
    "keeps the peer's name": "not named eth0",
    "a fixed address": "eth0's address is not the spec.address",
    "the container's address on the runtime's end only":
        "the container's address is on the runtime's end",
    "no default route": "the container has no default route",
    "a gateway assumed to be the subnet's .1": "via the subnet's first address (this run's",
    "the route before eth0 is up": "the gateway is on no subnet of an interface that is up",
}


def _machine() -> tuple[list[str], int]:
    """The machine's own interfaces (name and flags) and its mount count. Links of the kit's own
    `labkit run` (lk + 8 hex, naming.is_ours) are left out: other tests may run meanwhile; this
    lab's run prefixes (lkg, lkn..) and names like veth123 never match that."""
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True,
                           check=True).stdout
    names = [line.split("link/")[0].split(": ", 2)[1:] for line in links.splitlines()]
    with open("/proc/self/mountinfo") as f:
        return (sorted(" ".join(n) for n in names if not is_ours(n[0].split("@")[0])),
                len(f.readlines()))


@pytest.fixture(autouse=True)
def _machine_untouched(root: None) -> None:
    """No veth (nor anything else) appears in, or goes from, the machine's own namespace."""
    before = _machine()
    yield
    assert _machine() == before


def test_reference_passes_three_times(tmp_path: Path) -> None:
    path = runtime_file(tmp_path)
    for _ in range(3):
        verdict = judge(path, "07", "own")
        assert statuses(verdict) == ["pass"] * len(verdict["cases"]), verdict
        assert verdict["notes"] == []
        assert {c["case"] for c in verdict["cases"]} == {c.id for c in lab07.CASES}


@pytest.mark.parametrize("slot,case,name,code", WRONG, ids=[w[2] for w in WRONG])
def test_wrong_variant_fails_its_case(tmp_path: Path, slot: str, case: str, name: str,
                                      code: str | dict[str, str]) -> None:
    path = runtime_file(tmp_path, **(code if isinstance(code, dict) else {slot: code}))
    first = failed_case(path, "07", case, name)
    if name in EXPECTED_WORDS:
        assert EXPECTED_WORDS[name] in first["message"], (name, first["message"])


RIGHT = [(name, {slot: code}) for slot, table in RIGHT_07.items() for name, code in table.items()]


@pytest.mark.parametrize("name,slots", RIGHT, ids=[r[0] for r in RIGHT])
def test_correct_alternates_pass(tmp_path: Path, name: str, slots: dict[str, str]) -> None:
    verdict = judge(runtime_file(tmp_path, **slots), "07", "own")
    assert statuses(verdict) == ["pass"] * len(verdict["cases"]), (name, verdict)


def test_every_run_asks_for_another_network() -> None:
    """Address, prefix length, gateway (never the subnet's .1) and run prefix vary per run."""
    import ipaddress
    asked = [lab07._network_asked() for _ in range(40)]
    assert len({a["address"] for a in asked}) > 30
    assert len({a["address"].split("/")[1] for a in asked}) > 1
    for one in asked:
        iface = ipaddress.IPv4Interface(one["address"])
        gateway = ipaddress.IPv4Address(one["gateway"])
        assert gateway in iface.network and gateway != iface.ip
        assert gateway != next(iface.network.hosts())
        assert iface.ip not in (iface.network.network_address, iface.network.broadcast_address)
        assert len(f"{one['run_prefix']}4194304c") <= 15  # the longest pid, IFNAMSIZ


def test_lab07_piece_passes_through_named_stand_ins(tmp_path: Path) -> None:
    """Labs 01 to 04 unsolved: lab 07's own slots still pass, and the notes say which stood in."""
    path = runtime_file(tmp_path, base="template", connect=reference_slot("connect"),
                        configure_net=reference_slot("configure_net"))
    piece = judge(path, "07", "piece")
    assert statuses(piece) == ["pass"] * len(piece["cases"]), piece
    assert any(note.startswith("stand-in used for run (lab 01)") for note in piece["notes"])
    assert "fail" in statuses(judge(path, "07", "own", "interfaces"))


def test_a_run_without_the_new_calls_gets_a_stand_in(tmp_path: Path) -> None:
    """A run as of lab 06 never calls connect: the reference run stands in, and the learner's
    own runtime gives the container no network of its own."""
    path = runtime_file(tmp_path, run=reference_slot("run", as_of_lab=6))
    piece = judge(path, "07", "piece")
    assert statuses(piece) == ["pass"] * len(piece["cases"]), piece
    assert "stand-in used for run (lab 01): yours does not call" in piece["notes"][0]
    own = judge(path, "07", "own", "own-netns")["cases"][0]
    assert own["status"] == "fail" and "shares its runtime's network namespace" in own["message"]


def test_cli_ip_reaches_the_spec(tmp_path: Path) -> None:
    """`python myruntime.py run --ip` as a learner types it, on busybox, in a network namespace
    made for the test (never the machine's): eth0 has the address, the route goes via .1."""
    path = runtime_file(tmp_path)
    done = subprocess.run(
        ["unshare", "--net", sys.executable, str(path), "run", "--rootfs", "busybox", "--ip",
         "10.77.3.9/20", "--", "/bin/sh", "-c",
         "cat /proc/net/route | grep -c '^eth0'; ping -c 1 -W 2 10.77.0.1 >/dev/null && echo ok"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=KIT_ROOT))
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "ok"]


def test_cli_refuses_an_address_without_its_prefix(tmp_path: Path) -> None:
    path = runtime_file(tmp_path)
    done = subprocess.run([sys.executable, str(path), "run", "--ip", "10.77.3.9", "--", "true"],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=KIT_ROOT))
    assert done.returncode == 2 and "use e.g. 10.22.0.5/24" in done.stderr


def test_earlier_labs_keep_the_runtime_network(tmp_path: Path) -> None:
    """Without spec.address, the container stays in its runtime's network namespace (labs
    01-06 behave as before)."""
    path = runtime_file(tmp_path)
    done = subprocess.run(["unshare", "--net", "/bin/sh", "-c", 'readlink /proc/self/ns/net; '
                           f'exec "$0" {path} run -- readlink /proc/self/ns/net', sys.executable],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PYTHONPATH=KIT_ROOT))
    assert done.returncode == 0, done.stderr
    runtime, container = done.stdout.split()
    assert container == runtime


def _wrapper_errors() -> list[tuple[str, bool, str]]:
    """In a child's own network namespace: each verb's mistake, as the learner sees it."""
    from kernel_helpers import learn as lk
    from kernel_helpers.namespaces import Namespace, unshare
    unshare({Namespace.NET})
    found = []
    for call in (lambda: lk.veth_add("a-name-of-16-chr", "p"),
                 lambda: lk.link_up("eth0"),
                 lambda: lk.addr_add("lo", "10.1.2.3"),
                 lambda: lk.route_add_default("10.1.2.1")):
        try:
            call()
            found.append(("", False, "no error"))
        except OSError as err:
            found.append((type(err).__name__, isinstance(err, lk.SyscallError), str(err)))
    lk.veth_add("lkt0", "lkt0c")
    lk.link_rename("lkt0c", "eth0")
    lk.addr_add("eth0", "10.1.2.3/24")
    lk.link_up("lkt0")
    lk.link_up("eth0")
    lk.route_add_default("10.1.2.1")
    found.append(("names", True, " ".join(lk.link_names())))
    return found


def test_netlink_verbs_raise_oserrors_with_a_hint(root: None) -> None:
    from kernel_helpers.process import run_in_child
    found = run_in_child(_wrapper_errors, timeout=20)
    assert [ours for _, ours, _ in found] == [True] * 5
    assert "at most 15 bytes" in found[0][2]
    assert "ENODEV" in found[1][2] and "link_names() lists what is here" in found[1][2]
    assert "with its prefix length" in found[2][2]
    assert "ENETUNREACH" in found[3][2] and "is up" in found[3][2]
    assert found[4][2] == "eth0 lkt0 lo"
