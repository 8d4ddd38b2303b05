"""Compare robustness tables of runs (after `mnist-cnn evaluate RUN --robustness` on each).

For each candidate, prints a Markdown table against the baseline (accuracy and loss of both at
every strength, the ratio of losses, and whether the candidate loses at most half of what the
baseline loses); draws every run in one plot.

    python scripts/robustness_compare.py BASELINE_RUN CANDIDATE_RUN [CANDIDATE_RUN ...] [--plot docs/robustness.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mnist_cnn.plots import plot_robustness

NOISE_PP = 0.2  # a loss this small (in points) on 10,000 images is within test-set noise: no ratio


def _loss(row: dict, key: str) -> float:
    return row["preprocessed_loss" if row["transform"] == "inverted" else key] * 100


def markdown(base: dict, cand: dict, base_name: str, cand_name: str) -> str:
    """One row per transform and strength; inverted is scored through predict's preprocessing."""
    lines = [
        f"| transform | strength | {base_name} | loss | {cand_name} | loss | ratio | at most half |",
        "|---|---|---|---|---|---|---|---|",
        f"| none | | {base['clean_accuracy']:.2%} | | {cand['clean_accuracy']:.2%} | | | |",
    ]
    for b, c in zip(base["rows"], cand["rows"], strict=True):
        acc = "preprocessed_accuracy" if b["transform"] == "inverted" else "accuracy"
        lb, lc = _loss(b, "loss"), _loss(c, "loss")
        ratio = f"{lc / lb:.2f}" if lb > NOISE_PP else "n/a (baseline loss within noise)"
        verdict = "within noise" if max(lb, lc) <= NOISE_PP + 1e-9 else "yes" if lc <= lb / 2 else "no"
        strength = f"{b['strength']} {b['unit']}".strip()
        cells = [b["transform"], strength, f"{b[acc]:.2%}", f"{lb:.2f}", f"{c[acc]:.2%}", f"{lc:.2f}", ratio, verdict]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", type=Path)
    parser.add_argument("candidates", type=Path, nargs="+")
    parser.add_argument("--plot", type=Path, help="draw every run into this PNG")
    args = parser.parse_args()
    runs = [args.baseline, *args.candidates]
    reports = [json.loads((run / "robustness.json").read_text()) for run in runs]
    names = [json.loads((run / "manifest.json").read_text())["name"] for run in runs]
    for report, name in zip(reports[1:], names[1:], strict=True):
        print(markdown(reports[0], report, names[0], name), end="\n\n")
    if args.plot:
        plot_robustness(dict(zip(names, reports, strict=True)), args.plot)


if __name__ == "__main__":
    main()
