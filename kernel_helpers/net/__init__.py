"""Container networking: veth, a bridge like docker0, IPAM, NAT, names and a VXLAN overlay.

Taught in: lab 07.
"""

from kernel_helpers.net.ipam import DEFAULT_NETWORK, Lease, Network
from kernel_helpers.net.nat import PortMapping, parse_port
from kernel_helpers.net.netdev import Netns
from kernel_helpers.net.stage import NetworkStage

__all__ = ["DEFAULT_NETWORK", "Lease", "Network", "Netns", "NetworkStage", "PortMapping",
           "parse_port"]
