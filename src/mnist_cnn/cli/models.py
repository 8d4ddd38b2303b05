"""`mnist-cnn models`: the architecture presets."""

from __future__ import annotations

import click

from mnist_cnn.cli.common import emit_json, json_option, quiet_tensorflow


@click.command()
@json_option
def models(as_json) -> None:
    """List the model presets and their parameter counts."""
    quiet_tensorflow()
    from mnist_cnn.models import describe_presets

    rows = describe_presets()
    if as_json:
        return emit_json(rows)
    for row in rows:
        click.echo(f"{row['name']:<18} {row['parameters']:>10,} params  {row['description']}")
    click.echo(f"{'custom':<18} {'':>10}         your own layer list (model.layers in the config)")
