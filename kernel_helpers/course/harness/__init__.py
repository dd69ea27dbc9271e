"""The harness: judges a learner's runtime file from the host, one case at a time.

    python -m kernel_helpers.course.harness ~/labkit-work/myruntime.py --lab 03

- `judge`: one case (cgroup, probe, handshakes, what the kernel shows), then the janitor;
- `runner`: the process that imports the learner's file and calls its `run`;
- `cases`: the cases of each lab and the checks that name each mistake;
- `labs`: a lab's cases in order, stand-ins for earlier slots, piece and own scores;
- `sandbox`: the judge's mount namespace, scratch tmpfs, case cgroups, janitor.

Taught in: lab 01.
"""
