"""Compare robustness tables of runs (after `mnist-cnn evaluate RUN --robustness` on each).

Prints one Markdown table: accuracy and loss (points against undistorted images) of every run at
every strength and, for each candidate, the ratio of its loss to the baseline's and whether it
loses at most half of what the baseline loses (a ratio is left out where the baseline's loss is
within test-set noise). Draws every run in one plot.

    python scripts/robustness_compare.py BASELINE_RUN CANDIDATE_RUN [CANDIDATE_RUN ...] [--plot docs/robustness.png]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mnist_cnn.plots import plot_robustness
from mnist_cnn.runs import manifest
from mnist_cnn.runs.rundir import RunDir

NOISE_PP = 0.2  # a loss this small (in points) on 10,000 images is within test-set noise: no ratio


def _loss(row: dict, key: str) -> float:
    return row["preprocessed_loss" if row["transform"] == "inverted" else key] * 100


def markdown(reports: list[dict], names: list[str]) -> str:
    """One row per transform and strength, the first report the baseline; inverted is scored through predict's
    preprocessing. Each candidate gets its accuracy, loss, loss ratio to the baseline's and whether it is at most half.
    """
    base, candidates = reports[0], reports[1:]
    header = ["transform", "strength", names[0], "loss"]
    for name in names[1:]:
        header += [name, "loss", "ratio", "at most half"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    clean = ["none", "", f"{base['clean_accuracy']:.2%}", ""]
    for cand in candidates:
        clean += [f"{cand['clean_accuracy']:.2%}", "", "", ""]
    lines.append("| " + " | ".join(clean) + " |")
    for i, b in enumerate(base["rows"]):
        acc = "preprocessed_accuracy" if b["transform"] == "inverted" else "accuracy"
        lb = _loss(b, "loss")
        cells = [b["transform"], f"{b['strength']} {b['unit']}".strip(), f"{b[acc]:.2%}", f"{lb:.2f}"]
        for cand in candidates:
            c = cand["rows"][i]
            lc = _loss(c, "loss")
            ratio = f"{lc / lb:.2f}" if lb > NOISE_PP else "n/a"
            verdict = "within noise" if max(lb, lc) <= NOISE_PP + 1e-9 else "yes" if lc <= lb / 2 else "no"
            cells += [f"{c[acc]:.2%}", f"{lc:.2f}", ratio, verdict]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("baseline", type=Path)
    parser.add_argument("candidates", type=Path, nargs="+")
    parser.add_argument("--plot", type=Path, help="draw every run into this PNG")
    args = parser.parse_args()
    runs = [args.baseline, *args.candidates]
    reports = [json.loads(RunDir(run).robustness.read_text()) for run in runs]
    names = [manifest.read(RunDir(run)).name for run in runs]
    print(markdown(reports, names))
    if args.plot:
        plot_robustness(dict(zip(names, reports, strict=True)), args.plot)


if __name__ == "__main__":
    main()
