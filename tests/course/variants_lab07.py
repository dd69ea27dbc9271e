"""Lab 07's learner runtimes for the tests and `labkit course validate`: wrong ones, each naming
its mistake, and correct ones written differently from the reference.

A variant is the code of one slot (`connect` or `configure_net`), or a dict of slots (a mistake
in `run`, or one spread over both slots), run with the reference for the rest. Every run of a
case asks for a different subnet, address, gateway (never the subnet's .1) and run prefix.
"""

from __future__ import annotations

from kernel_helpers.course.standins import reference_slot  # the instructor's tree


def _run(old: str, new: str, count: int = 1, text: str = "") -> dict[str, str]:
    """The reference run (or `text`) with line(s) `old` replaced by `new` (indentation kept)."""
    lines = (text or reference_slot("run")).splitlines()
    found = [n for n, line in enumerate(lines) if line.strip() == old]
    assert len(found) == count, (old, found)
    for n in reversed(found):
        indent = lines[n][:len(lines[n]) - len(lines[n].lstrip())]
        lines[n:n + 1] = [indent + part for part in new.splitlines()] if new else []
    return {"run": "\n".join(lines) + "\n"}


def _run_moved(line: str, after: str) -> dict[str, str]:
    """The reference run with `line` moved to just after the line `after`."""
    lines = reference_slot("run").splitlines()
    at = next(n for n, text in enumerate(lines) if text.strip() == line)
    moved = lines.pop(at)
    to = next(n for n, text in enumerate(lines) if text.strip() == after)
    indent = lines[to][:len(lines[to]) - len(lines[to].lstrip())]
    lines.insert(to + 1, indent + moved.strip())
    return {"run": "\n".join(lines) + "\n"}


_CONNECT = "def connect(spec, pid):\n"
_NAMES = '    host_if = f"{spec.run_prefix}{pid}"\n    peer = host_if + "c"\n'
_PAIR = "    lk.veth_add(host_if, peer)\n"
_MOVE = "    lk.link_set_netns(peer, pid)\n"
_PREFIX = '    prefixlen = spec.address.split("/")[1]\n'
_ADDR = '    lk.addr_add(host_if, f"{spec.gateway}/{prefixlen}")\n'
_UP = "    lk.link_up(host_if)\n"
_RETURN = "    return host_if\n"


def _connect(*parts: str) -> str:
    return _CONNECT + "".join(parts) + _RETURN


_CONFIGURE = "def configure_net(spec):\n"
_LO = '    lk.link_up("lo")\n'
_RENAME = '''    for name in lk.link_names():
        if name != "lo":
            lk.link_rename(name, "eth0")
'''
_ETH_ADDR = '    lk.addr_add("eth0", spec.address)\n'
_ETH_UP = '    lk.link_up("eth0")\n'
_ROUTE = "    lk.route_add_default(spec.gateway)\n"


def _configure(*parts: str) -> str:
    return _CONFIGURE + "".join(parts)


WRONG_CONNECT = {  # step net.connect
    "own-netns": {
        "never unshares the network namespace": _run("lk.unshare(lk.CLONE_NEWNET)", ""),
        "unshares the network namespace in the parent after fork": {
            "run": _run("lk.unshare(lk.CLONE_NEWNET)", "")["run"].replace(
                "        netns_made.wait()\n",
                "        lk.unshare(lk.CLONE_NEWNET)\n        netns_made.wait()\n")},
        "unshares the network namespace after the parent connected": _run_moved(
            "lk.unshare(lk.CLONE_NEWNET)", "connected.wait()"),
    },
    "reach": {
        "leaves the runtime's end down": _connect(_NAMES, _PAIR, _MOVE, _PREFIX, _ADDR),
        "no address on the runtime's end": _connect(_NAMES, _PAIR, _MOVE, _UP),
        "the gateway as a /32": _connect(_NAMES, _PAIR, _MOVE,
                                         '    lk.addr_add(host_if, f"{spec.gateway}/32")\n', _UP),
        "the container's address on the runtime's end": _connect(
            _NAMES, _PAIR, _MOVE, "    lk.addr_add(host_if, spec.address)\n", _UP),
    },
    "veth-cleanup": {
        "names the runtime's end without the run prefix": _connect(
            '    host_if = f"veth{pid}"\n    peer = host_if + "c"\n', _PAIR, _MOVE, _PREFIX,
            _ADDR, _UP),
        "moves its own end instead of the peer": _connect(
            _NAMES, _PAIR, "    lk.link_set_netns(host_if, pid)\n", _PREFIX, _ADDR, _UP),
        "moves the peer to pid 1, the container's pid inside": _connect(
            _NAMES, _PAIR, "    lk.link_set_netns(peer, 1)\n", _PREFIX, _ADDR, _UP),
        "moves the peer into the runtime's own namespace": _connect(
            _NAMES, _PAIR, "    lk.link_set_netns(peer, os.getpid())\n", _PREFIX, _ADDR, _UP),
        "puts its end on a bridge it never removes": _connect(
            _NAMES, _PAIR, _MOVE, _PREFIX, '''    import subprocess
    bridge = f"{spec.run_prefix}br0"
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", f"{spec.gateway}/{prefixlen}", "dev", bridge], check=True)
    subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
    subprocess.run(["ip", "link", "set", host_if, "master", bridge, "up"], check=True)
'''),
    },
}

WRONG_CONFIGURE = {  # step net.configure
    "interfaces": {
        "leaves eth0 down": _configure(_LO, _RENAME, _ETH_ADDR),
        "leaves lo down": _configure(_RENAME, _ETH_ADDR, _ETH_UP, _ROUTE),
        "keeps the peer's name": _configure(_LO, '''    for name in lk.link_names():
        if name != "lo":
            lk.addr_add(name, spec.address)
            lk.link_up(name)
''', _ROUTE),
        "a fixed address": _configure(_LO, _RENAME, '    lk.addr_add("eth0", "10.22.0.5/24")\n',
                                      _ETH_UP),
        "the container's address on the runtime's end only": {
            "connect": _connect(_NAMES, _PAIR, _MOVE, "    lk.addr_add(host_if, spec.address)\n",
                                _UP),
            "configure_net": _configure(_LO, _RENAME, _ETH_UP)},
    },
    "route": {
        "no default route": _configure(_LO, _RENAME, _ETH_ADDR, _ETH_UP),
        "a gateway assumed to be the subnet's .1": _configure(_LO, _RENAME, _ETH_ADDR, _ETH_UP, '''\
    import ipaddress
    subnet = ipaddress.ip_interface(spec.address).network
    lk.route_add_default(str(subnet.network_address + 1))
'''),
        "the route before eth0 is up": _configure(_LO, _RENAME, _ETH_ADDR, _ROUTE, _ETH_UP),
        "the route via the container's own address": _configure(
            _LO, _RENAME, _ETH_ADDR, _ETH_UP,
            '    lk.route_add_default(spec.address.split("/")[0])\n'),
    },
}

RIGHT = {  # correct, written differently from the reference
    "connect": {
        "with the ip command, the peer born in the container as eth0": '''def connect(spec, pid):
    import subprocess
    host_if = f"{spec.run_prefix}h{pid}"
    # by path: `ip` runs in the pid namespace run unshared for its children, where pid is no one
    subprocess.run(["ip", "link", "add", host_if, "type", "veth", "peer", "name", "eth0",
                    "netns", f"/proc/{pid}/ns/net"], check=True)
    prefixlen = spec.address.partition("/")[2]
    subprocess.run(["ip", "addr", "add", f"{spec.gateway}/{prefixlen}", "dev", host_if],
                   check=True)
    subprocess.run(["ip", "link", "set", host_if, "up"], check=True)
    return host_if
''',
        "the runtime's end up and addressed before the move": '''def connect(spec, pid):
    import ipaddress
    name = f"{spec.run_prefix}{pid % 100000}"
    lk.veth_add(name, name + "p")
    lk.link_up(name)
    subnet = ipaddress.ip_interface(spec.address).network
    lk.addr_add(name, f"{spec.gateway}/{subnet.prefixlen}")
    lk.link_set_netns(name + "p", pid)
    return name
''',
    },
    "configure_net": {
        "the peer found in /proc/self/net/dev, addressed before the rename, lo last": '''\
def configure_net(spec):
    with open("/proc/self/net/dev") as f:
        names = [line.split(":")[0].strip() for line in f.readlines()[2:]]
    peer = next(name for name in names if name != "lo")
    lk.addr_add(peer, spec.address)
    lk.link_rename(peer, "eth0")
    lk.link_up("eth0")
    lk.route_add_default(spec.gateway)
    lk.link_up("lo")
''',
        "with the ip command": '''def configure_net(spec):
    import subprocess
    def ip(*args):
        subprocess.run(["ip", *args], check=True)
    ip("link", "set", "lo", "up")
    for name in lk.link_names():
        if name not in ("lo", "eth0"):
            ip("link", "set", name, "name", "eth0")
    ip("addr", "add", spec.address, "dev", "eth0")
    ip("link", "set", "eth0", "up")
    ip("route", "add", "default", "via", spec.gateway)
''',
    },
    "run": {
        "the network namespace first in the child, before the uts one": _run(
            "enter_uts_ipc(spec.hostname)", "if spec.address:\n    lk.unshare(lk.CLONE_NEWNET)\n"
            "enter_uts_ipc(spec.hostname)", text=_run("lk.unshare(lk.CLONE_NEWNET)", "")["run"]
        )["run"],
    },
}

BY_STEP = {"net.connect": ("connect", WRONG_CONNECT),
           "net.configure": ("configure_net", WRONG_CONFIGURE)}
