"""`mnist-cnn explain`: what the network sees in an image (saliency and feature maps), as PNG panels."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mnist_cnn.cli.common import checkpoint_option, emit_json, err, json_option, model_option, runs_dir_option
from mnist_cnn.errors import EXIT_RUNTIME


@click.command()
@click.argument("images", nargs=-1, required=True)
@model_option
@runs_dir_option
@checkpoint_option
@click.option(
    "--out",
    default="explained",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Folder for the PNG panels (one per image).",
)
@json_option
def explain(images, model, runs_dir, checkpoint, out, as_json) -> None:
    """Show what the network sees in images: saliency and every conv/pooling layer's feature maps."""
    from mnist_cnn.explain.explainer import load_explainer
    from mnist_cnn.explain.files import explain_files
    from mnist_cnn.inference import modelfiles

    # As predict chooses: a run's verified ONNX export when it has one (no TensorFlow), else its checkpoint.
    source = modelfiles.resolve(model, runs_dir, checkpoint, prefer_export=True, note=err)
    if not as_json:
        click.echo(f"Model: {source.describe()}")
    report = explain_files(lambda: load_explainer(source), images, Path(out))
    if as_json:
        emit_json(
            {
                "model": source.describe(),
                "explained": report.explained,
                "feature_maps_missing": report.feature_maps_missing,
                "errors": report.errors,
            }
        )
    else:
        for row in report.explained:
            others = ", ".join(f"{c['digit']} {c['probability']:.1%}" for c in row["top_k"])
            click.echo(
                f"{row['path']}: {row['digit']} ({row['probability']:.1%})  top-3: {others}  panel: {row['panel']}"
            )
    if report.feature_maps_missing:
        err(f"note: no feature maps: {report.feature_maps_missing}")
    for error in report.errors:
        err(f"{error['path']}: {error['error']}")
    if report.errors:
        sys.exit(EXIT_RUNTIME)
