"""An OCI runtime-spec config.json, read into the kit's ContainerSpec and stages.

Every field the kit supports goes through the mechanism the kit's own `labkit
run` uses (one capability path, one mount path, one cgroup path); anything
invalid gets one sentence naming the field, before anything is made.

Taught in: lab 09.
"""

from __future__ import annotations

import json
import os
import re
import resource
from pathlib import Path
from typing import Any

from kernel_helpers.cgroups.devices import DOCKER_DEFAULT
from kernel_helpers.cgroups.limits import CPU_PERIOD_US, DevicePolicy, DeviceRule, Limits, Throttle
from kernel_helpers.cgroups.stage import CgroupStage
from kernel_helpers.errors import InvalidValue, NotFound
from kernel_helpers.namespaces import Namespace
from kernel_helpers.runtime.hooks import parse_hooks
from kernel_helpers.runtime.oci_stage import Device, OciBundle, mount_steps
from kernel_helpers.security.capabilities import CapSets, parse_cap
from kernel_helpers.security.hardening import Hardening, HardeningStage
from kernel_helpers.spec import ContainerSpec, IdMap
from kernel_helpers.stage import Stage
from kernel_helpers.sysctl import sysctl_path
from kernel_helpers.units import parse_cpu_list

NAMESPACE_TYPES = {"pid": Namespace.PID, "network": Namespace.NET, "mount": Namespace.MNT,
                   "ipc": Namespace.IPC, "uts": Namespace.UTS, "user": Namespace.USER,
                   "cgroup": Namespace.CGROUP, "time": Namespace.TIME}
"""runtime-spec namespace type -> ours."""
CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")


def load_config(bundle: str | Path) -> dict[str, Any]:
    path = Path(bundle, "config.json")
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise NotFound(f"bundle '{bundle}'", "has no config.json",
                       "make one with `runc spec` in the bundle directory") from None
    except ValueError as err:
        raise InvalidValue(f"{path}", f"is not valid JSON ({err})", "fix or regenerate it") from None
    if not isinstance(config, dict):
        raise InvalidValue(f"{path}", "is not a JSON object", "regenerate it with `runc spec`")
    return config


def spec_from_config(config: dict[str, Any], bundle: str | Path
                     ) -> tuple[ContainerSpec, tuple[Stage, ...]]:
    """Translate a runtime-spec config into the kit's spec and stages (one sentence if invalid)."""
    version = str(config.get("ociVersion", ""))
    if not re.match(r"^1\.\d+\.\d+(-[0-9A-Za-z.+-]+)?$", version):
        raise InvalidValue(f"ociVersion '{version}'", "is not a runtime-spec 1.x version",
                           "set it to the spec version the config follows, e.g. 1.0.2")
    process = config.get("process") or {}
    for key in ("apparmorProfile", "selinuxLabel"):
        if process.get(key):
            raise InvalidValue(f"process.{key} '{process[key]}'", "asks for a security label, "
                               "and labkit applies no AppArmor or SELinux labels",
                               f"remove process.{key} from config.json")
    args = process.get("args") or []
    if not args:
        raise InvalidValue("process.args", "is empty", "put the command to run in config.json")
    root = config.get("root") or {}
    rootfs = Path(bundle, root.get("path", "rootfs")).resolve()
    if not rootfs.is_dir():
        raise NotFound(f"root.path '{rootfs}'", "is not a directory", "unpack a rootfs there")
    linux = config.get("linux") or {}
    new, join = _namespaces(linux)
    user = process.get("user") or {}
    uid_map, gid_map = _id_map(linux, "uidMappings"), _id_map(linux, "gidMappings")
    spec = ContainerSpec(
        command=tuple(args), rootfs=str(rootfs), namespaces=new, join=join,
        hostname=config.get("hostname") if Namespace.UTS in new else None,
        domainname=config.get("domainname") if Namespace.UTS in new else None,
        read_only=bool(root.get("readonly")),
        env=tuple(tuple(item.split("=", 1)) for item in process.get("env") or []
                  if "=" in item),
        cwd=process.get("cwd", "/"), id_map=uid_map or IdMap(), gid_map=gid_map,
        user=(int(user.get("uid", 0)), int(user.get("gid", 0))),
        groups=tuple(int(g) for g in user.get("additionalGids") or ()),
        umask=user.get("umask"), sysctl=_sysctls(linux),
        standard_mounts=False, rootfs_propagation=linux.get("rootfsPropagation") or "rprivate")
    mounts = config.get("mounts") or []
    resources = linux.get("resources") or {}
    stages: list[Stage] = [
        OciBundle(str(Path(bundle).resolve()), mount_steps(mounts, str(rootfs)),
                  devices=tuple(Device.from_config(d) for d in linux.get("devices") or ()),
                  rlimits=rlimits_from(process), oom_score_adj=process.get("oomScoreAdj"),
                  hooks=parse_hooks(config.get("hooks") or {}),
                  annotations=config.get("annotations") or {}),
        CgroupStage(limits_from(resources), mount=any(m.get("type") == "cgroup" for m in mounts),
                    path=linux.get("cgroupsPath") or None),
        HardeningStage(hardening_from(process, linux))]
    return spec, tuple(stages)


def _namespaces(linux: dict[str, Any]) -> tuple[frozenset[Namespace], tuple[tuple[Namespace, str], ...]]:
    new, join = set(), []
    for item in linux.get("namespaces") or []:
        kind = NAMESPACE_TYPES.get(item.get("type"))
        if kind is None:
            raise InvalidValue(f"namespace type '{item.get('type')}'", "is unknown",
                               f"use some of: {', '.join(NAMESPACE_TYPES)}")
        if item.get("path"):
            if not os.path.exists(item["path"]):
                raise NotFound(f"namespace {item['type']} path '{item['path']}'", "does not exist",
                               "give the /proc/PID/ns/ file of a running process")
            join.append((kind, item["path"]))
        else:
            new.add(kind)
    return frozenset(new), tuple(join)


def _sysctls(linux: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    settings = tuple((linux.get("sysctl") or {}).items())
    for key, _ in settings:
        sysctl_path(key)  # a bad name is refused now, not halfway through the start
    return settings


def _id_map(linux: dict[str, Any], key: str) -> IdMap | None:
    mappings = linux.get(key) or []
    if len(mappings) > 1:
        raise InvalidValue(f"linux.{key}", "has more than one range",
                           "use one range (containerID, hostID, size)")
    if not mappings:
        return None
    item = mappings[0]
    return IdMap(int(item["containerID"]), int(item["hostID"]), int(item["size"]))


def rlimits_from(process: dict[str, Any]) -> tuple[tuple[int, int, int], ...]:
    """process.rlimits as (resource, soft, hard), with one sentence for an unknown or bad one."""
    found = []
    for item in process.get("rlimits") or []:
        name = str(item.get("type", ""))
        number = getattr(resource, name, None) if name.startswith("RLIMIT_") else None
        if number is None:
            raise InvalidValue(f"process.rlimits type '{name}'", "is not a resource limit",
                               "use a name such as RLIMIT_NOFILE (see `man 2 getrlimit`)")
        soft, hard = int(item.get("soft", 0)), int(item.get("hard", 0))
        if soft > hard:
            raise InvalidValue(f"process.rlimits {name}", f"soft {soft} is above hard {hard}",
                               "make soft at most hard")
        found.append((number, soft, hard))
    return tuple(found)


def limits_from(resources: dict[str, Any]) -> Limits:
    """linux.resources as the kit's cgroup Limits (the fields both cgroup versions have)."""
    memory, cpu = resources.get("memory") or {}, resources.get("cpu") or {}
    quota, period = cpu.get("quota"), cpu.get("period") or CPU_PERIOD_US
    limit, swap = memory.get("limit"), memory.get("swap")
    block = resources.get("blockIO") or {}
    throttles: dict[tuple[int, int], dict[str, int]] = {}
    for key, field in (("throttleReadBpsDevice", "read_bps"), ("throttleWriteBpsDevice", "write_bps"),
                       ("throttleReadIOPSDevice", "read_iops"),
                       ("throttleWriteIOPSDevice", "write_iops")):
        for item in block.get(key) or []:
            throttles.setdefault((item["major"], item["minor"]), {})[field] = item["rate"]
    return Limits(
        memory=limit if limit and limit > 0 else None,
        swap=swap - limit if swap and limit and swap > limit else None,
        cpus=quota / period if quota and quota > 0 else None,
        cpu_period_us=period, cpu_shares=cpu.get("shares"),
        cpuset_cpus=parse_cpu_list(cpu["cpus"], "linux.resources.cpu.cpus") if cpu.get("cpus") else None,
        cpuset_mems=parse_cpu_list(cpu["mems"], "linux.resources.cpu.mems") if cpu.get("mems") else None,
        pids=(resources.get("pids") or {}).get("limit"),
        io_weight=block.get("weight"),
        io_throttle=tuple(Throttle(major, minor, **rates) for (major, minor), rates in throttles.items()),
        devices=device_policy(resources.get("devices")),
        net_cls_classid=(resources.get("network") or {}).get("classID"))


def device_policy(rules: list[dict[str, Any]] | None) -> DevicePolicy | None:
    """linux.resources.devices, in order, as the kit's policy (runc's default nodes kept usable)."""
    if rules is None:
        return None
    default_allow, exceptions = True, list[DeviceRule]()
    for rule in rules:
        kind = rule.get("type") or "a"
        if kind not in ("a", "b", "c"):
            raise InvalidValue(f"device rule type '{kind}'", "is not a device type",
                               "use a (all), b (block) or c (char)")
        parsed = DeviceRule(kind, rule.get("major"), rule.get("minor"), rule.get("access") or "rwm")
        if kind == "a" and parsed.major is None and parsed.minor is None:
            default_allow, exceptions = bool(rule.get("allow")), []
        elif bool(rule.get("allow")) != default_allow:
            exceptions.append(parsed)
    if not default_allow:  # like runc: after the config's rules, the standard nodes stay usable
        exceptions += [rule for rule in DOCKER_DEFAULT.exceptions if rule not in exceptions]
    return DevicePolicy(default_allow, tuple(exceptions))


def hardening_from(process: dict[str, Any], linux: dict[str, Any]) -> Hardening:
    """The five capability sets, noNewPrivileges, masked and read-only paths, as runc applies them.

    No seccomp section (as `runc spec` writes) means no filter; any section gets
    Docker's default profile.
    """
    for key in ("maskedPaths", "readonlyPaths"):
        for path in linux.get(key) or ():
            if not str(path).startswith("/"):
                raise InvalidValue(f"linux.{key} '{path}'", "is not an absolute path",
                                   "give the path as the container sees it, e.g. /proc/kcore")
    caps = process.get("capabilities")
    sets = None
    if caps is not None:
        sets = CapSets(**{name: frozenset(parse_cap(c) for c in caps.get(name) or ())
                          for name in CAP_SETS})
    return Hardening(
        caps=None if sets is None else sets.bounding, cap_sets=sets,
        no_new_privs=bool(process.get("noNewPrivileges")), seccomp="seccomp" in linux,
        system_paths=True, nodev=False,
        masked=tuple(linux.get("maskedPaths") or ()), readonly=tuple(linux.get("readonlyPaths") or ()))
