"""Judging a runtime from inside its containers: the isolation audit, the escape battery and
the probe that runs a Python function as a container's process, and the disk picker
of the battery's mknod attempt (`disks`).

The battery is `escapes` plus attempt modules (`attempts_kernel`, ...) that build on
`attempt` (Outcome, Context, why) and are listed at the end of `escapes.ATTEMPTS`.

It sits above the runtime (it starts containers to look from inside them) and beside the
other faces; the mechanisms it judges are in `security/`, `cgroups/` and the rest.

Taught in: lab 08.
"""
