"""cgroup v2 device control: a tiny eBPF program, assembled here and loaded with bpf(2).

cgroup v2 has no devices.allow file. Instead the kernel runs a program of type
BPF_PROG_TYPE_CGROUP_DEVICE on every open and mknod of a device node by a
process in the group. It reads ``struct bpf_cgroup_dev_ctx`` and returns
1 (allow) or 0 (deny, the caller gets EPERM). runc and crun build the same kind
of program; this one is small enough to read instruction by instruction:

    r2 = ctx->access_type & 0xffff      device type: 1 block, 2 char
    r3 = ctx->access_type >> 16         access: 1 mknod, 2 read, 4 write
    r4 = ctx->major; r5 = ctx->minor
    for each exception:  if it matches, return the opposite of the default
    return the default

Matching follows v1's rules: an allow-exception matches when the access asked
for is a subset of its access; a deny-exception matches when they overlap.

Taught in: lab 08. cgroup v2 only.
"""

from __future__ import annotations

import ctypes
import os
import struct

from kernel_helpers._sys import LINUX, Kernel
from kernel_helpers.cgroups.limits import DevicePolicy, DeviceRule
from kernel_helpers.errors import LabkitError

BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_F_QUERY_EFFECTIVE = 1
"""query_flags: count inherited programs too (what the kernel really runs for the group)."""
BPF_CGROUP_DEVICE = 6
"""The attach type, also passed as expected_attach_type when loading."""

DEV_TYPE = {"b": 1, "c": 2}
ACCESS = {"m": 1, "r": 2, "w": 4}
_ATTR_SIZE = 128
"""bpf_attr is a union; the kernel accepts a larger, zero-padded buffer."""

# Opcodes (linux/bpf_common.h + linux/bpf.h): class | op | source.
LDX_MEM_W = 0x61      # dst = *(u32 *)(src + off)
ALU64_AND_K = 0x57    # dst &= imm
ALU64_RSH_K = 0x77    # dst >>= imm
ALU64_MOV_K = 0xB7    # dst = imm
ALU64_MOV_X = 0xBF    # dst = src
JMP_JEQ_K = 0x15      # if dst == imm: pc += off
JMP_JNE_K = 0x55      # if dst != imm: pc += off
JMP_JSET_K = 0x45     # if dst & imm:  pc += off
EXIT = 0x95

NEXT = object()
"""Placeholder jump target: the start of the next rule's block."""


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def _access_mask(access: str) -> int:
    return sum(ACCESS[c] for c in set(access))


def _rule_block(rule: DeviceRule, allow: bool) -> list[tuple[int, int, int, object, int]]:
    """Instructions for one exception; jumps with off=NEXT skip to the next block."""
    block: list[tuple[int, int, int, object, int]] = []
    if rule.type != "a":
        block.append((JMP_JNE_K, 2, 0, NEXT, DEV_TYPE[rule.type]))
    mask = _access_mask(rule.access)
    if allow and mask != 7:   # the access asked for must be inside the rule's access
        block.append((JMP_JSET_K, 3, 0, NEXT, 7 & ~mask))
    if not allow and mask != 7:  # the access asked for must overlap the rule's access
        block += [(ALU64_MOV_X, 0, 3, 0, 0), (ALU64_AND_K, 0, 0, 0, mask),
                  (JMP_JEQ_K, 0, 0, NEXT, 0)]
    if rule.major is not None:
        block.append((JMP_JNE_K, 4, 0, NEXT, rule.major))
    if rule.minor is not None:
        block.append((JMP_JNE_K, 5, 0, NEXT, rule.minor))
    block += [(ALU64_MOV_K, 0, 0, 0, 1 if allow else 0), (EXIT, 0, 0, 0, 0)]
    return block


def assemble(policy: DevicePolicy) -> bytes:
    """The program for `policy`, as raw bpf_insn bytes (pure: shown in the lab, unit-tested).

    Taught in: lab 08.
    """
    program = [_insn(LDX_MEM_W, 2, 1, 0), _insn(ALU64_AND_K, 2, imm=0xFFFF),
               _insn(LDX_MEM_W, 3, 1, 0), _insn(ALU64_RSH_K, 3, imm=16),
               _insn(LDX_MEM_W, 4, 1, 4), _insn(LDX_MEM_W, 5, 1, 8)]
    for rule in policy.exceptions:
        block = _rule_block(rule, allow=not policy.default_allow)
        for index, (code, dst, src, off, imm) in enumerate(block):
            jump = len(block) - index - 1 if off is NEXT else off
            program.append(_insn(code, dst, src, jump, imm))  # type: ignore[arg-type]
    program += [_insn(ALU64_MOV_K, 0, imm=1 if policy.default_allow else 0), _insn(EXIT)]
    return b"".join(program)


def load(policy: DevicePolicy, kernel: Kernel = LINUX) -> int:
    """Load the program into the kernel (BPF_PROG_LOAD); returns its fd. The verifier checks it."""
    code = ctypes.create_string_buffer(assemble(policy))
    license_ = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(1 << 16)
    attr = bytearray(_ATTR_SIZE)
    struct.pack_into("<IIQQIIQII16sII", attr, 0, BPF_PROG_TYPE_CGROUP_DEVICE,
                     len(code.raw) // 8, ctypes.addressof(code), ctypes.addressof(license_),
                     1, len(log), ctypes.addressof(log), 0, 0, b"labkit_devices", 0,
                     BPF_CGROUP_DEVICE)
    try:
        return kernel.bpf(BPF_PROG_LOAD, attr)
    except LabkitError as err:
        verifier = log.value.decode(errors="replace").strip().splitlines()
        raise type(err)("eBPF device program", f"{err.problem}"
                        + (f" (verifier: {verifier[-1]})" if verifier else ""), err.fix) from err


def attach(folder: str, policy: DevicePolicy, kernel: Kernel = LINUX) -> None:
    """Load the program and attach it to the v2 group at `folder` (replacing an earlier one).

    The attachment keeps the program alive; it goes away with the group.

    Taught in: lab 08. cgroup v2 only.
    """
    prog_fd = load(policy, kernel)
    try:
        group_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            attr = bytearray(_ATTR_SIZE)
            struct.pack_into("<IIII", attr, 0, group_fd, prog_fd, BPF_CGROUP_DEVICE, 0)
            kernel.bpf(BPF_PROG_ATTACH, attr)
        finally:
            os.close(group_fd)
    finally:
        os.close(prog_fd)


def attached_count(folder: str, kernel: Kernel = LINUX, effective: bool = False) -> int:
    """How many device programs are attached to the group itself (BPF_PROG_QUERY).

    With `effective`, the programs in force on it: its own and its ancestors'.
    """
    group_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        attr = bytearray(_ATTR_SIZE)
        struct.pack_into("<III", attr, 0, group_fd, BPF_CGROUP_DEVICE,
                         BPF_F_QUERY_EFFECTIVE if effective else 0)
        kernel.bpf(BPF_PROG_QUERY, attr)
        return int(struct.unpack_from("<I", attr, 24)[0])
    finally:
        os.close(group_fd)
