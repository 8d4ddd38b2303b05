"""`mnist-cnn train`: start a run from a config, or resume one (a thin wrapper over mnist_cnn.api)."""

from __future__ import annotations

import sys

import click

from mnist_cnn.cli.common import console, emit_json, existing_dir, json_option, request_fast_exit
from mnist_cnn.errors import UsageError


@click.command()
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="YAML recipe, e.g. configs/chollet.yaml."
)
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE", help="Override a config key (repeatable).")
@click.option("--data", type=click.Path(), help="Dataset file or folder (mnist.npz, mnist.pkl.gz, IDX files).")
@click.option("--runs-dir", type=click.Path(file_okay=False), help="Where run directories go (default: runs/).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), help="Continue an interrupted run.")
@json_option
def train(config_path, sets, data, runs_dir, resume_dir, as_json) -> None:
    """Train a model from a YAML config and write a run directory."""
    from mnist_cnn import api
    from mnist_cnn.runs.rundir import RunDir

    if bool(config_path) == bool(resume_dir):
        raise UsageError("give either --config FILE to start a run or --resume RUN_DIR to continue one")
    log = api.console_for(console(as_json), interactive=not as_json and sys.stdout.isatty())
    if resume_dir:
        outcome = api.resume_session(RunDir(existing_dir(resume_dir)), list(sets), data, log, runs_dir)
    else:
        outcome = api.train(config_path, list(sets), runs_dir=runs_dir, data=data, log=log).last_session
    request_fast_exit()
    if as_json:
        emit_json(
            {
                "run_dir": str(outcome.run.root),
                "status": outcome.status,
                "metrics": outcome.metrics,
                "export_seconds": outcome.export_seconds,
            }
        )
