"""The README, the Vagrantfile and the provisioning scripts agree on boxes, ports and paths.

`disagreements` reads the three as text (no Vagrant or Ruby needed) and lists every
mismatch; the tests below also feed it altered copies to show each kind is caught.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from kernel_helpers.cgroups.layout import SUBTREE
from kernel_helpers.vm import LAB_VM_MARKER

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Sources:
    readme: str
    vagrantfile: str
    provision: str
    lab_vm: str
    cgroup_unit: str


def _read() -> Sources:
    return Sources(*(Path(REPO, name).read_text() for name in (
        "README.md", "Vagrantfile", "vagrant/provision.sh", "vagrant/lab-vm.sh",
        "vagrant/labkit-cgroup.service")))


def _vm_section(readme: str) -> str:
    match = re.search(r"^## The lab VM \(Vagrant\)\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    return match.group(1) if match else ""


def _boxes(vagrantfile: str) -> dict[str, dict[str, str]]:
    """BOXES = {"os" => {"provider" => "box", ...}, ...} from the Vagrantfile."""
    block = re.search(r"^BOXES = \{(.*?)^\}", vagrantfile, re.M | re.S)
    boxes: dict[str, dict[str, str]] = {}
    for os_name, body in re.findall(r'"([^"]+)" => \{(.*?)\}', block.group(1) if block else "", re.S):
        boxes[os_name] = dict(re.findall(r'"([^"]+)" => "([^"]+)"', body))
    return boxes


def _constant(text: str, name: str) -> str | None:
    match = re.search(rf"^{name}\s*=\s*\"?([^\"\s#]+)\"?", text, re.M)
    return match.group(1) if match else None


def disagreements(src: Sources) -> list[str]:
    """Every way the four files disagree, one sentence each; [] when they agree."""
    found: list[str] = []
    section = _vm_section(src.readme)
    if not section:
        found.append("README has no '## The lab VM (Vagrant)' section")
    boxes = _boxes(src.vagrantfile)
    if not boxes:
        found.append("Vagrantfile has no BOXES table")
    for os_name, by_provider in boxes.items():
        if set(by_provider) != {"virtualbox", "libvirt", "vmware_desktop"}:
            found.append(f"Vagrantfile: {os_name} lacks a box for some provider: {sorted(by_provider)}")
        row = next((line for line in section.splitlines() if f"`{os_name}`" in line), "")
        if not row:
            found.append(f"README's box table has no row for {os_name}")
        for provider, box in by_provider.items():
            if row and f"`{box}`" not in row:
                found.append(f"README's {os_name} row does not name {box} ({provider})")
    default_os = _constant(src.vagrantfile, "DEFAULT_OS")
    if default_os and f"`{default_os}` (default)" not in section:
        found.append(f"README does not call {default_os} the default OS")

    guest_port = _constant(src.vagrantfile, "JUPYTER_GUEST_PORT")
    if guest_port != _constant(src.lab_vm, "JUPYTER_PORT"):
        found.append(f"JupyterLab port: Vagrantfile {guest_port}, lab-vm.sh {_constant(src.lab_vm, 'JUPYTER_PORT')}")
    if f"http://127.0.0.1:{guest_port}/lab?token=" not in section:
        found.append(f"README's JupyterLab URL does not use port {guest_port}")
    web_port = _constant(src.vagrantfile, "WEB_GUEST_PORT")
    if f"guest port {web_port}" not in section:
        found.append(f"README does not name the web app's guest port {web_port}")
    if src.vagrantfile.count('host_ip: "127.0.0.1"') != src.vagrantfile.count('"forwarded_port"'):
        found.append("Vagrantfile forwards a port to more than the host's 127.0.0.1")

    kit_dir = _constant(src.vagrantfile, "KIT_DIR")
    if '"bash #{KIT_DIR}/vagrant/provision.sh --vm"' not in src.vagrantfile:
        found.append("Vagrantfile does not run vagrant/provision.sh --vm from KIT_DIR")
    if "--vm) VM=1" not in src.provision or "lab-vm.sh\" setup" not in src.provision:
        found.append("provision.sh does not take --vm to run lab-vm.sh setup")
    if f"`{kit_dir}`" not in section or "vagrant/provision.sh --vm" not in section:
        found.append(f"README does not say the VM runs vagrant/provision.sh --vm from {kit_dir}")
    marker = _constant(src.lab_vm, "MARKER")
    if marker != f"$ETC/{LAB_VM_MARKER.name}" or _constant(src.lab_vm, "ETC") != str(LAB_VM_MARKER.parent):
        found.append(f"lab-vm.sh writes the marker elsewhere than {LAB_VM_MARKER}")
    if f"`{LAB_VM_MARKER}`" not in section:
        found.append(f"README does not name the marker {LAB_VM_MARKER}")
    for ip_name in ("LAB_IP", "PEER_IP"):
        if (_constant(src.vagrantfile, ip_name) or "?") not in section:
            found.append(f"README does not give the {ip_name} {_constant(src.vagrantfile, ip_name)}")
    cgroup_dir = re.search(r"mkdir -p (/sys/fs/cgroup/\S+)", src.cgroup_unit)
    if not cgroup_dir or f"`{cgroup_dir.group(1)}`" not in section:
        found.append("README and labkit-cgroup.service name different kit cgroups")
    if cgroup_dir and cgroup_dir.group(1) != f"/sys/fs/cgroup/{SUBTREE}" and "LABKIT_CGROUP_PARENT" not in os.environ:
        found.append(f"labkit-cgroup.service makes {cgroup_dir.group(1)}; the kit uses /sys/fs/cgroup/{SUBTREE}")
    for command in ("vagrant up", "vagrant ssh -c labkit", "vagrant up peer"):
        if command not in section:
            found.append(f"README's VM section does not show `{command}`")
    return found


def test_the_real_files_agree() -> None:
    assert disagreements(_read()) == []


def _altered(field: str, old: str, new: str) -> Sources:
    src = _read()
    text = getattr(src, field)
    assert old in text, f"{field} no longer contains {old!r}: update this test"
    return Sources(**{**src.__dict__, field: text.replace(old, new)})


@pytest.mark.parametrize(("field", "old", "new", "expected"), [
    ("vagrantfile", '"bento/debian-12"', '"bento/debian-13"', "does not name bento/debian-13"),
    ("vagrantfile", '"cloud-image/ubuntu-24.04"', '"generic/ubuntu2404"', "does not name generic/ubuntu2404"),
    ("readme", "| `debian-12`", "| `debian-13`", "no row for debian-12"),
    ("vagrantfile", "JUPYTER_GUEST_PORT = 8888", "JUPYTER_GUEST_PORT = 8899", "JupyterLab port"),
    ("lab_vm", "JUPYTER_PORT=8888", "JUPYTER_PORT=9999", "JupyterLab port"),
    ("readme", "127.0.0.1:8888/lab?token=", "127.0.0.1:8000/lab?token=", "URL does not use port"),
    ("vagrantfile", 'guest: WEB_GUEST_PORT, host: web_port, host_ip: "127.0.0.1"',
     "guest: WEB_GUEST_PORT, host: web_port", "more than the host's 127.0.0.1"),
    ("vagrantfile", "/vagrant/provision.sh --vm", "/vagrant/provision.sh", "does not run"),
    ("lab_vm", 'MARKER="$ETC/lab-vm"', 'MARKER="$ETC/vm"', "marker elsewhere"),
    ("vagrantfile", 'KIT_DIR = "/vagrant"', 'KIT_DIR = "/labkit"', "from /labkit"),
    ("cgroup_unit", "mkdir -p /sys/fs/cgroup/labkit", "mkdir -p /sys/fs/cgroup/kit", "different kit cgroups"),
    ("cgroup_unit", "mkdir -p /sys/fs/cgroup/labkit &&", "mkdir -p /sys/fs/cgroup/kit &&", "the kit uses"),
    ("vagrantfile", 'PEER_IP = "192.168.56.11"', 'PEER_IP = "192.168.57.11"', "PEER_IP"),
])
def test_each_kind_of_disagreement_is_caught(field: str, old: str, new: str, expected: str) -> None:
    found = disagreements(_altered(field, old, new))
    assert any(expected in sentence for sentence in found), found
