"""Tune benchmark: TPE with median pruning vs no pruning, two workers vs one, and the honest final result.

Full size (what the issue asks; hours of CPU on a 2-core machine):
    python scripts/bench_tune.py --size full
      = 30-trial TPE studies over configs/space-chollet.yaml (learning rate, batch size, dropout,
        filters) for configs/chollet.yaml at 5 epochs on all of MNIST: (A) median pruning, 1 worker,
        (B) A's own trials (same values, same order) replayed without pruning, each trained in
        full: the issue's "same 30 trials without pruning" (--independent-b adds a TPE study without
        pruning, a different search), (C) median pruning, 2 workers; then the best config of A and
        configs/chollet.yaml re-trained over 5 seeds, test accuracy mean ± sd.
Subset size (30 trials x 5 epochs on 3,000 training images; under an hour on the shared 2-core machine):
    python scripts/bench_tune.py --size subset --set reproducibility.intra_op_threads=1 \
        --set reproducibility.inter_op_threads=1 --set output.export=[]
Reduced size (8 trials x 3 epochs; minutes):
    python scripts/bench_tune.py --size reduced
Any knob can be set by hand: --trials --epochs --train-subset --test-subset --final-seeds.

Each study runs through the real CLI (`mnist-cnn tune ... --no-final`), timed as a whole command;
the final re-training is then `mnist-cnn tune run DIR` on study A. Figures go to --out (JSON) and
are printed as Markdown.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = {
    "full": {"trials": 30, "epochs": 5, "train_subset": None, "test_subset": None, "final_seeds": 5},
    "subset": {"trials": 30, "epochs": 5, "train_subset": 3000, "test_subset": 2000, "final_seeds": 5},
    "reduced": {"trials": 8, "epochs": 3, "train_subset": 3000, "test_subset": 2000, "final_seeds": 3},
}


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # every finished descendant, waited for down the tree
    return usage.ru_utime + usage.ru_stime


def _cli(*args: str) -> dict:
    """Wall and CPU seconds of one CLI command, and the machine's load around it (output to the terminal)."""
    started, cpu, load = time.perf_counter(), _children_cpu(), os.getloadavg()[0]
    subprocess.run([sys.executable, "-m", "mnist_cnn.cli", *args], check=True, env=_env(), stdout=sys.stderr)
    # CPU seconds do not depend on what else the machine runs, wall seconds do: both are reported.
    return {"wall_seconds": round(time.perf_counter() - started, 1), "cpu_seconds": round(_children_cpu() - cpu, 1),
            "load_1min": [round(load, 2), round(os.getloadavg()[0], 2)]}  # fmt: skip


def _report(tune_dir: Path) -> dict:
    out = subprocess.run([sys.executable, "-m", "mnist_cnn.cli", "tune", "report", str(tune_dir), "--json"],
                         check=True, capture_output=True, text=True, env=_env())  # fmt: skip
    return json.loads(out.stdout)


def replay(where: Path, name: str, source: Path) -> dict:
    """The same trials as the tune in `source` (its values, in its order), without pruning: each trained in full."""
    sys.path.insert(0, str(ROOT / "src"))
    from mnist_cnn.tune import study as studies

    plan = studies.read(source)
    tune_dir = where / name
    copy = dataclasses.replace(plan, pruner="none", storage="")
    studies.write(tune_dir, copy, (source / studies.BASE_CONFIG_FILE).read_text())
    queue = studies.open_study(tune_dir, copy)
    done = [t for t in studies.open_study(source, plan).get_trials() if t.state.name in studies.FINISHED_STATES]
    for t in sorted(done, key=lambda t: t.number):
        queue.enqueue_trial(t.params)
    timing = _cli("tune", "run", str(tune_dir), "--no-final")
    return _summary(tune_dir, "none", 1, timing)


def _summary(tune_dir: Path, pruner: str, workers: int, timing: dict) -> dict:
    report = _report(tune_dir)
    trials = report["trials"]
    return {"tune_dir": str(tune_dir), "pruner": pruner, "workers": workers, **timing,
            "finished": report["finished"], "pruned": sum(t["state"] == "pruned" for t in trials),
            "epochs_trained": sum(t["epochs"] or 0 for t in trials),
            "fit_seconds": round(sum(t.get("fit_seconds") or 0 for t in trials), 1),
            "best_objective": report["best"]["objective"] if report["best"] else None,
            "best_params": report["best"]["params"] if report["best"] else None}  # fmt: skip


def study(where: Path, name: str, knobs: dict, pruner: str, workers: int, startup: int) -> dict:
    """Run one study (search only) and summarise it."""
    tune_dir = where / name
    sets = ["--set", f"train.epochs={knobs['epochs']}", *(a for s in knobs["sets"] for a in ("--set", s))]
    if knobs["train_subset"]:
        sets += ["--set", f"data.subset.train={knobs['train_subset']}"]
    if knobs["test_subset"]:
        sets += ["--set", f"data.subset.test={knobs['test_subset']}"]
    configs = ROOT / "configs"
    timing = _cli("tune", str(configs / "chollet.yaml"), "--space", str(configs / "space-chollet.yaml"), *sets,
                   "--trials", str(knobs["trials"]), "--pruner", pruner, "--workers", str(workers),
                   "--startup-trials", str(startup), "--final-seeds", str(knobs["final_seeds"]), "--no-final",
                   "--tune-dir", str(tune_dir))  # fmt: skip
    return _summary(tune_dir, pruner, workers, timing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="reduced")
    for knob in ("trials", "epochs", "train_subset", "test_subset", "final_seeds"):
        parser.add_argument("--" + knob.replace("_", "-"), type=int)
    parser.add_argument("--startup-trials", type=int, default=5)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="Extra config override for every study (reproducibility.intra_op_threads=1).")  # fmt: skip
    parser.add_argument("--skip-two-workers", action="store_true")
    parser.add_argument(
        "--independent-b",
        action="store_true",
        help="Also run a TPE study without pruning (a different search: TPE sees other results).",
    )
    parser.add_argument(
        "--replay-of",
        type=Path,
        metavar="TUNE_DIR",
        help="Only replay this tune's trials without pruning (B for an A run before) and print it.",
    )
    parser.add_argument("--keep", type=Path, help="Keep the tune directories here (default: a temporary folder).")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "tune-benchmark.json")
    args = parser.parse_args()
    knobs = {k: (getattr(args, k) if getattr(args, k) is not None else v) for k, v in SIZES[args.size].items()}
    knobs["sets"] = args.sets
    if args.replay_of:
        b = replay(args.keep or args.replay_of.parent, "B-same-trials-no-pruning", args.replay_of)
        args.out.write_text(json.dumps({"command": " ".join(["python scripts/bench_tune.py", *sys.argv[1:]]),
                                        "B_same_trials_no_pruning": b}, indent=2) + "\n")  # fmt: skip
        print(json.dumps(b, indent=2))
        return
    with tempfile.TemporaryDirectory() as tmp:
        where = args.keep or Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        a = study(where, "A-median-1w", knobs, "median", 1, args.startup_trials)
        b = replay(where, "B-same-trials-no-pruning", Path(a["tune_dir"]))  # the "same 30 trials"
        b_tpe = study(where, "B-tpe-none-1w", knobs, "none", 1, args.startup_trials) if args.independent_b else None
        c = None if args.skip_two_workers else study(where, "C-median-2w", knobs, "median", 2, args.startup_trials)
        final_timing = _cli("tune", "run", a["tune_dir"])
        final = _report(Path(a["tune_dir"]))["final"]
    result = {"size": args.size, "knobs": knobs, "startup_trials": args.startup_trials,
              "command": " ".join(["python scripts/bench_tune.py", *sys.argv[1:]]),
              "A_median_1_worker": a, "B_same_trials_no_pruning": b, "B_tpe_no_pruning": b_tpe, "C_median_2_workers": c,
              "pruning_saves": round(1 - a["wall_seconds"] / b["wall_seconds"], 3),
              "pruning_saves_cpu": round(1 - a["cpu_seconds"] / b["cpu_seconds"], 3),
              "two_workers_speedup": round(a["wall_seconds"] / c["wall_seconds"], 2) if c else None,
              "cores": os.cpu_count(), "final_timing": final_timing, "final": final}  # fmt: skip
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))


def markdown(r: dict) -> str:
    """The figures as a Markdown table and two sentences."""
    rows = [("A", "median", r["A_median_1_worker"]), ("B (A's trials)", "none", r["B_same_trials_no_pruning"])]
    if r.get("B_tpe_no_pruning"):
        rows.append(("B' (own TPE)", "none", r["B_tpe_no_pruning"]))
    if r["C_median_2_workers"]:
        rows.append(("C", "median", r["C_median_2_workers"]))
    lines = ["| study | pruner | workers | wall time | CPU time | load (1 min, start/end) | pruned | epochs trained "
             "| best val_accuracy |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for label, pruner, s in rows:
        best = "–" if s["best_objective"] is None else f"{s['best_objective']:.4f}"
        lines.append(f"| {label} | {pruner} | {s['workers']} | {s['wall_seconds'] / 60:.1f} min | "
                     f"{s['cpu_seconds'] / 60:.1f} min | {s['load_1min'][0]} / {s['load_1min'][1]} | "
                     f"{s['pruned']} of {s['finished']} | {s['epochs_trained']} | {best} |")  # fmt: skip
    lines += ["", f"Pruning saved {100 * r['pruning_saves']:.0f}% of the wall time "
              f"({100 * r['pruning_saves_cpu']:.0f}% of the CPU time)."]  # fmt: skip
    if r["two_workers_speedup"]:
        lines.append(f"Two workers: {r['two_workers_speedup']:.2f}x the speed of one.")
    fin = r["final"]
    if fin:
        for which in ("best", "base"):
            s = fin[which]
            sd = "" if s["std"] is None else f" ± {100 * s['std']:.2f}"
            lines.append(f"Final {which}: test accuracy {100 * s['mean']:.2f}%{sd} over {s['n']} seeds.")
        lines.append(fin["verdict"])
    return "\n".join(lines)


if __name__ == "__main__":
    main()
