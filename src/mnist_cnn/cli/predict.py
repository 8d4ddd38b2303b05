"""`mnist-cnn predict`: read handwritten digits from image files."""

from __future__ import annotations

import sys

import click

from mnist_cnn.cli.common import (
    checkpoint_option,
    emit_json,
    err,
    json_option,
    model_option,
    runs_dir_option,
    terminal_progress,
)
from mnist_cnn.errors import EXIT_RUNTIME


@click.command()
@click.argument("images", nargs=-1, required=True)
@model_option
@runs_dir_option
@checkpoint_option
@click.option("--top-k", default=3, show_default=True, type=click.IntRange(1, 10), help="How many candidates to show.")
@click.option(
    "--save-preprocessed",
    type=click.Path(file_okay=False),
    help="Write the 28x28 images the model saw here (a number: one per digit).",
)
@click.option("--single", is_flag=True, help="Read every image as one digit (no splitting into a number's digits).")
@json_option
def predict(images, model, runs_dir, checkpoint, top_k, save_preprocessed, single, as_json) -> None:
    """Read handwritten digits, or whole numbers like "2026", from image files or folders."""
    from mnist_cnn.inference import modelfiles
    from mnist_cnn.runs.run import predict_with

    # A run's verified ONNX export when it has one (no TensorFlow import), else its checkpoint.
    source = modelfiles.resolve(model, runs_dir, checkpoint, prefer_export=True, note=err)
    if not as_json:
        click.echo(f"Model: {source.describe()}")
    reading = terminal_progress("Reading")
    result = predict_with(source, images, top_k, save_preprocessed, "collect", progress=reading, single=single)
    if as_json:
        emit_json(result.to_json())
    else:
        for p in result:
            click.echo(f"{p.path}: {_answer(p)}")
            for note in p.notes:
                click.echo(f"  note: {note}")
    for error in result.errors:
        err(f"{error['path']}: {error['error']}")
    if result.errors:
        sys.exit(EXIT_RUNTIME)


def _answer(p) -> str:
    """One line: a digit with its candidates (as ever), or a number with its digits and least confidence."""
    if not p.is_number:
        others = ", ".join(f"{c['digit']} {c['probability']:.1%}" for c in p.top_k)
        return f"{p.digit} ({p.probability:.1%})  top-{len(p.top_k)}: {others}"
    digits = " ".join(str(d.digit) for d in p.digits)
    flag = "  UNCERTAIN" if p.uncertain else ""
    return f"{p.text}  (digits {digits}; lowest confidence {p.probability:.2f}){flag}"
