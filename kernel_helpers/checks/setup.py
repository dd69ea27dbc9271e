"""Checks of lab 00: reading the doctor's report and your own namespaces.

Taught in: lab 00.
"""

from __future__ import annotations

from dataclasses import replace

from kernel_helpers.checks._probe import ns_inode
from kernel_helpers.course.checks import call, check, fail
from kernel_helpers.namespaces import ALL_NAMESPACE_KINDS, Namespace, namespaces_of, unshare
from kernel_helpers.process import run_in_child


@check("setup.missing-features")
def missing_features(answer: object) -> str:
    """Feed the learner's filter this machine's real report, and a copy with two misses."""
    from kernel_helpers.doctor import diagnose
    real = diagnose()
    doctored = [replace(f, ok=False) if i in (1, len(real) - 1) else f for i, f in enumerate(real)]
    for findings in (real, doctored):
        expected = [f.name for f in findings if not f.ok]
        got = call(answer, findings)
        if not isinstance(got, list):
            raise fail(f"`missing_features` returned a {type(got).__name__}, not a list",
                       "build a list, e.g. with a list comprehension")
        if got != expected:
            raise fail(f"`missing_features` found {len(got)} missing features where the "
                       f"report has {len(expected)}",
                       "keep the `name` of every finding whose `ok` is False, in report order")
    return "your filter finds exactly the missing features of a real doctor report"


@check("setup.my-namespaces")
def my_namespaces(answer: object) -> str:
    """Run the learner's reader in a process with its own uts and ipc namespaces."""
    host_uts = ns_inode("self", "uts")
    unshare({Namespace.UTS, Namespace.IPC})

    def both() -> tuple[object, dict[str, int]]:
        return call(answer), {k: v.inode for k, v in namespaces_of("self").items()}

    got, truth = run_in_child(both, timeout=10)
    if not isinstance(got, dict):
        raise fail(f"`my_namespaces` returned a {type(got).__name__}, not a dict",
                   "return a dict like {'pid': 4026531836, ...}")
    missing = sorted(set(truth) - set(got))
    if missing:
        raise fail(f"`my_namespaces` has no entry for: {', '.join(missing)}",
                   f"list every file in /proc/self/ns ({', '.join(ALL_NAMESPACE_KINDS)})")
    wrong = sorted(kind for kind in truth if got[kind] != truth[kind])
    if wrong:
        raise fail(f"`my_namespaces` gives the wrong inode for: {', '.join(wrong)}",
                   "use os.stat('/proc/self/ns/<kind>').st_ino of the calling process itself")
    if host_uts == truth["uts"]:
        raise fail("the check could not give your reader a uts namespace of its own")
    return "your reader matches the kernel's namespace inodes, including new ones"
