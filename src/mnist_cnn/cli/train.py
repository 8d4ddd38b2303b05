"""`mnist-cnn train`: start a run from a config, or resume one."""

from __future__ import annotations

import json
import sys

import click

from mnist_cnn.cli.common import console, emit_json, existing_dir, json_option, request_fast_exit
from mnist_cnn.errors import UsageError


def _overrides(sets: tuple[str, ...], data: str | None, runs_dir: str | None) -> list[str]:
    extra = list(sets)
    if data:
        extra.append(f"data.path={json.dumps(data)}")
    if runs_dir:
        extra.append(f"output.runs_dir={json.dumps(runs_dir)}")
    return extra


def _load_data(cfg, log):
    from mnist_cnn.data.acquire import load_mnist

    return load_mnist(cfg.data.path, log=log)


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
    from mnist_cnn import config
    from mnist_cnn.runs.rundir import RunDir
    from mnist_cnn.train import runner
    from mnist_cnn.train.console import Console

    if bool(config_path) == bool(resume_dir):
        raise UsageError("give either --config FILE to start a run or --resume RUN_DIR to continue one")
    log = Console(console(as_json), interactive=not as_json and sys.stdout.isatty())
    overrides = _overrides(sets, data, runs_dir)
    if resume_dir:
        run = RunDir(existing_dir(resume_dir))
        if not run.config.is_file():
            raise UsageError(f"{resume_dir}: not a run directory (no config.yaml)")
        outcome = runner.resume(run, overrides, lambda cfg: _load_data(cfg, log), log)
    else:
        cfg = config.load(config_path, overrides)
        outcome = runner.start(cfg, _load_data(cfg, log), log)
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
