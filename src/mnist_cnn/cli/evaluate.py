"""`mnist-cnn evaluate`: re-score a run's checkpoint or a model file on the test set."""

from __future__ import annotations

import click

from mnist_cnn.cli.common import checkpoint_option, console, emit_json, existing_dir, json_option
from mnist_cnn.errors import UsageError


@click.command()
@click.argument("run_dir", required=False, type=click.Path(file_okay=False))
@click.option(
    "--model",
    "model_file",
    type=click.Path(dir_okay=False),
    help="Score this model file (.keras, .onnx, .tflite) instead.",
)
@checkpoint_option
@click.option("--data", type=click.Path(), help="Dataset file or folder (default: as for train).")
@click.option(
    "--robustness",
    is_flag=True,
    help="Also score the test set rotated, shifted, scaled, thinned/thickened, "
    "blurred, at low resolution and inverted (robustness.json, plots/robustness.png).",
)
@json_option
def evaluate(run_dir, model_file, checkpoint, data, robustness, as_json) -> None:
    """Score a run's model (or a .keras, .onnx or .tflite file) on the MNIST test set."""
    from mnist_cnn import evaluate as evaluation

    if bool(run_dir) == bool(model_file):
        raise UsageError("give a RUN_DIR or --model FILE (.keras, .onnx or .tflite), not both")
    if run_dir:
        existing_dir(run_dir)
    result = evaluation.evaluate(run_dir, model_file, checkpoint, data, log=console(as_json), robustness=robustness)
    if as_json:
        return emit_json(result)
    from mnist_cnn.scores import format_report

    click.echo(f"Model: {result['model']} ({result['runtime']})")
    click.echo(f"Loss: {result['test']['loss']:.4f}")
    click.echo(format_report(result["test"]))
    if robustness:
        from mnist_cnn.robustness import format_table

        click.echo(format_table(result["robustness"]))
