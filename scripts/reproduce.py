"""Run every shipped recipe end to end and write the README's results table.

Run:  python scripts/reproduce.py [--runs-dir runs/reproduce] [--output docs/results.md]
Each recipe runs through the real CLI (`mnist-cnn train --json`), one after another; the table
compares the test accuracy each tutorial reported with what this machine measured.
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
    ("configs/chollet.yaml", "keras-io Simple MNIST convnet", "99.22%"),
    ("configs/chollet-holdout10k.yaml", "Chollet convnet, last 10,000 as validation", "98.95%"),
    ("configs/tf-5x5-dense1024.yaml", "TF Deep MNIST network, test set as validation", "98.98%"),
    ("configs/dlwp.yaml", "Deep Learning with Python convnet (SGD)", "not reported"),
]


def run_recipe(config: str, runs_dir: Path) -> dict:
    """Train one recipe via the CLI; return its JSON outcome plus the whole command's wall time."""
    started = time.perf_counter()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mnist_cnn.cli",
            "train",
            "--config",
            str(ROOT / config),
            "--runs-dir",
            str(runs_dir),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"{config} failed ({result.returncode}): {result.stderr.strip().splitlines()[-1:]}")
    outcome = json.loads(result.stdout)
    outcome["wall_seconds"] = round(time.perf_counter() - started, 1)
    return outcome


def table(rows: list[tuple[str, str, str, dict]]) -> str:
    """Markdown results table."""
    lines = [
        "| config | recipe | reported | measured test accuracy | epochs | fit time | whole command |",
        "|---|---|---|---|---|---|---|",
    ]
    for config, recipe, reported, outcome in rows:
        metrics = outcome["metrics"]
        lines.append(
            f"| `{config}` | {recipe} | {reported} | {metrics['test']['accuracy']:.2%} | {metrics['epochs']} "
            f"| {metrics['fit_seconds']:.0f} s | {outcome['wall_seconds']:.0f} s |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, default=ROOT / "runs" / "reproduce")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "results.md")
    parser.add_argument("--only", nargs="*", help="Run just these configs (paths as in the table).")
    args = parser.parse_args()
    rows = []
    for config, recipe, reported in RECIPES:
        if args.only and config not in args.only:
            continue
        print(f"training {config} ...", flush=True)
        outcome = run_recipe(config, args.runs_dir)
        metrics = outcome["metrics"]
        accuracy, seconds = metrics["test"]["accuracy"], metrics["fit_seconds"]
        print(f"  {accuracy:.4f} in {seconds:.0f} s -> {outcome['run_dir']}", flush=True)
        rows.append((config, recipe, reported, outcome))
    from mnist_cnn.runs.environment import cpu_model_and_flags
    from mnist_cnn.tfquiet import import_tensorflow

    import_tensorflow()
    import tensorflow as tf

    versions = f"TensorFlow {tf.__version__}, Python {platform.python_version()}"
    machine = f"{cpu_model_and_flags()[0]}, {os.cpu_count()} logical cores, no GPU, {versions}"
    text = (
        "# Recipe results\n\n"
        f"Produced by `python scripts/reproduce.py` on {time.strftime('%Y-%m-%d')}; machine: {machine}.\n"
        "One run per recipe with its configured seed; fit time is the sum of epoch times from metrics.json.\n\n"
        + table(rows)
        + "\n"
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    (args.output.with_suffix(".json")).write_text(json.dumps([r[3] for r in rows], indent=2) + "\n")
    print(text)


if __name__ == "__main__":
    main()
