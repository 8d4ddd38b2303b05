"""How long the test suite takes: wall time, CPU time and machine load per tier, over repeats.

    python scripts/bench_tests.py                      # the fast tier, 3 runs
    python scripts/bench_tests.py --tier all --repeat 1 --out docs/test-timing.json
    python scripts/bench_tests.py --workers 2            # in two pytest-xdist workers, as scripts/test runs it
    python scripts/bench_tests.py --tier smoke --repeat 1 --workers 2 --cpu-per-test 25   # + the 25 costliest in CPU

Each run is `python -m pytest -q -p no:cacheprovider [-m "not smoke"] --durations=N [-n W]` in a child
process. The CPU time is that of the child and everything it waited for (training children,
servers, kernels), so it holds still where the wall time moves with what else the machine runs;
the load average before and after each run says how busy the machine was. Prints one line per run,
the median of each figure, and the slowest tests of the last run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIERS = {"fast": ["-m", "not smoke"], "smoke": ["-m", "smoke"], "all": []}
DURATION = re.compile(r"^\s*([\d.]+)s (call|setup|teardown)\s+(.+?)\s*$", re.M)


def run_once(tier: str, slowest: int, workers: int, cpu_per_test: bool = False) -> dict:
    """One pytest run of `tier`: wall and CPU seconds, load before and after, outcome line, slowest tests
    (and with `cpu_per_test`, every test's CPU seconds through scripts/pytest_cpu_per_test.py)."""
    before_load = os.getloadavg()[0]
    before_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    plugin, per_test = [], tempfile.TemporaryDirectory()
    if cpu_per_test:
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "scripts"), env["PYTHONPATH"]])
        env["MNIST_CNN_CPU_PER_TEST"] = per_test.name
        plugin = ["-p", "pytest_cpu_per_test"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *plugin, f"--durations={slowest}",
         *TIERS[tier], *(["-n", str(workers)] if workers else [])],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    tests = [json.loads(line) for f in Path(per_test.name).glob("*.jsonl") for line in f.read_text().splitlines()]
    per_test.cleanup()
    wall = time.perf_counter() - started
    after_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after_cpu.ru_utime - before_cpu.ru_utime) + (after_cpu.ru_stime - before_cpu.ru_stime)
    lines = done.stdout.strip().splitlines()
    return {
        "tier": tier,
        "workers": workers,
        "exit_code": done.returncode,
        "outcome": lines[-1] if lines else done.stderr.strip()[-300:],
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "load_before": round(before_load, 2),
        "load_after": round(os.getloadavg()[0], 2),
        "slowest": [
            {"seconds": float(s), "phase": phase, "test": test} for s, phase, test in DURATION.findall(done.stdout)
        ],
        "cpu_per_test": sorted(tests, key=lambda r: -(r["own_cpu_s"] + r["children_cpu_s"])),
    }


def main() -> int:
    """Run the chosen tier `--repeat` times; print and optionally save the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", choices=sorted(TIERS), default="fast")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--slowest", type=int, default=15, help="how many of the slowest tests to keep")
    parser.add_argument("--workers", type=int, default=0, help="pytest-xdist workers (0: one process)")
    parser.add_argument(
        "--cpu-per-test",
        type=int,
        default=0,
        metavar="N",
        help="also measure every test's CPU seconds and print the N costliest",
    )
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    runs = []
    for i in range(args.repeat):
        run = run_once(args.tier, args.slowest, args.workers, bool(args.cpu_per_test))
        runs.append(run)
        print(f"run {i + 1}: {run['wall_s']} s wall, {run['cpu_s']} s CPU, load {run['load_before']} -> "
              f"{run['load_after']}; {run['outcome']}")  # fmt: skip
    summary = {
        "tier": args.tier,
        "workers": args.workers,
        "cores": os.cpu_count(),
        "median_wall_s": statistics.median(r["wall_s"] for r in runs),
        "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
        "runs": runs,
    }
    print(f"median: {summary['median_wall_s']} s wall, {summary['median_cpu_s']} s CPU on {summary['cores']} cores")
    for slow in runs[-1]["slowest"]:
        print(f"  {slow['seconds']:7.2f} s {slow['phase']:<8} {slow['test']}")
    costly = runs[-1]["cpu_per_test"][: args.cpu_per_test]
    if costly:
        total = sum(r["own_cpu_s"] + r["children_cpu_s"] for r in runs[-1]["cpu_per_test"])
        print(f"CPU per test (this process + children it waited for; {total:.0f} s over all tests), costliest:")
    for r in costly:
        print(f"  {r['own_cpu_s'] + r['children_cpu_s']:7.1f} s CPU ({r['children_cpu_s']:.1f} in children), "
              f"{r['wall_s']:.1f} s wall  {r['test']}")  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(summary, indent=1) + "\n")
    return max(r["exit_code"] for r in runs)


if __name__ == "__main__":
    sys.exit(main())
