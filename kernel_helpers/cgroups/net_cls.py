"""net_cls (v1 only): tag the group's packets with a traffic-control class id.

The id 0xAAAABBBB means tc class AAAA:BBBB, so `tc filter ... cgroup` can shape
a container's traffic. cgroup v2 has no net_cls: there the group's *path* is
the tag, matched by nftables (`socket cgroupv2 level 2 "labkit/lk..."`) or by
an eBPF program attached to the group (BPF_CGROUP_INET_EGRESS).

Taught in: lab 05.
"""

from __future__ import annotations

from kernel_helpers.cgroups.limits import Limits, Write
from kernel_helpers.errors import KernelFeatureMissing

NET_CLS_CLASSID = "net_cls.classid"


def plan(limits: Limits, version: int) -> list[Write]:
    if limits.net_cls_classid is None:
        return []
    if version == 2:
        raise KernelFeatureMissing(
            "net_cls classid", "cgroup v2 has no net_cls controller",
            "on v2 match the group's path instead, e.g. nftables `socket cgroupv2`")
    return [Write("net_cls", NET_CLS_CLASSID, str(limits.net_cls_classid))]
