"""`mnist-cnn runs`: inspect and compare run directories."""

from __future__ import annotations

import sys

import click

from mnist_cnn.cli.common import emit_json, existing_dir, json_option
from mnist_cnn.errors import EXIT_RUNTIME


@click.group()
def runs() -> None:
    """Inspect and compare run directories."""


@runs.command("compare")
@click.argument("run_a", type=click.Path(file_okay=False))
@click.argument("run_b", type=click.Path(file_okay=False))
@json_option
def runs_compare(run_a, run_b, as_json) -> None:
    """Say whether two runs have identical history and weights, and which environment facts differ.

    Every checkpoint and history file is checked against its recorded hash first: a damaged run is
    never IDENTICAL. Exits 0 when identical and 1 otherwise (like cmp), so scripts can test it.
    """
    from mnist_cnn.runs.compare import compare_runs, format_comparison
    from mnist_cnn.runs.rundir import RunDir

    result = compare_runs(RunDir(existing_dir(run_a)), RunDir(existing_dir(run_b)))
    emit_json(result) if as_json else click.echo(format_comparison(result))
    if not result["identical"]:
        sys.exit(EXIT_RUNTIME)
