"""Run every shipped recipe over several seeds (a sweep each) and write the README's results table.

Run:  python scripts/reproduce.py [--seeds 5] [--workers 1] [--sweeps-dir sweeps/reproduce] [--only CONFIG ...]
Each recipe is one `mnist-cnn sweep CONFIG --seeds N` through the real CLI, then `sweep report
--json`. Re-running resumes: finished trials are skipped, interrupted ones continue. The table
sets the accuracy each tutorial reported against the measured mean ± sample standard deviation
over seeds, and says whether the reported figure is within seed noise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPES = [
    ("configs/chollet.yaml", "keras-io Simple MNIST convnet", 0.9922),
    ("configs/chollet-holdout10k.yaml", "Chollet convnet, last 10,000 as validation", 0.9895),
    ("configs/tf-5x5-dense1024.yaml", "TF Deep MNIST network, test set as validation", 0.9898),
    ("configs/dlwp.yaml", "Deep Learning with Python convnet (SGD)", None),
]


def cli(*args: str) -> subprocess.CompletedProcess:
    """Run `mnist-cnn ARGS` from this checkout; its progress goes to our stderr."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "mnist_cnn.cli", *args], stdout=subprocess.PIPE, text=True, env=env)


def sweep_recipe(config: str, seeds: int, workers: int, sweep_dir: Path) -> dict:
    """Run (or finish) one recipe's seed sweep and return its report."""
    run = cli("sweep", str(ROOT / config), "--seeds", str(seeds), "--workers", str(workers),
              "--sweep-dir", str(sweep_dir), "--json")  # fmt: skip
    if run.returncode not in (0, 1):  # 1: some trial failed; the report lists it
        sys.exit(f"{config}: sweep exited {run.returncode}")
    report = cli("sweep", "report", str(sweep_dir), "--json")
    if report.returncode != 0:
        sys.exit(f"{config}: sweep report exited {report.returncode}")
    return json.loads(report.stdout)


def verdict(reported: float | None, acc: dict) -> str:
    """What the measured spread says about the tutorial's single reported number."""
    if reported is None:
        return "no claim to test"
    if acc["n"] < 2 or acc["std"] is None:
        return "too few seeds to judge"
    z = (reported - acc["mean"]) / acc["std"] if acc["std"] > 0 else float("inf")
    where = "within" if acc["min"] <= reported <= acc["max"] else "outside"
    if abs(z) <= 2:
        return f"within seed noise ({z:+.1f} std; {where} the measured range)"
    return f"{'above' if z > 0 else 'below'} what seeds explain ({z:+.1f} std): likely another setup (or a rare draw)"


def table(rows: list[tuple[str, str, float | None, dict]]) -> str:
    """Markdown results table: reported vs measured mean ± std over seeds."""
    lines = [
        "| config | recipe | reported | measured mean ± std (n seeds) | min – max | epochs | fit time (mean) | "
        "the claim |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for config, recipe, reported, report in rows:
        point = report["points"][0]
        acc, fit = point["test_accuracy"], point["fit_seconds"]
        epochs = sorted({t["epochs"] for t in report["trials"] if t["epochs"] is not None})
        std = "" if acc["std"] is None else f" ± {acc['std']:.2%}"
        shown = "not reported" if reported is None else f"{reported:.2%}"
        if acc["n"] == 0:
            lines.append(f"| `{config}` | {recipe} | {shown} | no finished seed | | | | |")
            continue
        lines.append(
            f"| `{config}` | {recipe} | {shown} | {acc['mean']:.2%}{std} ({acc['n']}) | {acc['min']:.2%} – "
            f"{acc['max']:.2%} | {'–'.join(map(str, epochs[:1] + epochs[-1:] if len(epochs) > 1 else epochs))} | "
            f"{fit['mean']:.0f} s | {verdict(reported, acc)} |"
        )
    return "\n".join(lines)


def machine() -> str:
    """CPU, cores and versions, for the table's caption."""
    sys.path.insert(0, str(ROOT / "src"))
    from mnist_cnn.runs.environment import cpu_model_and_flags
    from mnist_cnn.tfquiet import import_tensorflow

    import_tensorflow()
    import tensorflow as tf

    versions = f"TensorFlow {tf.__version__}, Python {platform.python_version()}"
    return f"{cpu_model_and_flags()[0]}, {os.cpu_count()} logical cores, no GPU, {versions}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="Seeds per recipe, from the recipe's own seed on.")
    parser.add_argument("--workers", type=int, default=1, help="Trial processes at once (1 for timings).")
    parser.add_argument("--sweeps-dir", type=Path, default=ROOT / "sweeps" / "reproduce")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "results.md")
    parser.add_argument("--only", nargs="*", help="Run just these configs (paths as in the table).")
    args = parser.parse_args()
    rows = []
    for config, recipe, reported in RECIPES:
        if args.only and config not in args.only:
            continue
        print(f"sweeping {config} over {args.seeds} seeds ...", flush=True)
        report = sweep_recipe(config, args.seeds, args.workers, args.sweeps_dir / Path(config).stem)
        acc = report["points"][0]["test_accuracy"]
        print(f"  n={acc['n']} mean={acc['mean']} std={acc['std']} -> {report['sweep_dir']}", flush=True)
        rows.append((config, recipe, reported, report))
    text = (
        "# Recipe results\n\n"
        f"Produced by `python scripts/reproduce.py --seeds {args.seeds} --workers {args.workers}` on "
        f"{time.strftime('%Y-%m-%d')}; "
        f"machine: {machine()}.\n"
        f"Each recipe is a sweep over {args.seeds} seeds (the recipe's seed and the next ones); "
        "± is the sample standard deviation over seeds; fit time is the sum of epoch times from metrics.json "
        "(on a shared machine it varies with the load, the accuracies do not).\n\n" + table(rows) + "\n"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    args.output.with_suffix(".json").write_text(json.dumps([r[3] for r in rows], indent=2, allow_nan=False) + "\n")
    print(text)


if __name__ == "__main__":
    main()
