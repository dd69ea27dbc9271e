"""Container networking: veth, a bridge like docker0, IPAM, NAT, names and a VXLAN overlay.

Taught in: lab 07.
"""

from kernel_helpers._lazy import lazy_exports

_EXPORTS = {
    **dict.fromkeys(("DEFAULT_NETWORK", "Lease", "Network"), "kernel_helpers.net.ipam"),
    **dict.fromkeys(("PortMapping", "parse_port"), "kernel_helpers.net.nat"),
    "Netns": "kernel_helpers.net.netdev",
    "NetworkStage": "kernel_helpers.net.stage",
}
__getattr__, __dir__ = lazy_exports(_EXPORTS)
__all__ = sorted(_EXPORTS)  # noqa: PLE0605 - one table names the exports and their modules
