"""Names the learner gives (containers, networks, images), checked once, as Docker checks them.

A name ends up in paths under /run/labkit and /var/lib/labkit, in every
container's /etc/hosts and in kernel object names, so it must never carry a
newline (one more /etc/hosts line), a `/` or `..` (another folder), or start
with `-` or `.`. Each check returns the name or raises one sentence.

Taught in: lab 10.
"""

from __future__ import annotations

import re

from kernel_helpers.errors import InvalidValue

NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
"""Docker's container and network names (moby's `RestrictedNamePattern`)."""
CONTAINER_NAME_MAX = 64
NETWORK_NAME_MAX = 32
"""Network names also name folders and nft rules; 32 keeps every derived name short."""

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
REFERENCE = re.compile(
    rf"(?:(?P<domain>{_DOMAIN}(?:\.{_DOMAIN})*(?::[0-9]+)?)/)?"
    rf"(?P<path>{_COMPONENT}(?:/{_COMPONENT})*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?", re.ASCII)
"""Docker's reference grammar (distribution/reference), without digests: [domain/]path[:tag]."""
IMAGE_NAME_MAX = 255


def _name(kind: str, name: str, longest: int) -> str:
    if not NAME.fullmatch(name):  # fullmatch: `$` would let a trailing newline through
        raise InvalidValue(f"{kind} name {name!r}", "is not a valid name",
                           "use letters, digits, '_', '.' and '-', starting with a letter or "
                           "digit, e.g. web-1")
    if len(name) > longest:
        raise InvalidValue(f"{kind} name '{name[:20]}...'", f"is longer than {longest} characters",
                           "pick a shorter name")
    return name


def container_name(name: str) -> str:
    """`--name`: Docker's pattern, at most 64 characters."""
    return _name("container", name, CONTAINER_NAME_MAX)


def network_name(name: str) -> str:
    """`network create NAME`, `--network NAME`: Docker's pattern, at most 32 characters."""
    return _name("network", name, NETWORK_NAME_MAX)


def image_ref(ref: str) -> str:
    """An image reference such as busybox, myimage:v1 or registry.lab:5000/team/app:1.0.

    `/` and `:` are allowed where Docker's grammar puts them; `..`, a leading `/`,
    upper case in the path, whitespace and newlines never match it.
    """
    match = REFERENCE.fullmatch(ref)
    if not match or len(ref) - len(match["tag"] or "") > IMAGE_NAME_MAX:
        raise InvalidValue(f"image name {ref!r}", "is not a valid image reference",
                           "use lowercase name[:tag], e.g. myimage:v1 or team/app:1.0")
    return ref
