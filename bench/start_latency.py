"""Start-to-exit latency of /bin/true: labkit against unshare, runc and crun, in one run.

Cases are interleaved round by round so drift hits all alike; we report medians
and ratios, never absolute claims. The labkit measured is this checkout's code,
started the way /usr/local/bin/labkit starts it; `--compare DIR` adds another
checkout (an older commit, say) to the same rounds. Run as root:

    sudo /opt/labkit/venv/bin/python bench/start_latency.py --runs 30 [--compare DIR]

crun 1.8 refuses this machine's hybrid cgroup layout (hugetlb on cgroup2), so the
whole benchmark runs in a private mount namespace with a tmpfs over
/sys/fs/cgroup/unified; every runtime then sees the same pure v1 layout. The
host's mounts are untouched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernel_helpers._sys import LINUX
from kernel_helpers._sys.linux import MS_PRIVATE, MS_REC
from kernel_helpers.namespaces import Namespace, unshare
from kernel_helpers.rootfs.busybox import busybox_rootfs

KIT_DIR = Path(__file__).resolve().parents[1]
"""The checkout this script is in: its code is what gets measured (not /work/main's)."""
LAUNCHER = """#!{python} -IS
import sys
sys.path[0:0] = [{kit!r}]
sys.path.append({site!r})
from kernel_helpers.cli import main
sys.exit(main())
"""
"""The launcher vagrant/provision.sh installs as /usr/local/bin/labkit (what learners type),
to be pointed at a checkout."""


def labkit_launcher(where: Path, kit: Path = KIT_DIR) -> list[str]:
    """Write `LAUNCHER` for the checkout `kit` into `where`; return the argv that runs it."""
    path = where / f"labkit-{abs(hash(str(kit))):x}"
    path.write_text(LAUNCHER.format(python=sys.executable, kit=str(kit),
                                    site=sysconfig.get_paths()["purelib"]))
    path.chmod(0o755)
    return [str(path)]


def make_bundle(tool: str, where: Path) -> Path:
    """An OCI bundle for `tool` (runc or crun): the busybox rootfs and its own `spec`."""
    bundle = where / tool
    bundle.mkdir()
    shutil.copytree(busybox_rootfs(), bundle / "rootfs", symlinks=True)
    subprocess.run([tool, "spec"], cwd=bundle, check=True, capture_output=True)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/bin/true"]
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


LABKIT_CASE = "labkit run --rootfs busybox"


def cases(where: Path, compare: Path | None = None) -> dict[str, list[str]]:
    labkit = labkit_launcher(where)
    found = {
        "python3 -c pass (interpreter floor)": [sys.executable, "-c", "pass"],
        "unshare --pid --fork --mount --uts --ipc --net": [
            "unshare", "--pid", "--fork", "--mount", "--uts", "--ipc", "--net", "/bin/true"],
        LABKIT_CASE: [*labkit, "run", "--rootfs", "busybox", "--", "/bin/true"],
    }
    if compare is not None:
        found[f"{LABKIT_CASE} [{compare.name}]"] = [
            *labkit_launcher(where, compare), "run", "--rootfs", "busybox", "--", "/bin/true"]
    for tool in ("runc", "crun"):
        if shutil.which(tool):
            bundle = make_bundle(tool, where)
            found[f"{tool} run"] = [tool, "run", "--bundle", str(bundle), f"lkbench{tool}"]
    return found


def measure(commands: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for argv in commands.values():  # warm-up, and proof that each case works
        subprocess.run(argv, check=True, capture_output=True)
    for _ in range(runs):
        for name, argv in commands.items():
            begin = time.perf_counter_ns()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            samples[name].append((time.perf_counter_ns() - begin) / 1e6)
    return samples


def private_cgroup_view() -> None:
    """Our own mount namespace where cgroup2's hybrid half is hidden (see module docstring)."""
    unshare({Namespace.MNT})
    LINUX.mount(None, "/", None, MS_REC | MS_PRIVATE)
    if Path("/sys/fs/cgroup/unified").is_dir():
        LINUX.mount("lkbench", "/sys/fs/cgroup/unified", "tmpfs", 0, "size=1m")


def report(samples: dict[str, list[float]]) -> list[dict[str, object]]:
    base = statistics.median(samples[LABKIT_CASE])
    rows = []
    for name, values in samples.items():
        median = statistics.median(values)
        rows.append({"case": name, "median_ms": round(median, 2), "min_ms": round(min(values), 2),
                     "labkit_over_this": round(base / median, 2)})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--json", help="also write the rows here")
    parser.add_argument("--compare", type=Path, metavar="DIR",
                        help="another checkout of the kit to measure in the same rounds")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("start_latency: run as root (sudo).", file=sys.stderr)
        return 2
    private_cgroup_view()
    with tempfile.TemporaryDirectory(prefix="lkbench-") as tmp:
        rows = report(measure(cases(Path(tmp), args.compare), args.runs))
    print(f"{'case':<50} {'median ms':>9} {'min ms':>7} {'labkit / this':>13}")
    for row in rows:
        print(f"{row['case']:<50} {row['median_ms']:>9} {row['min_ms']:>7} "
              f"{row['labkit_over_this']:>13}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
