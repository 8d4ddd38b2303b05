"""Sweep throughput with W=1 vs W=2 local workers, side by side on this machine.

Run:  python scripts/bench_sweep.py [--seeds 4] [--rounds 1] [--out docs/sweep-benchmark.json]
Each measurement is a fresh sweep of configs/smoke.yaml over N seeds through the real CLI
(`mnist-cnn sweep ... --workers W`), whole command wall time. The order is ABBA per round
(W=1, W=2, W=2, W=1) so that a drift in machine load hits both equally; figures are medians.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_sweep(workers: int, seeds: int, where: Path) -> float:
    """Wall seconds of one complete sweep with `workers` processes."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mnist_cnn.cli", "sweep", str(ROOT / "configs" / "smoke.yaml"), "--seeds", str(seeds),
         "--workers", str(workers), "--sweep-dir", str(where), "--json"],
        check=True, stdout=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "sweep-benchmark.json")
    args = parser.parse_args()
    times: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for i, workers in enumerate((1, 2, 2, 1)):
                seconds = one_sweep(workers, args.seeds, Path(tmp) / f"r{r}-{i}-w{workers}")
                times[workers].append(round(seconds, 1))
                print(f"W={workers}: {seconds:.1f} s for {args.seeds} trials", flush=True)
    med = {w: statistics.median(t) for w, t in times.items()}
    result = {
        "trials_per_sweep": args.seeds,
        "config": "configs/smoke.yaml",
        "cores": len(os.sched_getaffinity(0)),
        "seconds": times,
        "median_seconds": med,
        "trials_per_minute": {w: round(60 * args.seeds / s, 2) for w, s in med.items()},
        "speedup_w2_over_w1": round(med[1] / med[2], 2),
    }
    args.out.write_text(json.dumps(result, indent=2, allow_nan=False) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
