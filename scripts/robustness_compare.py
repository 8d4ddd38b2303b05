"""Compare the robustness tables of two runs (after `mnist-cnn evaluate RUN --robustness` on each).

Prints a Markdown table (accuracy and loss of each run at every strength, the ratio of losses, and
whether the second run loses at most half of what the first loses) and draws both runs in one plot.

    python scripts/robustness_compare.py BASELINE_RUN CANDIDATE_RUN [--plot docs/robustness.png]
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
    parser.add_argument("candidate", type=Path)
    parser.add_argument("--plot", type=Path, help="write both runs into this PNG")
    args = parser.parse_args()
    base, cand = (json.loads((run / "robustness.json").read_text()) for run in (args.baseline, args.candidate))
    names = [json.loads((run / "manifest.json").read_text())["name"] for run in (args.baseline, args.candidate)]
    print(markdown(base, cand, *names))
    if args.plot:
        plot_robustness(dict(zip(names, (base, cand), strict=True)), args.plot)


if __name__ == "__main__":
    main()
