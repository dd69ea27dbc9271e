"""Escape attempts at the seams around a container: exec, the terminal, --init, names, root.

The battery in `escapes` runs as the container's PID 1. These run from the host
side, because what they test is the kit's own code around the container: what
`labkit exec` hands the container, whose terminal a foreground container holds,
what `--init` shows in /proc/1, which names and limits the kit accepts, and
whether a non-root user gets past the root check. Each one drives the real
runtime with the spec and stages `labkit escapes` was given, and is blocked
in the default runtime, with --userns and with --privileged alike: none of
these is a defence `--privileged` is meant to turn off.

Taught in: lab 08.
"""

from __future__ import annotations

import fcntl
import os
import pty
import subprocess
import sys
import tempfile
import termios
import tty
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, Callable

import kernel_helpers
from kernel_helpers import validate
from kernel_helpers.audit.attempt import Outcome
from kernel_helpers.errors import InvalidValue, NotRoot
from kernel_helpers.process import run_in_child
from kernel_helpers.spec import ContainerSpec
from kernel_helpers.stage import LaunchContext, Stage

STATUS_FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")
"""The lines of /proc/PID/status that say how much a process may do."""
STRAY_FD = 9
"""The fd the caller holds open (a host file) while it runs `labkit exec`."""
INJECTED = "echo lk-injected\n"
"""What the container types with TIOCSTI: a command the admin's shell would run."""
NOBODY = 65534


def privileges(status: str) -> dict[str, str]:
    """The STATUS_FIELDS of a /proc/PID/status text."""
    found = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in STATUS_FIELDS:
            found[key] = value.strip()
    return found


def more_than(exec_status: str, pid1_status: str) -> list[str]:
    """What the exec'd process may do that the container's PID 1 may not, one item per field."""
    mine, theirs = privileges(exec_status), privileges(pid1_status)
    extra = [f"{key} {mine.get(key)} (PID 1: {theirs.get(key)})"
             for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")
             if int(mine.get(key, "0"), 16) & ~int(theirs.get(key, "0"), 16)]
    extra += [f"{key} {mine.get(key)} (PID 1: {theirs.get(key)})"
              for key in ("NoNewPrivs", "Seccomp") if mine.get(key, "0") < theirs.get(key, "0")]
    return extra


def _running(spec: ContainerSpec, stages: tuple[Stage, ...]) -> str:
    from kernel_helpers.runtime.detach import run_detached
    return run_detached(replace(spec, command=("/bin/sleep", "60"), init=False), stages)


def _exec_output(container: str, command: list[str]) -> tuple[int, str]:
    """`labkit exec` as a caller with a stray host fd open; (exit code, output)."""
    from kernel_helpers.runtime.exec import exec_in
    from kernel_helpers.state import find

    def caller() -> tuple[int, str]:
        with tempfile.TemporaryFile() as out:
            os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
            os.dup2(out.fileno(), 1)
            os.dup2(os.open("/etc/hostname", os.O_RDONLY), STRAY_FD)  # inheritable on purpose
            code = exec_in(find(container), command)
            out.seek(0)
            return code, out.read().decode(errors="replace")
    return run_in_child(caller, timeout=60)


def _with_container(spec: ContainerSpec, stages: tuple[Stage, ...],
                    probe: Callable[[str], Outcome]) -> Outcome:
    from kernel_helpers.runtime.manage import remove
    container = _running(spec, stages)
    try:
        return probe(container)
    finally:
        remove(container, force=True)


def attempt_exec_privileges(spec: ContainerSpec, stages: tuple[Stage, ...]) -> Outcome:
    """`labkit exec` into the container: does the new process get more than PID 1 has?"""
    def probe(container: str) -> Outcome:
        _, text = _exec_output(container, ["/bin/sh", "-c", "cat /proc/self/status; echo ===; "
                                                           "cat /proc/1/status"])
        mine, _, pid1 = text.partition("===\n")
        extra = more_than(mine, pid1)
        if extra:
            return Outcome("exec-privs", True, "the exec'd process has " + "; ".join(extra))
        return Outcome("exec-privs", False, "the exec'd process has what PID 1 has, no more",
                       "exec applies PID 1's recorded hardening")
    return _with_container(spec, stages, probe)


def attempt_exec_fds(spec: ContainerSpec, stages: tuple[Stage, ...]) -> Outcome:
    """The caller of `labkit exec` holds a host file open: can the exec'd process read it?"""
    def probe(container: str) -> Outcome:
        _, text = _exec_output(container, ["/bin/sh", "-c",
                                           f"test -e /proc/$$/fd/{STRAY_FD} && echo inherited"])
        if "inherited" in text:
            return Outcome("exec-fds", True, f"the exec'd process holds the caller's fd {STRAY_FD} "
                           "(a host file)")
        return Outcome("exec-fds", False, "only stdin, stdout and stderr reached the exec'd process",
                       "exec closes every other fd")
    return _with_container(spec, stages, probe)


class _TypeIntoTerminal(Stage):
    """As the container's last step: TIOCSTI INJECTED into its stdin, then exit."""

    def inside(self, ctx: LaunchContext) -> None:
        for char in INJECTED.encode():
            try:
                fcntl.ioctl(0, termios.TIOCSTI, bytes([char]))
            except OSError:
                break
        os._exit(0)


def _foreground_on_a_terminal(spec: ContainerSpec, stages: tuple[Stage, ...]) -> str:
    """Run the container in the foreground of a fresh terminal; what was typed into it after."""
    from kernel_helpers.runtime.foreground import run
    controller, terminal = pty.openpty()  # controller stays open: closing it hangs us up
    os.setsid()
    fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)  # the admin's terminal, as a login gives it
    for fd in (0, 1, 2):
        os.dup2(terminal, fd)
    run(spec, (*stages, _TypeIntoTerminal()))
    tty.setraw(terminal, termios.TCSANOW)  # TCSAFLUSH (the default) would drop what was typed
    os.set_blocking(terminal, False)
    try:
        return os.read(terminal, 4096).decode(errors="replace")  # the admin's shell reads here
    except BlockingIOError:
        return ""


def attempt_tiocsti(spec: ContainerSpec, stages: tuple[Stage, ...]) -> Outcome:
    """From a foreground container, type a command into the admin's terminal (TIOCSTI)."""
    typed = run_in_child(_foreground_on_a_terminal, spec, stages, timeout=60)
    if INJECTED.strip() in typed:
        return Outcome("tiocsti", True, f"typed {INJECTED.strip()!r} into the caller's terminal")
    return Outcome("tiocsti", False, "the caller's terminal got nothing",
                   "a session of its own and a pty the kit relays")


def _own(name: str) -> set[str]:
    with open(f"/proc/self/{name}", "rb") as f:
        return set(f.read().decode(errors="replace").split("\0"))


def attempt_init_environ(spec: ContainerSpec, stages: tuple[Stage, ...]) -> Outcome:
    """With --init, read /proc/1/environ and cmdline: the admin's environment and command line?"""
    from kernel_helpers.runtime.foreground import run_captured
    _, text = run_captured(replace(spec, init=True, command=(
        "/bin/sh", "-c", "tr '\\0' '\\n' < /proc/1/environ; tr '\\0' '\\n' < /proc/1/cmdline")),
        stages)
    ours = _own("environ") | _own("cmdline")
    theirs = {f"{key}={value}" for key, value in spec.env}
    leaked = sorted(line for line in set(text.splitlines()) - theirs if line in ours and line)
    if leaked:
        return Outcome("init-environ", True, f"PID 1 shows the caller's {leaked[0].split('=')[0]!r}"
                       f" and {len(leaked) - 1} more")
    return Outcome("init-environ", False, "PID 1 shows only labkit-init and the container's "
                   "environment", "a clean argv and environment for the init")


BAD_NAMES = (("container", "web\n10.6.6.6 mail"), ("container", "a/../b"),
             ("network", "../../etc"), ("network", "lan\n"), ("image", "../../etc/passwd"),
             ("image", "/abs/path"), ("image", "busybox\n"), ("image", "a..b"))
"""Names that would add /etc/hosts lines or reach other folders."""


def attempt_names(spec: ContainerSpec, stages: tuple[Stage, ...]) -> Outcome:
    """Names with a newline, `..` or `/`: an extra /etc/hosts line, or a folder elsewhere."""
    from kernel_helpers.images.store import normalize_ref
    from kernel_helpers.net.ipam import check_name
    check = {"container": validate.container_name, "network": check_name, "image": normalize_ref}
    return _all_refused("names", {f"{kind} {name!r}": partial(check[kind], name)
                                  for kind, name in BAD_NAMES}, "Docker's name and reference grammar")


BAD_LIMITS: tuple[dict[str, Any], ...] = (
    {"memory": "0"}, {"memory": "1"}, {"pids_limit": "0"}, {"cpus": "4096"}, {"cpuset_cpus": "4095"},
    {"memory": "-1"})
"""Limits that would not limit anything, or name CPUs that do not exist."""


def attempt_limits(spec: ContainerSpec, stages: tuple[Stage, ...]) -> Outcome:
    """Limits that cannot hold: a zero pids limit, memory of one byte, CPUs that do not exist."""
    from kernel_helpers.cgroups.stage import limits_from_options
    return _all_refused("limits", {str(options): partial(limits_from_options, **options)
                                   for options in BAD_LIMITS}, "one check per option")


def _all_refused(attempt: str, tries: dict[str, Callable[[], object]], stopped_by: str) -> Outcome:
    """ESCAPED if any of `tries` is accepted (raises no InvalidValue): they should all be refused."""
    accepted = []
    for label, attempt_one in tries.items():
        try:
            attempt_one()
            accepted.append(label)
        except InvalidValue:
            pass
    if accepted:
        return Outcome(attempt, True, "accepted " + ", ".join(accepted))
    return Outcome(attempt, False, f"all {len(tries)} refused", stopped_by)


def _as_nobody(argv: list[str]) -> tuple[int, str]:
    """Run the `labkit` command line as uid and gid 65534, no groups; (exit code, stderr)."""
    source = str(Path(kernel_helpers.__file__).resolve().parents[1])
    result = subprocess.run(["setpriv", "--reuid", str(NOBODY), "--regid", str(NOBODY),
                             "--clear-groups", sys.executable, "-m", "kernel_helpers", *argv],
                            capture_output=True, text=True, timeout=30, check=False, cwd="/",
                            env={**os.environ, "PYTHONPATH": source})
    return result.returncode, result.stderr


def attempt_not_root(spec: ContainerSpec, stages: tuple[Stage, ...]) -> Outcome:
    """A local user without sudo runs `labkit`: does it get past the root check to the state?"""
    got_past = []
    for argv in (["run", "--", "/bin/true"], ["exec", "web", "--", "ps"], ["ps"], ["image", "ls"]):
        code, err = _as_nobody(argv)
        if code != 2 or "which need root" not in err:
            got_past.append(f"`labkit {argv[0]}`: {err.strip()[-80:] or f'exit {code}'}")
    if got_past:
        return Outcome("not-root", True, "; ".join(got_past))
    return Outcome("not-root", False, "every command stopped at the root check",
                   NotRoot.__name__ + " before any state is read")


HOST_SIDE = (attempt_exec_privileges, attempt_exec_fds, attempt_tiocsti, attempt_init_environ,
             attempt_names, attempt_limits, attempt_not_root)
"""The seam attempts, run from the host with the spec and stages of `labkit escapes`."""
