"""What other pruner settings would have done: Optuna's own pruners replayed over a finished unpruned study.

    python scripts/replay_pruners.py TUNE_DIR [--json FILE]

TUNE_DIR is a tune trained without pruning (`--pruner none`, e.g. the benchmark's "B: the same 30
trials, no pruning"), so every trial's whole validation curve is known. Each setting below is
replayed in a fresh in-memory Optuna study: the trials are told in their original order, each
reports its recorded objective epoch by epoch, and Optuna's pruner (the real class, not a copy of
its rule) decides where it would have stopped. What comes out per setting: trials pruned, epochs
trained, and the best objective the study would have found. No training is done, so this shows the
trade-off between pruning harder and keeping the eventual winner on one set of curves; it does not
replace a measured run (a pruned study's sampler also sees different results and suggests
different trials later on).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# (label, pruner from optuna and the last epoch): the tune's default first, then more patient and more eager ones.
SETTINGS = [
    ("median, 5 start-up trials, from epoch 1 (the tune's default)", lambda o, _last: o.pruners.MedianPruner(5, 0)),
    ("median, 5 start-up, from epoch 2", lambda o, _last: o.pruners.MedianPruner(5, 2)),
    ("median, 5 start-up, from epoch 3", lambda o, _last: o.pruners.MedianPruner(5, 3)),
    ("median, 3 start-up, from epoch 1", lambda o, _last: o.pruners.MedianPruner(3, 0)),
    ("median, 8 start-up, from epoch 1", lambda o, _last: o.pruners.MedianPruner(8, 0)),
    ("keep the top 60% (percentile 60), 5 start-up", lambda o, _last: o.pruners.PercentilePruner(60.0, 5, 0)),
    ("keep the top 70% (percentile 70), 3 start-up", lambda o, _last: o.pruners.PercentilePruner(70.0, 3, 0)),
    ("hyperband, epochs 1 to the last", lambda o, last: o.pruners.HyperbandPruner(min_resource=1, max_resource=last)),
]


def recorded_curves(tune_dir: Path) -> tuple[str, list[dict[int, float]]]:
    """The study's direction and each finished trial's objective per epoch, in trial order."""
    sys.path.insert(0, str(ROOT / "src"))
    from mnist_cnn.tune import study as studies

    plan = studies.read(tune_dir)
    trials = [t for t in studies.open_study(tune_dir, plan).get_trials() if t.state.name in studies.FINISHED_STATES]
    pruned = [t.number for t in trials if t.state.name == "PRUNED"]
    if pruned:
        raise SystemExit(f"{tune_dir}: trials {pruned} were pruned, so their curves are cut short; replay a study "
                         "run with --pruner none")  # fmt: skip
    return plan.direction, [dict(t.intermediate_values) for t in sorted(trials, key=lambda t: t.number)]


def replay(curves: list[dict[int, float]], direction: str, pruner) -> dict:
    """Tell `curves` to a fresh study with `pruner`: trials pruned, epochs trained, best objective."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    # A fixed name: Hyperband assigns trials to brackets by hashing the study's name with the trial number.
    study = optuna.create_study(study_name="replay", direction=direction, pruner=pruner)
    better = max if direction == "maximize" else min
    pruned = epochs = 0
    for curve in curves:
        trial = study.ask()
        seen = []
        for step in sorted(curve):
            trial.report(curve[step], step)
            seen.append(curve[step])
            if trial.should_prune():
                break
        epochs += len(seen)
        if len(seen) < len(curve):
            pruned += 1
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, better(seen))  # the tune's objective: the best epoch's value
    return {"pruned": pruned, "epochs": epochs, "best": study.best_value}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tune_dir", type=Path)
    parser.add_argument("--json", type=Path, help="Also write the figures here.")
    args = parser.parse_args()
    import optuna

    direction, curves = recorded_curves(args.tune_dir)
    last = max(max(c) for c in curves)
    rows = [{"setting": "no pruning (the study as recorded)", "pruned": 0, "epochs": sum(len(c) for c in curves),
             "best": (max if direction == "maximize" else min)(v for c in curves for v in c.values())}]  # fmt: skip
    for label, make in SETTINGS:
        rows.append({"setting": label, **replay(curves, direction, make(optuna, last))})
    print(f"{len(curves)} trials of {args.tune_dir}, replayed (no training):\n")
    print("| pruner | pruned | epochs trained | best objective |\n|---|---|---|---|")
    for r in rows:
        share = r["epochs"] / rows[0]["epochs"]
        print(f"| {r['setting']} | {r['pruned']} | {r['epochs']} ({share:.0%}) | {r['best']:.5f} |")
    if args.json:
        args.json.write_text(json.dumps({"tune_dir": str(args.tune_dir), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
