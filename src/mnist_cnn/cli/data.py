"""`mnist-cnn data`: get and inspect the MNIST dataset."""

from __future__ import annotations

import click

from mnist_cnn.cli.common import emit_json, json_option


@click.group()
def data() -> None:
    """Get and inspect the MNIST dataset."""


@data.command("download")
@click.option("--data", "path", type=click.Path(), help="Verify this file or folder instead of downloading.")
@click.option(
    "--force", is_flag=True, help="Fetch a fresh copy even if one is cached (e.g. the cache fails its checksums)."
)
def data_download(path, force) -> None:
    """Fetch MNIST into the cache (verifying its checksums)."""
    from mnist_cnn.data import acquire

    mnist = acquire.load_mnist(path, force=force)
    if mnist.source == "explicit":
        acquire.store_in_cache(mnist)
    click.echo(f"MNIST ready: {acquire.cache_file()} (source: {mnist.source}, checksums verified)")


@data.command("info")
@click.option("--data", "path", type=click.Path(), help="Inspect this file or folder instead of the cache.")
@json_option
def data_info(path, as_json) -> None:
    """Say where the dataset is, where it came from, that it verified, and its class counts."""
    from mnist_cnn.data import acquire

    mnist = acquire.load_mnist(path, allow_download=False)
    info = {
        "location": mnist.location,
        "source": mnist.source,
        "verified": True,
        "sha256": mnist.digests,
        "train": {"images": len(mnist.y_train), "per_class": acquire.class_counts(mnist.y_train)},
        "test": {"images": len(mnist.y_test), "per_class": acquire.class_counts(mnist.y_test)},
    }
    if as_json:
        return emit_json(info)
    click.echo(f"Location: {info['location']}\nSource:   {info['source']}\nVerified: yes (SHA-256 of all four arrays)")
    click.echo("digit  " + " ".join(f"{d:>6}" for d in range(10)))
    for split in ("train", "test"):
        click.echo(
            f"{split:<6} " + " ".join(f"{n:>6}" for n in info[split]["per_class"]) + f"  total {info[split]['images']}"
        )
