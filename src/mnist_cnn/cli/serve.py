"""`mnist-cnn serve`: an HTTP prediction service and a draw-a-digit page."""

from __future__ import annotations

import click

from mnist_cnn.cli.common import checkpoint_option, err, runs_dir_option
from mnist_cnn.errors import UsageError


@click.command()
@click.argument("model", required=False)
@runs_dir_option
@checkpoint_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Server processes.")
@click.option(
    "--max-request-bytes",
    default=10_000_000,
    show_default=True,
    type=click.IntRange(1024),
    help="Larger request bodies are refused (413) before they are read.",
)
def serve(model, runs_dir, checkpoint, host, port, workers, max_request_bytes) -> None:
    """Serve a model over HTTP, with a page to draw digits on.

    MODEL is a run directory or model file (default: the latest finished run under --runs-dir).
    """
    _check_installed()
    from mnist_cnn.serve.app import Limits
    from mnist_cnn.serve.server import Target, bind, is_loopback, serve, url_of

    sock = bind(host, port)
    if not is_loopback(host):
        err(f"Warning: listening on {host}: anyone who can reach this machine can use the model (no authentication).")
    target = Target(model, runs_dir, checkpoint, Limits(max_request_bytes=max_request_bytes))

    def announce(served) -> None:
        click.echo(f"Serving {served.describe()} at {url_of(sock)}  (Ctrl-C to stop)")

    try:
        serve(target, sock, workers, announce)
    finally:
        sock.close()
    click.echo("Stopped.")


def _check_installed() -> None:
    """The web stack is an optional extra: say which one when it is missing."""
    import importlib.util

    missing = [name for name in ("fastapi", "uvicorn", "multipart") if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"serve needs {', '.join(missing)}: pip install 'mnist-cnn[serve]'")
