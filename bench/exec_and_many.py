"""`exec` latency and 20 containers started at once: labkit against runc and crun, in one run.

    sudo /opt/labkit/venv/bin/python bench/exec_and_many.py --runs 20 [--compare DIR]

Like start_latency.py it runs in a private mount namespace where cgroup2's
hybrid half is hidden, so crun 1.8 accepts this machine; medians and ratios.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from start_latency import labkit_launcher, make_bundle, private_cgroup_view

SLEEPER = ["/bin/sleep", "600"]
LABKITS: dict[str, list[str]] = {}
"""Launchers (see start_latency.LAUNCHER): "labkit" is this checkout, "labkit[DIR]" the one
--compare names; written once the temp dir exists."""


def sleeper_bundle(tool: str, where: Path) -> Path:
    bundle = make_bundle(tool, where)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["args"] = SLEEPER
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def start_detached(tool: str, name: str, bundle: Path | None) -> None:
    if tool in LABKITS:
        subprocess.run([*LABKITS[tool], "run", "-d", "--name", name, "--", *SLEEPER], check=True,
                       capture_output=True)
    else:
        subprocess.run([tool, "run", "-d", "--bundle", str(bundle), name], check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def remove(tool: str, name: str) -> None:
    argv = [*LABKITS[tool], "rm", "-f", name] if tool in LABKITS else [
        tool, "delete", "--force", name]
    subprocess.run(argv, check=True, capture_output=True)


def exec_argv(tool: str, name: str) -> list[str]:
    return [*LABKITS[tool], "exec", name, "--", "/bin/true"] if tool in LABKITS else [
        tool, "exec", name, "/bin/true"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--many", type=int, default=20)
    parser.add_argument("--many-rounds", type=int, default=3,
                        help="times the many-at-once case runs per tool, interleaved (median)")
    parser.add_argument("--compare", type=Path, metavar="DIR",
                        help="another checkout of the kit to measure in the same rounds")
    args = parser.parse_args()
    private_cgroup_view()
    with tempfile.TemporaryDirectory(prefix="lkbench-") as tmp:
        LABKITS["labkit"] = labkit_launcher(Path(tmp))
        if args.compare is not None:
            LABKITS[f"labkit[{args.compare.name}]"] = labkit_launcher(Path(tmp), args.compare)
        tools = [*LABKITS, "runc", "crun"]
        short = {tool: str(i) for i, tool in enumerate(tools)}  # container names: lkbx0, lkbm1n7
        bundles = {tool: None if tool in LABKITS else sleeper_bundle(tool, Path(tmp))
                   for tool in tools}
        exec_ms: dict[str, list[float]] = {tool: [] for tool in tools}
        for tool in tools:
            start_detached(tool, f"lkbx{short[tool]}", bundles[tool])
        try:
            for _ in range(args.runs):
                for tool in tools:
                    begin = time.perf_counter_ns()
                    subprocess.run(exec_argv(tool, f"lkbx{short[tool]}"), check=True,
                                   capture_output=True)
                    exec_ms[tool].append((time.perf_counter_ns() - begin) / 1e6)
        finally:
            for tool in tools:
                remove(tool, f"lkbx{short[tool]}")
        many_rounds: dict[str, list[float]] = {tool: [] for tool in tools}
        for _ in range(args.many_rounds):
            for tool in tools:
                names = [f"lkbm{short[tool]}n{i}" for i in range(args.many)]
                begin = time.perf_counter_ns()
                with ThreadPoolExecutor(args.many) as pool:
                    list(pool.map(lambda n, t=tool: start_detached(t, n, bundles[t]), names))
                many_rounds[tool].append((time.perf_counter_ns() - begin) / 1e6)
                with ThreadPoolExecutor(args.many) as pool:
                    list(pool.map(lambda n, t=tool: remove(t, n), names))
        many_ms = {tool: statistics.median(values) for tool, values in many_rounds.items()}
    base = statistics.median(exec_ms["labkit"])
    print(f"{'case':<48} {'ms':>9} {'labkit / this':>13}")
    for tool in tools:
        median = statistics.median(exec_ms[tool])
        print(f"{tool + ' exec /bin/true (median)':<48} {median:>9.2f} {base / median:>13.2f}")
    for tool in tools:
        print(f"{f'{tool}: {args.many} started at once (wall, median)':<48} {many_ms[tool]:>9.1f} "
              f"{many_ms['labkit'] / many_ms[tool]:>13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
