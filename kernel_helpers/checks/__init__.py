"""The graded checks, one module per topic, each using only public kernel_helpers APIs.

Every check inspects real kernel state (/proc/PID/ns, /proc/PID/status,
mountinfo, uid maps, cgroup files) after running the learner's code in a
forked child, and is proven in tests/checks to fail on the stub and on wrong
answers and to pass on the reference solution.
"""

CHECK_MODULES: tuple[str, ...] = (
    "kernel_helpers.checks.setup",
    "kernel_helpers.checks.processes",
    "kernel_helpers.checks.users",
    "kernel_helpers.checks.uts_ipc",
    "kernel_helpers.checks.cgroups",
    "kernel_helpers.checks.union",
    "kernel_helpers.checks.runtime",
    "kernel_helpers.checks.capstone",
)
"""Imported by kernel_helpers.course.checks.registry(); add one line per new topic."""
