"""Command line: parse, call the library, print, exit codes. TensorFlow is imported inside commands only."""

from __future__ import annotations

import json
import sys
import traceback

import click

EXIT_RUNTIME, EXIT_USAGE = 1, 2


class Failure(Exception):
    """A user-facing failure with its exit code."""

    def __init__(self, message: str, code: int = EXIT_RUNTIME):
        super().__init__(message)
        self.code = code


def _quiet_tensorflow() -> None:
    from mnist_cnn.tfquiet import import_tensorflow

    import_tensorflow()


def _emit_json(payload) -> None:
    click.echo(json.dumps(payload, indent=2))


def _err(message: str) -> None:
    click.echo(message, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.version_option(package_name="mnist-cnn")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Reproducible training of convolutional networks on MNIST."""
    ctx.obj = {"debug": debug}


# ---------------------------------------------------------------------------- train


def _overrides(sets: tuple[str, ...], data: str | None, runs_dir: str | None) -> list[str]:
    extra = list(sets)
    if data:
        extra.append(f"data.path={json.dumps(data)}")
    if runs_dir:
        extra.append(f"output.runs_dir={json.dumps(runs_dir)}")
    return extra


def _load_data(cfg, log):
    from mnist_cnn.data import load_mnist

    return load_mnist(cfg.data.path, log=log)


@cli.command()
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False), help="YAML recipe, e.g. configs/chollet.yaml."
)
@click.option("--set", "sets", multiple=True, metavar="KEY.PATH=VALUE", help="Override a config key (repeatable).")
@click.option("--data", type=click.Path(), help="Dataset file or folder (mnist.npz, mnist.pkl.gz, IDX files).")
@click.option("--runs-dir", type=click.Path(file_okay=False), help="Where run directories go (default: runs/).")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), help="Continue an interrupted run.")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON on stdout (progress goes to stderr).")
def train(config_path, sets, data, runs_dir, resume_dir, as_json) -> None:
    """Train a model from a YAML config and write a run directory."""
    from mnist_cnn import config, runner
    from mnist_cnn.rundir import RunDir

    if bool(config_path) == bool(resume_dir):
        raise Failure("give either --config FILE to start a run or --resume RUN_DIR to continue one", EXIT_USAGE)
    echo = (lambda m: click.echo(m, err=True)) if as_json else click.echo
    log = runner.Console(echo)
    overrides = _overrides(sets, data, runs_dir)
    if resume_dir:
        run = RunDir(_existing_dir(resume_dir))
        if not run.config.is_file():
            raise Failure(f"{resume_dir}: not a run directory (no config.yaml)", EXIT_USAGE)
        _quiet_tensorflow()
        outcome = runner.resume(run, overrides, lambda cfg: _load_data(cfg, log), log)
    else:
        cfg = config.load(config_path, overrides)
        _quiet_tensorflow()
        outcome = runner.start(cfg, _load_data(cfg, log), log)
    if as_json:
        _emit_json({"run_dir": str(outcome.run.root), "status": outcome.status, "metrics": outcome.metrics})


def _existing_dir(path: str):
    from pathlib import Path

    folder = Path(path)
    if not folder.is_dir():
        raise Failure(f"{path}: no such run directory", EXIT_USAGE)
    return folder


# ---------------------------------------------------------------------------- data and models


@cli.group()
def data() -> None:
    """Get and inspect the MNIST dataset."""


@data.command("download")
@click.option("--data", "path", type=click.Path(), help="Verify this file or folder instead of downloading.")
def data_download(path) -> None:
    """Fetch MNIST into the cache (verifying its checksums)."""
    from mnist_cnn import data as datamod

    mnist = datamod.load_mnist(path)
    if mnist.source == "explicit":
        datamod.store_in_cache(mnist)
    click.echo(f"MNIST ready: {datamod.cache_file()} (source: {mnist.source}, checksums verified)")


@data.command("info")
@click.option("--data", "path", type=click.Path(), help="Inspect this file or folder instead of the cache.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def data_info(path, as_json) -> None:
    """Say where the dataset is, where it came from, that it verified, and its class counts."""
    from mnist_cnn import data as datamod

    mnist = datamod.load_mnist(path, allow_download=False)
    info = {
        "location": mnist.location,
        "source": mnist.source,
        "verified": True,
        "sha256": mnist.digests,
        "train": {"images": len(mnist.y_train), "per_class": datamod.class_counts(mnist.y_train)},
        "test": {"images": len(mnist.y_test), "per_class": datamod.class_counts(mnist.y_test)},
    }
    if as_json:
        return _emit_json(info)
    click.echo(f"Location: {info['location']}\nSource:   {info['source']}\nVerified: yes (SHA-256 of all four arrays)")
    click.echo("digit  " + " ".join(f"{d:>6}" for d in range(10)))
    for split in ("train", "test"):
        click.echo(
            f"{split:<6} " + " ".join(f"{n:>6}" for n in info[split]["per_class"]) + f"  total {info[split]['images']}"
        )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def models(as_json) -> None:
    """List the model presets and their parameter counts."""
    _quiet_tensorflow()
    from mnist_cnn.models import describe_presets

    rows = describe_presets()
    if as_json:
        return _emit_json(rows)
    for row in rows:
        click.echo(f"{row['name']:<18} {row['parameters']:>10,} params  {row['description']}")
    click.echo(f"{'custom':<18} {'':>10}         your own layer list (model.layers in the config)")


# ---------------------------------------------------------------------------- evaluate and predict


@cli.command()
@click.argument("run_dir", required=False, type=click.Path(file_okay=False))
@click.option("--model", "model_file", type=click.Path(dir_okay=False), help="Score this .keras file instead of a run.")
@click.option(
    "--checkpoint",
    type=click.Choice(["best", "last"]),
    help="Which checkpoint of the run (default: the one its metrics used).",
)
@click.option("--data", type=click.Path(), help="Dataset file or folder (default: as for train).")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def evaluate(run_dir, model_file, checkpoint, data, as_json) -> None:
    """Score a run's checkpoint (or a .keras file) on the MNIST test set."""
    from mnist_cnn import evaluate as evaluation

    if bool(run_dir) == bool(model_file):
        raise Failure("give a RUN_DIR or --model FILE.keras (not both)", EXIT_USAGE)
    if run_dir:
        _existing_dir(run_dir)
    _quiet_tensorflow()
    echo = (lambda m: click.echo(m, err=True)) if as_json else click.echo
    result = evaluation.evaluate(run_dir, model_file, checkpoint, data, log=echo)
    if as_json:
        return _emit_json(result)
    from mnist_cnn.scores import format_report

    click.echo(f"Model: {result['model']}")
    click.echo(f"Loss: {result['test']['loss']:.4f}")
    click.echo(format_report(result["test"]))


@cli.command()
@click.argument("images", nargs=-1, required=True)
@click.option("--model", "model", help="A run directory or .keras file (default: the latest finished run).")
@click.option(
    "--runs-dir",
    default="runs",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where to look for the latest run.",
)
@click.option(
    "--checkpoint",
    type=click.Choice(["best", "last"]),
    help="Which checkpoint of a run (default: the one its metrics used).",
)
@click.option("--top-k", default=3, show_default=True, type=click.IntRange(1, 10), help="How many candidates to show.")
@click.option(
    "--save-preprocessed", type=click.Path(file_okay=False), help="Write the 28x28 images the model saw here."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def predict(images, model, runs_dir, checkpoint, top_k, save_preprocessed, as_json) -> None:
    """Read handwritten digits from image files or folders."""
    from pathlib import Path

    from mnist_cnn import modelfiles
    from mnist_cnn import predict as predictor

    source = modelfiles.resolve(model, runs_dir, checkpoint)
    if not as_json:
        click.echo(f"Model: {source.describe()}")
    save_dir = Path(save_preprocessed) if save_preprocessed else None
    if save_dir:
        save_dir.mkdir(parents=True, exist_ok=True)

    def load():
        _quiet_tensorflow()
        return modelfiles.load(source)

    report = predictor.run(load, images, top_k=top_k, save_dir=save_dir)
    if as_json:
        _emit_json(
            {
                "model": source.describe(),
                "predictions": [vars(p) for p in report.predictions],
                "errors": report.errors,
            }
        )
    else:
        for p in report.predictions:
            others = ", ".join(f"{c['digit']} {c['probability']:.1%}" for c in p.top_k)
            click.echo(f"{p.path}: {p.digit} ({p.probability:.1%})  top-{len(p.top_k)}: {others}")
            for note in p.notes:
                click.echo(f"  note: {note}")
    for error in report.errors:
        _err(f"{error['path']}: {error['error']}")
    if report.errors:
        sys.exit(EXIT_RUNTIME)


# ---------------------------------------------------------------------------- runs


@cli.group()
def runs() -> None:
    """Inspect and compare run directories."""


@runs.command("compare")
@click.argument("run_a", type=click.Path(file_okay=False))
@click.argument("run_b", type=click.Path(file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def runs_compare(run_a, run_b, as_json) -> None:
    """Say whether two runs have identical history and weights, and which environment facts differ.

    Exits 0 when identical and 1 when they differ (like cmp), so scripts can test it.
    """
    from mnist_cnn.compare import compare_runs, format_comparison
    from mnist_cnn.rundir import RunDir

    result = compare_runs(RunDir(_existing_dir(run_a)), RunDir(_existing_dir(run_b)))
    _emit_json(result) if as_json else click.echo(format_comparison(result))
    if not result["identical"]:
        sys.exit(EXIT_RUNTIME)


# ---------------------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI and map failures to one line and an exit code."""
    from mnist_cnn.config import ConfigError

    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="mnist-cnn", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        _err("Aborted.")
        sys.exit(130)
    except BaseException as exc:  # noqa: BLE001 - the one place that turns errors into exit codes
        code, message = _classify(exc, ConfigError)
        if code is None:
            raise
        if debug:
            traceback.print_exc()
        if message:
            _err(f"Error: {message}" if code in (EXIT_RUNTIME, EXIT_USAGE) else message)
        sys.exit(code)


def _classify(exc: BaseException, config_error: type) -> tuple[int | None, str]:
    """Exit code and one-line message for an exception (None: let it propagate)."""
    from mnist_cnn.interrupts import Interrupted

    if isinstance(exc, SystemExit):
        return None, ""
    if isinstance(exc, Interrupted):
        return exc.exit_code, ""
    if isinstance(exc, KeyboardInterrupt):
        return 130, "Interrupted."
    if isinstance(exc, Failure):
        return exc.code, str(exc)
    if isinstance(exc, config_error):
        return EXIT_USAGE, str(exc)
    if _is_user_facing(exc):
        return EXIT_RUNTIME, str(exc)
    return EXIT_RUNTIME, f"{type(exc).__name__}: {exc} (run with --debug for the traceback)"


def _is_user_facing(exc: BaseException) -> bool:
    from mnist_cnn.data import DataError
    from mnist_cnn.modelfiles import ModelError
    from mnist_cnn.rundir import RunError

    return isinstance(exc, (DataError, RunError, ModelError))


if __name__ == "__main__":
    main()
