"""The battery's kernel-edge attempts (localnet, io-uring, dev-cgroup, log-fd): blocked in the
default runtime and with --userns, for the reason named; the naive runtime shows what they
guard; controls prove each detector sees a success when there is one."""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from typing import Iterator

import pytest

from kernel_helpers.audit import attempts_kernel, escapes
from kernel_helpers.audit.attempt import Context, Outcome
from kernel_helpers.audit.probe import run_inside
from kernel_helpers.cgroups.stage import CgroupStage, limits_from_options
from kernel_helpers.namespaces import Namespace
from kernel_helpers.net import ipam, networks
from kernel_helpers.net.stage import NetworkStage
from kernel_helpers.process import run_in_child
from kernel_helpers.runtime.run_options import spec_from_options
from kernel_helpers.security.hardening import Hardening, HardeningStage
from kernel_helpers.stage import Stage
from kernel_helpers.testing import labkit

pytestmark = pytest.mark.usefixtures("root", "readable_disk")

SPEC = spec_from_options(["/bin/true"])
MINE = [attempt.__name__ for attempt in attempts_kernel.ATTEMPTS]
BLOCKED_BECAUSE = {
    "localnet": "the network's nft table drops 127.0.0.0/8",
    "io-uring": "seccomp profile (EPERM)",
    "dev-cgroup": "mount refused: seccomp profile (EPERM)",
    "log-fd": "the supervisor relays output through a pipe",
}


@pytest.fixture
def network() -> Iterator[ipam.Network]:
    net = networks.create(f"t{os.urandom(3).hex()}")
    yield net
    networks.remove(net.name, force=True)


def _mine(ctx: Context) -> list[Outcome]:
    return [attempt(ctx) for attempt in attempts_kernel.ATTEMPTS]


def _run(hardening: Hardening, *stages: Stage, userns: bool = False,
         privileged_devices: bool = False) -> dict[str, Outcome]:
    spec = replace(SPEC, namespaces=SPEC.namespaces | {Namespace.USER}) if userns else SPEC
    all_stages = (CgroupStage(limits_from_options(privileged=privileged_devices)), *stages,
                  HardeningStage(hardening))
    outcomes = run_inside(_mine, spec, all_stages, escapes.context_for(all_stages))
    return {outcome.attempt: outcome for outcome in outcomes}


def test_the_attempts_are_in_the_battery() -> None:
    assert [a.__name__ for a in escapes.ATTEMPTS[-len(MINE):]] == MINE


@pytest.mark.parametrize("userns", [False, True], ids=["default", "userns"])
def test_blocked_in_the_default_runtime_and_with_userns(network: ipam.Network,
                                                        userns: bool) -> None:
    results = _run(Hardening(), NetworkStage(network.name), userns=userns)
    assert [o.line() for o in results.values() if o.escaped] == []
    for name, reason in BLOCKED_BECAUSE.items():
        assert reason in results[name].stopped_by, results[name].line()


def test_without_a_network_localnet_has_nothing_to_reach() -> None:
    outcome = _run(Hardening())["localnet"]
    assert not outcome.escaped and outcome.stopped_by == "net namespace without a network"


def test_the_naive_runtime_reaches_io_uring_and_the_disk() -> None:
    results = _run(Hardening.naive(), privileged_devices=True)
    assert results["io-uring"].escaped, results["io-uring"].line()
    assert results["dev-cgroup"].escaped, results["dev-cgroup"].line()
    assert not results["log-fd"].escaped  # the pipe is not a hardening switch


def test_seccomp_off_lets_io_uring_setup_through() -> None:
    assert _run(Hardening(seccomp=False))["io-uring"].escaped


def test_with_sys_admin_the_devices_cgroup_is_the_last_wall() -> None:
    """`--cap-add SYS_ADMIN` lets the container mount a tmpfs without nodev and make the
    host's disk there: opening it fails with EPERM from the devices cgroup, and succeeds
    once the cgroup allows every device (what --privileged gives)."""
    sys_admin = Hardening().with_caps(add=frozenset({"SYS_ADMIN"}))
    held = _run(sys_admin)["dev-cgroup"]
    assert not held.escaped and held.stopped_by == "devices cgroup (EPERM)", held.line()
    assert _run(sys_admin, privileged_devices=True)["dev-cgroup"].escaped


def _log_fd_with_stdout_on(path: str) -> Outcome:
    os.dup2(os.open(path, os.O_WRONLY | os.O_APPEND), 1)
    return attempts_kernel.attempt_log_fd(Context(0, 0))


def test_control_log_fd_sees_a_host_file_as_stdout() -> None:
    with tempfile.NamedTemporaryFile() as host_file:
        host_file.write(b"history\n")
        host_file.flush()
        outcome = run_in_child(_log_fd_with_stdout_on, host_file.name)
        assert outcome.escaped and host_file.name in outcome.detail
        assert open(host_file.name, "rb").read() == b"history\n"  # truncated to its own size


def test_labkit_escapes_with_a_network_counts_every_attempt(network: ipam.Network) -> None:
    result = labkit("escapes", "--network", network.name, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    total = len(escapes.ATTEMPTS) + len(escapes.HOST_SIDE)  # in-container and host-side attempts
    assert result.stdout.splitlines()[-1] == f"0 of {total} attempts escaped"
    assert "blocked  localnet      a SYN for the host's 127.0.0.1 got no answer" in result.stdout
