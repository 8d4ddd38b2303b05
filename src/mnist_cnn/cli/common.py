"""What every command shares: output helpers and the click options several commands take."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import click

from mnist_cnn.errors import UsageError


def quiet_tensorflow() -> None:
    """Import TensorFlow now, without its start-up chatter on stderr."""
    from mnist_cnn.tfquiet import import_tensorflow

    import_tensorflow()


class _FastExit:
    requested = False


def request_fast_exit() -> None:
    """Ask the console entry point to end the process without interpreter teardown once the command succeeds.

    Tearing down TensorFlow's modules and objects costs about a second at exit, after every file
    has been written and closed; a command that used TensorFlow and has nothing left to do skips it.
    """
    _FastExit.requested = True


def fast_exit_requested() -> bool:
    """Whether the command that just ran asked for a fast exit."""
    return _FastExit.requested


def emit_json(payload) -> None:
    """Print strict JSON (no NaN/Infinity) on stdout."""
    click.echo(json.dumps(payload, indent=2, allow_nan=False))


def show_report(report: dict, written: list, as_json: bool, markdown: Callable[[dict], str]) -> None:
    """A sweep's or tune's report: JSON or Markdown on stdout, the files written on stderr."""
    if as_json:
        emit_json(report)
    else:
        click.echo(markdown(report))
        err(f"Written: {', '.join(str(p) for p in written)}")


def err(message: str) -> None:
    """One line on stderr."""
    click.echo(message, err=True)


def console(as_json: bool) -> Callable[[str], None]:
    """Where progress goes: stdout, or stderr when stdout carries JSON."""
    return err if as_json else click.echo


def existing_dir(path: str) -> Path:
    """`path` as a folder that exists, or a usage error naming it."""
    folder = Path(path)
    if not folder.is_dir():
        raise UsageError(f"{path}: no such run directory")
    return folder


def terminal_progress(label: str) -> Callable[[int, int], None] | None:
    """A progress callback `(done, total)` drawing click's bar on stderr, or None when stderr is no terminal."""
    if not sys.stderr.isatty():
        return None
    state: dict = {}

    def update(done: int, total: int) -> None:
        if "bar" not in state:
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr, show_pos=True)
            state["bar"].__enter__()
        state["bar"].update(done - state["bar"].pos)
        if done >= total:
            state.pop("bar").__exit__(None, None, None)

    return update


json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
runs_dir_option = click.option(
    "--runs-dir",
    default="runs",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where to look for the latest run.",
)
model_option = click.option(
    "--model",
    "model",
    help="A run directory or a .keras, .onnx or .tflite file (default: the latest finished run).",
)
checkpoint_option = click.option(
    "--checkpoint",
    type=click.Choice(["best", "last"]),
    help="Which checkpoint of the run (default: the one its test metrics used).",
)


class StartByDefault(click.Group):
    """A group whose first argument, if not a subcommand, starts `start`: `tune CONFIG` = `tune start CONFIG`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["start", *args]
        return super().parse_args(ctx, args)
