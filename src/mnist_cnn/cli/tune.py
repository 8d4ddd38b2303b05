"""`mnist-cnn tune`: hyper-parameter search on Optuna, every trial a run; join, status, report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from mnist_cnn.cli.common import StartByDefault, console, emit_json, err, json_option, show_report


def _workers_option(fn):
    fn = click.option("--no-final", is_flag=True, help="Search only; skip the final re-training over seeds.")(fn)
    fn = click.option(
        "--trials-per-worker", type=click.IntRange(1), default=10, show_default=True,
        help="Trials one worker process trains before a fresh one takes over (bounds its memory).",
    )(fn)  # fmt: skip
    return click.option(
        "--workers", type=click.IntRange(1), default=1, show_default=True, help="Trial processes at once here."
    )(fn)


@click.group(cls=StartByDefault)  # `tune CONFIG ...` is `tune start CONFIG ...`
def tune() -> None:
    """Search hyper-parameters (Optuna), then re-train the best over seeds and compare on test data.

    \b
    mnist-cnn tune configs/chollet.yaml --space configs/space-chollet.yaml --trials 40 --workers 2
    mnist-cnn tune run TUNE_DIR        (another worker joining the same study: shell, Slurm task, Ray task)
    mnist-cnn tune status TUNE_DIR
    mnist-cnn tune report TUNE_DIR [--json]
    """


@tune.command("start")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--space", "space_path", required=True, type=click.Path(dir_okay=False), help="Search space YAML.")
@click.option("--trials", type=click.IntRange(1), default=20, show_default=True,
              help="Finished (completed or pruned) trials to reach.")  # fmt: skip
@click.option("--sampler", type=click.Choice(["tpe", "random", "grid", "cmaes"]), default="tpe", show_default=True)
@click.option("--pruner", type=click.Choice(["median", "hyperband", "none"]), default="median", show_default=True)
@click.option("--objective", type=click.Choice(["val_accuracy", "val_loss"]), default="val_accuracy",
              show_default=True, help="Validation metric to optimise (never the test set).")  # fmt: skip
@click.option("--seed", "tune_seed", type=click.IntRange(0), default=0, show_default=True,
              help="Seeds the sampler's suggestions (trials train with the config's seed).")  # fmt: skip
@click.option("--final-seeds", type=click.IntRange(1), default=5, show_default=True,
              help="Seeds for re-training the best and the base config at the end.")  # fmt: skip
@click.option("--startup-trials", type=click.IntRange(0), default=5, show_default=True,
              help="Trials before TPE models the space and before the pruner prunes.")  # fmt: skip
@click.option("--storage", default="", help="SQLAlchemy URL (postgresql://...) shared by many machines "
              "(default: study.db in the tune directory).")  # fmt: skip
@click.option("--heartbeat", type=click.IntRange(1), default=10, show_default=True,
              help="Seconds between a running trial's heartbeats.")  # fmt: skip
@click.option("--grace-period", type=click.IntRange(1), default=60, show_default=True,
              help="Seconds without a heartbeat before a trial counts as dead and is re-queued.")  # fmt: skip
@click.option("--allow-test-validation", is_flag=True, help="Tune even if the config validates on the test set.")
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE", help="Override a config key for every trial.")
@click.option("--tune-dir", type=click.Path(file_okay=False), help="Where the tune goes (default: tunes/NAME-HASH).")
@_workers_option
@json_option
def tune_start(config_path, space_path, trials, sampler, pruner, objective, tune_seed, final_seeds, startup_trials,
               storage, heartbeat, grace_period, allow_test_validation, sets, tune_dir, workers, no_final,
               trials_per_worker, as_json) -> None:  # fmt: skip
    """Plan a tune (config and space validated like --set, before anything is written) and run it.

    Running the same command again continues the same study to --trials finished trials.
    """
    from mnist_cnn.config import ConfigError
    from mnist_cnn.tune import study as studies

    if grace_period <= heartbeat:
        raise ConfigError(f"--grace-period {grace_period}: must exceed --heartbeat {heartbeat}")
    plan, base_yaml = studies.plan_tune(
        config_path, space_path, list(sets), sampler=sampler, pruner=pruner, objective=objective, trials=trials,
        seed=tune_seed, final_seeds=final_seeds, startup_trials=startup_trials, storage=storage,
        heartbeat_interval=heartbeat, grace_period=grace_period, allow_test_validation=allow_test_validation,
    )  # fmt: skip
    folder = Path(tune_dir) if tune_dir else studies.default_dir(plan, base_yaml)
    if storage:
        studies.make_storage(folder, plan)  # a wrong URL is refused before the folder is made
    new = studies.write(folder, plan, base_yaml)
    console(as_json)(f"{'Planned' if new else 'Found'} tune {folder}: {trials} trials, {len(plan.params)} keys, "
                     f"{sampler} sampler, {pruner} pruner, objective {objective}")  # fmt: skip
    _run(folder, workers, no_final, trials_per_worker, as_json)


@tune.command("run")
@click.argument("tune_dir", type=click.Path(file_okay=False))
@_workers_option
@json_option
def tune_run(tune_dir, workers, no_final, trials_per_worker, as_json) -> None:
    """Join a planned tune: run trials until it has its finished trials, then the final re-training."""
    from mnist_cnn.tune import study as studies

    studies.read(tune_dir)  # exit 2 before anything runs if it is not a tune directory
    _run(Path(tune_dir), workers, no_final, trials_per_worker, as_json)


def _run(folder: Path, workers: int, no_final: bool, trials_per_worker: int, as_json: bool) -> None:
    from mnist_cnn.tune import execute, final
    from mnist_cnn.tune import report as reports
    from mnist_cnn.tune import study as studies

    log = console(as_json)
    tally = execute.run_workers(folder, workers, log, trials_per_worker)
    plan = studies.read(folder)
    summary = {"tune_dir": str(folder), "this_worker": tally.outcomes}
    if not no_final:
        summary["final"] = final.run_final(folder, plan, workers, log)
    report = reports.build_report(folder)
    written = reports.write_report(folder, report)
    if as_json:
        emit_json({**summary, "report": report})
    else:
        click.echo(reports.format_markdown(report))
        err(f"Written: {', '.join(str(p) for p in written)}")
    if any(f["failed"] for f in summary.get("final", {}).values()):
        sys.exit(1)


@tune.command("work", hidden=True)
@click.argument("tune_dir", type=click.Path(file_okay=False))
@click.option("--threads", type=click.IntRange(1), help="Intra-op threads for the trials (recorded).")
@click.option("--max-trials", type=click.IntRange(1), help="Stop after this many trials (default: until none is left).")
def tune_work(tune_dir, threads, max_trials) -> None:
    """Train trials of a tune one after another in this process (what `tune run` starts per worker)."""
    from mnist_cnn.tune import execute, worker

    for result in worker.run_many(Path(tune_dir), threads, console(False), max_trials):
        click.echo(execute.RESULT_PREFIX + json.dumps(result))  # click flushes: the parent reads it now


@tune.command("status")
@click.argument("tune_dir", type=click.Path(file_okay=False))
@json_option
def tune_status(tune_dir, as_json) -> None:
    """Show each trial's state (running, complete, pruned, failed, waiting), epochs and objective."""
    from mnist_cnn.tune.report import format_status, status

    info = status(Path(tune_dir))
    emit_json(info) if as_json else click.echo(format_status(info))


@tune.command("report")
@click.argument("tune_dir", type=click.Path(file_okay=False))
@json_option
def tune_report(tune_dir, as_json) -> None:
    """Trials table, best values as a recipe, final best-vs-base test accuracy over seeds; plots.

    Also writes report.md, report.json, optimization_history.png and param_importances.png into TUNE_DIR/report/.
    """
    from mnist_cnn.tune.report import build_report, format_markdown, write_report

    report = build_report(Path(tune_dir))
    written = write_report(Path(tune_dir), report)
    show_report(report, written, as_json, format_markdown)
