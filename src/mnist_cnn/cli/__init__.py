"""Command line: parse, call the library, print, exit codes. TensorFlow is imported inside commands only.

Each command lives in its own module here; this one holds the group and the one place that turns
errors into one line and an exit code.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback

import click

from mnist_cnn.cli.common import err, fast_exit_requested
from mnist_cnn.cli.data import data
from mnist_cnn.cli.evaluate import evaluate
from mnist_cnn.cli.explain import explain
from mnist_cnn.cli.export import export
from mnist_cnn.cli.models import models
from mnist_cnn.cli.predict import predict
from mnist_cnn.cli.runs import runs
from mnist_cnn.cli.serve import serve
from mnist_cnn.cli.sweep import sweep
from mnist_cnn.cli.train import train
from mnist_cnn.cli.tune import tune
from mnist_cnn.errors import EXIT_RUNTIME, EXIT_USAGE, MnistCnnError, first_line


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="mnist-cnn")
def cli(debug: bool) -> None:
    """Reproducible training of convolutional networks on MNIST."""


for command in (train, data, models, evaluate, predict, export, runs, serve, sweep, tune):
    cli.add_command(command)
cli.add_command(explain)


def entry() -> None:
    """The `mnist-cnn` console script: `main`, then (on success, if the command asked) exit at once."""
    main()
    if fast_exit_requested():
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(0)  # every file is already written atomically and closed; see request_fast_exit


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI and map failures to one line and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="mnist-cnn", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        err("Aborted.")
        sys.exit(130)
    except BaseException as exc:  # noqa: BLE001 - the one place that turns errors into exit codes
        code, message = _classify(exc)
        if code is None:
            raise
        if debug:
            traceback.print_exc()
        if message:
            err(f"Error: {message}" if code in (EXIT_RUNTIME, EXIT_USAGE) else message)
        sys.exit(code)


def _classify(exc: BaseException) -> tuple[int | None, str]:
    """Exit code and one-line message for an exception (None: let it propagate)."""
    from mnist_cnn.interrupts import Interrupted

    if isinstance(exc, SystemExit):
        return None, ""
    if isinstance(exc, Interrupted):
        return exc.exit_code, ""
    if isinstance(exc, KeyboardInterrupt):
        return 130, "Interrupted."
    if isinstance(exc, MnistCnnError):
        return exc.exit_code, first_line(exc, 2000)
    if isinstance(exc, OSError) and exc.strerror:  # disk full, permissions, a missing folder: the user can fix it
        where = f"{exc.filename}: " if exc.filename else ""
        return EXIT_RUNTIME, f"{where}{exc.strerror}"
    return EXIT_RUNTIME, f"{type(exc).__name__}: {first_line(exc)} (run with --debug for the traceback)"
