"""The honest result: the best configuration and the base one, each re-trained over K seeds as sweeps.

The search picked its winner on validation data, so its own test accuracy is optimistic. Here
both configs train on the same K seeds (ordinary sweeps in final-best/ and final-base/), and the
report compares their TEST accuracy mean ± sd.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mnist_cnn import atomic, config
from mnist_cnn.config import ConfigError
from mnist_cnn.sweep import execute as sweep_execute
from mnist_cnn.sweep import plan as sweep_plans
from mnist_cnn.sweep import report as sweep_report
from mnist_cnn.tune import space as spaces
from mnist_cnn.tune import study as studies

BEST_RECIPE = "best.yaml"
FINAL_DIRS = {"best": "final-best", "base": "final-base"}


def best_trial(tune_dir: Path, plan: studies.TunePlan):
    """The completed trial with the best objective; ConfigError if none has completed."""
    study = studies.open_study(tune_dir, plan)
    done = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not done:
        raise ConfigError(f"{tune_dir}: no trial has completed yet; run `mnist-cnn tune run {tune_dir}` first")
    return study.best_trial


def best_overrides(trial) -> list[str]:
    """The best trial's values as --set texts."""
    return [spaces.override(k, v) for k, v in trial.params.items()]


def write_recipe(tune_dir: Path, plan: studies.TunePlan, trial) -> Path:
    """best.yaml: the base config with the best values, ready for `mnist-cnn train --config`."""
    cfg = config.load(Path(tune_dir) / studies.BASE_CONFIG_FILE, [*best_overrides(trial), f"name={plan.name}-tuned"])
    header = [f"# Tuned by mnist-cnn tune ({tune_dir}): trial {trial.number}, {plan.objective} {trial.value:.4f}",
              *(f"#   {k}: {v}" for k, v in trial.params.items()), ""]  # fmt: skip
    path = Path(tune_dir) / BEST_RECIPE
    atomic.write_text(path, "\n".join(header) + config.to_yaml(cfg))
    return path


def final_plans(tune_dir: Path, plan: studies.TunePlan) -> dict[str, tuple[Path, sweep_plans.Plan, str]]:
    """The two sweeps (best, base) over the same seeds: {which: (folder, plan, base yaml)}."""
    trial = best_trial(tune_dir, plan)
    base_path = Path(tune_dir) / studies.BASE_CONFIG_FILE
    seeds = str(plan.final_seeds)
    plans = {}
    for which, sets in (("best", best_overrides(trial)), ("base", [])):
        the_plan, base_yaml = sweep_plans.expand(base_path, sets, {}, seeds)
        plans[which] = (Path(tune_dir) / FINAL_DIRS[which], the_plan, base_yaml)
    return plans


def run_final(tune_dir: Path, plan: studies.TunePlan, workers: int, echo: Callable[[str], None]) -> dict:
    """Write best.yaml, then run both sweeps (resuming where they stopped); what each sweep did."""
    write_recipe(tune_dir, plan, best_trial(tune_dir, plan))
    done = {}
    for which, (folder, the_plan, base_yaml) in final_plans(tune_dir, plan).items():
        sweep_plans.write(folder, the_plan, base_yaml)  # already there: run_local skips its finished trials
        echo(f"Final re-training, {which} config, {plan.final_seeds} seeds: {folder}")
        run = run_in_process if workers == 1 else sweep_execute.run_local
        tally = run(folder, the_plan, workers, echo)
        done[which] = {"finished_now": tally.done, "failed": tally.failed, "held_elsewhere": tally.busy}
    return done


def run_in_process(folder: Path, the_plan: sweep_plans.Plan, workers: int, echo: Callable[[str], None]):
    """One worker: the sweep's runs one after another in this process (TensorFlow imported once), each
    through `sweep run --index`'s own code; a run needing other thread settings goes to a fresh process."""

    from mnist_cnn.errors import MnistCnnError
    from mnist_cnn.sweep import trial as sweep_trials
    from mnist_cnn.train.stop_rules import Diverged
    from mnist_cnn.tune import worker

    tally = sweep_execute.Tally()
    todo = sweep_execute.pending(folder, the_plan, tally)
    echo(f"{len(todo)} of {len(the_plan.trials)} runs to train, one after another in this process")
    for index in todo:
        trial = the_plan.trials[index]
        state = sweep_trials.state_of(folder, trial)
        cfg = sweep_plans.trial_config(folder, trial)
        try:
            worker.prepare_process(state.run, cfg)
        except worker.FreshProcessNeeded:  # e.g. a run started by two workers, resumed by one: its own process
            rest = sweep_execute.run_local(folder, the_plan, 1, echo)
            return sweep_execute.Tally(tally.done + rest.done, tally.skipped, tally.failed + rest.failed, rest.busy)
        try:  # the run's own train.log keeps its console; here one line per run, as the process executor says
            sweep_trials.run_trial(folder, trial, None, lambda _line: None)
        except (MnistCnnError, Diverged, OSError) as exc:  # recorded in the run's manifest; go on with the others
            tally.failed.append(trial.id)
            echo(f"FAILED {trial.id}: {exc}")
            continue
        sweep_execute.record_exit(folder, the_plan, index, 0, tally, echo)
    return tally


def compare(tune_dir: Path) -> dict | None:
    """Test accuracy mean ± sd of best and base over the same seeds, and whether the gap beats the spread."""
    stats = {}
    for which, name in FINAL_DIRS.items():
        folder = Path(tune_dir) / name
        if not (folder / sweep_plans.PLAN_FILE).exists():
            return None
        report = sweep_report.build_report(folder, sweep_plans.read(folder))
        stats[which] = {**report["points"][0]["test_accuracy"], "planned": report["points"][0]["planned"],
                        "sweep_dir": str(folder)}  # fmt: skip
    return {**stats, "verdict": verdict(stats["best"], stats["base"])}


def verdict(best: dict, base: dict) -> str:
    """One plain sentence: is the tuned config's gain larger than the seed-to-seed spread?"""
    if best["n"] < 2 or base["n"] < 2:
        return "Not enough finished seeds yet (at least 2 each) to compare against the seed spread."
    gain = 100 * (best["mean"] - base["mean"])
    spread = 100 * max(best["std"], base["std"])
    direction = "higher" if gain >= 0 else "lower"
    size = "larger" if abs(gain) > spread else "not larger"
    return (f"The tuned config's mean test accuracy is {abs(gain):.2f} points {direction} than the base config's "
            f"over the same {min(best['n'], base['n'])} seeds; that difference is {size} than the seed-to-seed "
            f"spread (largest sd {spread:.2f} points).")  # fmt: skip
