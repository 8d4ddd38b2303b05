"""`mnist-cnn sweep`: plan and run many trials (config × grid × seeds), run one by index, report, status."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mnist_cnn.cli.common import console, emit_json, json_option, show_report
from mnist_cnn.errors import EXIT_RUNTIME, UsageError


class _SweepGroup(click.Group):
    """`sweep CONFIG ...` means `sweep start CONFIG ...`; `sweep run|report|status ...` are subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["start", *args]
        return super().parse_args(ctx, args)


def _executor_options(fn):
    fn = click.option("--address", help="Ray cluster address (with --executor ray; default: start a local Ray).")(fn)
    fn = click.option(
        "--cpus-per-trial", type=click.IntRange(1), default=1, show_default=True, help="Ray: CPUs (threads) per trial."
    )(fn)
    fn = click.option(
        "--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True, help="Who runs trials."
    )(fn)
    return click.option(
        "--workers", type=click.IntRange(1), default=1, show_default=True, help="Local trial processes at once."
    )(fn)


@click.group(cls=_SweepGroup)
def sweep() -> None:
    """Many runs from one command: CONFIG × --grid × --seeds, then `sweep report DIR`.

    \b
    mnist-cnn sweep configs/chollet.yaml --seeds 5 --grid train.batch_size=64,128 --workers 2
    mnist-cnn sweep run SWEEP_DIR --index I     (one trial: Slurm arrays, Kubernetes indexed Jobs)
    mnist-cnn sweep status SWEEP_DIR
    mnist-cnn sweep report SWEEP_DIR [--json]
    """


@sweep.command("start")
@click.argument("config_path", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--seeds", default="1", show_default=True, help="A count (5: the config's seed and 4 more) or a list.")
@click.option("--grid", multiple=True, metavar="KEY.PATH=V1,V2", help="Values to try for a config key (repeatable).")
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE", help="Override a config key for every trial.")
@click.option("--sweep-dir", type=click.Path(file_okay=False), help="Where the sweep goes (default: sweeps/NAME-HASH).")
@click.option("--plan-only", is_flag=True, help="Write the plan and a Slurm script, print how to run it; run nothing.")
@_executor_options
@json_option
def sweep_start(config_path, seeds, grid, sets, sweep_dir, plan_only, workers, executor, cpus_per_trial, address,
                as_json) -> None:  # fmt: skip
    """Plan a sweep (every trial validated like --set, before anything is written) and run it.

    Running the same command again skips finished trials and resumes interrupted ones.
    """
    from mnist_cnn.sweep import plan as plans

    the_plan, base_yaml = plans.expand(config_path, list(sets), plans.parse_grid(grid), seeds)
    folder = Path(sweep_dir) if sweep_dir else plans.default_dir(the_plan, base_yaml)
    new = plans.write(folder, the_plan, base_yaml)
    log = console(as_json)
    log(f"{'Planned' if new else 'Found'} sweep {folder}: {len(the_plan.trials)} trials "
        f"({len(the_plan.points)} grid point(s) × {len(the_plan.seeds)} seed(s))")  # fmt: skip
    if plan_only:
        script = plans.write_sbatch(folder, the_plan)
        array = plans.array_range(the_plan)
        if as_json:
            emit_json({"sweep_dir": str(folder), "trials": len(the_plan.trials), "sbatch": str(script),
                       "array": array})  # fmt: skip
        else:
            last = len(the_plan.trials) - 1
            click.echo(f"Run trial I with: mnist-cnn sweep run {folder} --index I   (I = 0..{last})")
            click.echo(f"Slurm: sbatch --array={array} {script}   (a ready job-array script: check its #SBATCH sizes)")
        return
    _execute(folder, the_plan, workers, executor, cpus_per_trial, address, as_json)


@sweep.command("run")
@click.argument("sweep_dir", type=click.Path(file_okay=False))
@click.option("--index", type=int, help="Run only trial I (e.g. $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX).")
@click.option("--threads", type=click.IntRange(1), help="Intra-op threads for a trial started here (recorded).")
@_executor_options
@json_option
def sweep_run(sweep_dir, index, threads, workers, executor, cpus_per_trial, address, as_json) -> None:
    """Run a planned sweep's unfinished trials, or only trial --index (skipped if finished or taken)."""
    from mnist_cnn.sweep import plan as plans

    the_plan = plans.read(sweep_dir)
    if index is None:
        if threads:
            raise UsageError("--threads is for one trial (--index I); --workers splits the cores by itself")
        _execute(Path(sweep_dir), the_plan, workers, executor, cpus_per_trial, address, as_json)
        return
    from mnist_cnn.sweep.trial import run_trial

    trial = plans.trial_at(the_plan, index)
    what = run_trial(Path(sweep_dir), trial, threads, console(as_json))
    if as_json:
        emit_json({"trial": trial.id, "index": index, "outcome": what})


def _execute(folder: Path, the_plan, workers, executor, cpus_per_trial, address, as_json) -> None:
    from mnist_cnn.sweep import execute

    log = console(as_json)
    if executor == "ray":
        if workers != 1:
            raise UsageError("--workers is for the local executor; with Ray, --cpus-per-trial sets each trial's share")
        _require_ray()
        from mnist_cnn.sweep.ray_executor import run_ray

        tally = run_ray(folder, the_plan, address, cpus_per_trial, log)
    else:
        if address:
            raise UsageError("--address is for --executor ray")
        tally = execute.run_local(folder, the_plan, workers, log)
    summary = {"sweep_dir": str(folder), "finished_now": tally.done, "already_finished": tally.skipped,
               "failed": tally.failed, "held_elsewhere": tally.busy}  # fmt: skip
    if as_json:
        emit_json(summary)
    else:
        log(f"{len(tally.done)} finished now, {len(tally.skipped)} already finished, {len(tally.failed)} failed, "
            f"{len(tally.busy)} held by another executor. Report: mnist-cnn sweep report {folder}")  # fmt: skip
    if tally.failed:
        sys.exit(EXIT_RUNTIME)


def _require_ray() -> None:
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise UsageError("--executor ray needs Ray: pip install 'mnist-cnn[ray]'")


@sweep.command("status")
@click.argument("sweep_dir", type=click.Path(file_okay=False))
@json_option
def sweep_status(sweep_dir, as_json) -> None:
    """Show each trial's state (pending, running, finished, interrupted, failed) and epochs done."""
    from mnist_cnn.sweep import plan as plans
    from mnist_cnn.sweep.report import format_status, status_rows

    the_plan = plans.read(sweep_dir)
    rows = status_rows(Path(sweep_dir), the_plan)
    emit_json({"sweep_dir": sweep_dir, "trials": rows}) if as_json else click.echo(format_status(rows))


@sweep.command("report")
@click.argument("sweep_dir", type=click.Path(file_okay=False))
@json_option
def sweep_report(sweep_dir, as_json) -> None:
    """Per grid point: n, test accuracy and fit time mean ± std, min, max; a plot; unfinished trials listed.

    Also writes report.md, report.json and accuracy.png into SWEEP_DIR/report/.
    """
    from mnist_cnn.sweep import plan as plans
    from mnist_cnn.sweep.report import build_report, format_markdown, write_report

    the_plan = plans.read(sweep_dir)
    report = build_report(Path(sweep_dir), the_plan)
    written = write_report(Path(sweep_dir), report)
    show_report(report, written, as_json, format_markdown)
