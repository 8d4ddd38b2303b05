"""`mnist-cnn export`: turn a run's checkpoint into ONNX, LiteRT or SavedModel files, verified."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from mnist_cnn.cli.common import checkpoint_option, console, emit_json, existing_dir, json_option


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option(
    "--format",
    "formats",
    multiple=True,
    type=click.Choice(["onnx", "litert", "saved_model"]),
    help="Format to export (repeatable; default: onnx).",
)
@click.option("--quantize", type=click.Choice(["int8"]), help="Dynamic-range int8 weights (litert only).")
@click.option(
    "--out", type=click.Path(file_okay=False), help="Write here instead of RUN_DIR/export/ (then not recorded)."
)
@checkpoint_option
@click.option("--data", type=click.Path(), help="Dataset file or folder for the verification (default: as for train).")
@json_option
def export(run_dir, formats, quantize, out, checkpoint, data, as_json) -> None:
    """Export a finished run's model and verify it with its own runtime on the test set."""
    from mnist_cnn import export as exporter
    from mnist_cnn.runs import lock
    from mnist_cnn.runs.rundir import RunDir, check_own_folders

    run = RunDir(existing_dir(run_dir))
    formats = list(formats) or ["onnx"]
    for fmt in formats:
        exporter.key_for(fmt, quantize)  # usage errors before any work
    exporter.check_available(formats)
    # Writing into the run (export/ and its manifest) is a writer's job: hold the run lock, as train does.
    with contextlib.nullcontext() if out else lock.hold(run.root):
        if not out:
            check_own_folders(run)  # export/ and the manifest are written into the run: never through a link
        records = exporter.export_run(
            run, formats, quantize, Path(out) if out else None, checkpoint, data, log=console(as_json)
        )
    if as_json:
        emit_json({"run_dir": str(run.root), "exports": records})
