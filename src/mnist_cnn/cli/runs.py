"""`mnist-cnn runs`: inspect and compare run directories."""

from __future__ import annotations

import sys

import click

from mnist_cnn.cli.common import emit_json, err, existing_dir, json_option
from mnist_cnn.errors import EXIT_RUNTIME
from mnist_cnn.runs.listing import SORT_KEYS


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


@runs.command("list")
@click.argument("runs_dir", required=False, default="runs", type=click.Path(file_okay=False))
@click.option("--sort", "sort_key", type=click.Choice(SORT_KEYS), default="started", show_default=True)
@click.option("--reverse", is_flag=True, help="Largest (or newest) first.")
@json_option
def runs_list(runs_dir, sort_key, reverse, as_json) -> None:
    """One row per run under RUNS_DIR (default runs/; sweep trials too): status, epochs, accuracy, fit time, seed."""
    from mnist_cnn.runs.listing import format_table, list_runs, sort_rows

    rows, notes = list_runs(existing_dir(runs_dir))
    rows = sort_rows(rows, sort_key, reverse)
    if as_json:
        emit_json({"runs_dir": runs_dir, "runs": rows, "notes": notes})
        return
    click.echo(format_table(rows) if rows else f"No runs under {runs_dir}.")
    for note in notes:
        err(f"Note: {note}")
