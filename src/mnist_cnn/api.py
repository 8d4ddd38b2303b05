"""The Python API: train, open and list runs, predict, evaluate and sweep from a notebook or a script.

`import mnist_cnn as mc` reaches these names lazily (see `mnist_cnn/__init__.py`); the CLI commands
call the same functions, so a run made here is the run `mnist-cnn train` makes. Errors are the
project's typed exceptions (`mnist_cnn.errors.MnistCnnError` and subclasses) with the one-line
messages the CLI prints; nothing here exits the process. Training prints one line per epoch
(`verbose=False` silences it, `log=` sends it elsewhere); nothing else prints unless asked.
"""

from __future__ import annotations

import contextlib
import json
import signal
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from mnist_cnn.errors import UsageError
from mnist_cnn.runs.run import Run, _silent, predict_with
from mnist_cnn.runs.rundir import RunDir

Overrides = Mapping[str, Any] | Iterable[str] | None


def console_for(log: Callable[[str], None] | None, verbose: bool = True, interactive: bool = False):
    """The training console (prints, and mirrors into train.log) writing to `log`, else print or nowhere."""
    from mnist_cnn.train.console import Console

    if isinstance(log, Console):
        return log
    return Console(log or (print if verbose else _silent), interactive=interactive)


def override_list(overrides: Overrides, data: str | Path | None = None, runs_dir: str | Path | None = None) -> list:
    """`{"train.epochs": 3}` or `["train.epochs=3"]` as --set strings, then the data and runs folders."""
    if overrides is None:
        items: list[str] = []
    elif isinstance(overrides, Mapping):
        # JSON is YAML: every value (numbers, strings, lists, null) reads back as what it was.
        items = [f"{key}={json.dumps(value)}" for key, value in overrides.items()]
    elif isinstance(overrides, str):
        items = [overrides]
    else:
        items = list(overrides)
    if data:
        items.append(f"data.path={json.dumps(str(data))}")
    if runs_dir:
        items.append(f"output.runs_dir={json.dumps(str(runs_dir))}")
    return items


def load_config(config, overrides: Overrides = None, runs_dir=None, data=None):
    """A validated Config from a YAML path or a Config object, with overrides applied (ConfigError if not valid)."""
    from mnist_cnn import config as configs

    sets = override_list(overrides, data, runs_dir)
    if isinstance(config, configs.Config):
        return configs.loads(configs.to_yaml(config), sets, source=f"config {config.name!r}")
    if not isinstance(config, (str, Path)):
        raise UsageError(f"config: expected a YAML file path or a mnist_cnn.config.Config, got {type(config).__name__}")
    return configs.load(config, sets)


def train(
    config,
    overrides: Overrides = None,
    *,
    runs_dir: str | Path | None = None,
    data: str | Path | None = None,
    verbose: bool = True,
    log: Callable[[str], None] | None = None,
) -> Run:
    """Train a recipe (YAML path or Config; overrides like {"train.epochs": 3}) into a new run directory.

    Ctrl-C (interrupting the kernel) leaves the run `interrupted` and resumable with `open_run(path).resume()`.
    """
    from mnist_cnn.data.acquire import load_mnist
    from mnist_cnn.train import runner

    cfg = load_config(config, overrides, runs_dir, data)
    console = console_for(log, verbose)
    # From Python (not the CLI, which passes its own console and turns signals into exit codes).
    with interrupt_as_keyboard_interrupt(console, enabled=console is not log):
        outcome = runner.start(cfg, load_mnist(cfg.data.path, log=console), console)
    run = Run(outcome.run)
    run.last_session = outcome
    return run


def resume_session(run: RunDir, overrides: list[str], data: str | Path | None, console, runs_dir=None):
    """Continue `run` (the lock is taken before anything is read); the runner's Outcome."""
    from mnist_cnn.data.acquire import load_mnist
    from mnist_cnn.train import runner

    if not run.config.is_file():
        raise UsageError(f"{run.root}: not a run directory (no config.yaml)")
    sets = override_list(overrides, data, runs_dir)
    return runner.resume(run, sets, lambda cfg: load_mnist(cfg.data.path, log=console), console)


@contextlib.contextmanager
def interrupt_as_keyboard_interrupt(console, enabled: bool = True) -> Iterator[None]:
    """Ctrl-C during training (Jupyter's "interrupt kernel" too) reaches a Python caller as KeyboardInterrupt.

    The run is already recorded `interrupted` by then; this adds the Python line that resumes it.
    The training loop's own `Interrupted` (a BaseException, so that the CLI maps it to exit code
    130/143 past click) is what a SIGTERM still raises.
    """
    from mnist_cnn.interrupts import Interrupted

    try:
        yield
    except (Interrupted, KeyboardInterrupt) as exc:
        if not enabled:
            raise
        if console.run is None:  # before the run directory was made: nothing to resume
            raise
        console(f"In Python: mnist_cnn.open_run({str(console.run.root)!r}).resume()")
        if isinstance(exc, Interrupted) and exc.signum == signal.SIGINT:
            raise KeyboardInterrupt(f"training interrupted; the run is resumable: {console.run.root}") from None
        raise


def open_run(path: str | Path) -> Run:
    """The run in `path` (RunError if it is not a readable run directory)."""
    return Run(path)


def latest_run(runs_dir: str | Path = "runs", finished: bool = True) -> Run | None:
    """The most recently finished run under `runs_dir` (with `finished=False`: the last one started, any status)."""
    from mnist_cnn.runs import listing
    from mnist_cnn.runs import manifest as manifests
    from mnist_cnn.runs.rundir import MANIFEST_FILE, RunError

    if finished:
        found = listing.latest_run(runs_dir)
        return None if found is None else Run(found)
    started = []
    for path in Path(runs_dir).glob(f"*/{MANIFEST_FILE}"):
        try:
            moment = manifests.parse_time(manifests.read(RunDir(path.parent)).started_at)
        except RunError:
            continue  # a damaged run folder is not "the last run"; runs() lists it with a note
        if moment is not None:
            started.append((moment, path.parent.name, path.parent))
    return Run(max(started)[2]) if started else None


def runs(runs_dir: str | Path = "runs", sort: str = "started", reverse: bool = False):
    """The `runs list` table (sweep trials too): a list of row dicts with `.notes` and `.to_pandas()`."""
    from mnist_cnn.results import RunTable
    from mnist_cnn.runs.listing import SORT_KEYS, list_runs, sort_rows

    if sort not in SORT_KEYS:
        raise UsageError(f"sort: expected one of {', '.join(SORT_KEYS)}, got {sort!r}")
    root = Path(runs_dir)
    if not root.is_dir():
        raise UsageError(f"{runs_dir}: no such runs directory")
    rows, notes = list_runs(root)
    return RunTable(sort_rows(rows, sort, reverse), notes, root)


def predict(
    inputs,
    model: str | Path | Run | None = None,
    *,
    runs_dir: str | Path = "runs",
    checkpoint: str | None = None,
    top_k: int = 3,
    save_preprocessed: str | Path | None = None,
    on_error: str = "raise",
    note: Callable[[str], None] | None = None,
    single: bool = False,
):
    """Digits (or written numbers) for files, folders, arrays or Pillow images, with a run, a model file, or the latest
    finished run; `single=True` reads every picture as one digit."""
    from mnist_cnn.inference import modelfiles

    if not 1 <= top_k <= 10:
        raise UsageError(f"top_k: expected 1 to 10, got {top_k}")
    if isinstance(model, Run):
        return model.predict(inputs, top_k, checkpoint, save_preprocessed, on_error, single)
    source = modelfiles.resolve(None if model is None else str(model), runs_dir, checkpoint, True, note)
    return predict_with(source, inputs, top_k, save_preprocessed, on_error, single=single)


def evaluate_model(
    model: str | Path | Run,
    *,
    checkpoint: str | None = None,
    robustness: bool = False,
    data: str | Path | None = None,
    verbose: bool = False,
):
    """Score a run (its own test subset) or a .keras/.onnx/.tflite file (the full test set)."""
    from mnist_cnn import evaluate as evaluation
    from mnist_cnn.results import Evaluation

    if isinstance(model, Run):
        return model.evaluate(checkpoint, robustness, None if data is None else str(data), verbose)
    path = Path(model)
    if not path.exists():
        raise UsageError(f"{model}: no such run directory or model file")
    run_dir, model_file = (str(path), None) if path.is_dir() else (None, str(path))
    log = print if verbose else _silent
    data = None if data is None else str(data)
    return Evaluation(evaluation.evaluate(run_dir, model_file, checkpoint, data, log=log, robustness=robustness))


def sweep(
    config: str | Path,
    *,
    seeds: int | Iterable[int] = 1,
    grid: Mapping[str, Iterable[Any]] | None = None,
    overrides: Overrides = None,
    sweep_dir: str | Path | None = None,
    workers: int = 1,
    executor: str = "local",
    run: bool = True,
    verbose: bool = True,
):
    """Plan (and by default run) config × grid × seeds, each trial an ordinary run; the Sweep, with report()."""
    from mnist_cnn.sweep.study import Sweep

    return Sweep.plan(config, seeds, grid, override_list(overrides), sweep_dir, run, workers, executor, verbose)


def open_sweep(sweep_dir: str | Path):
    """A planned sweep's folder as a Sweep (status, report, runs, run the rest)."""
    from mnist_cnn.sweep.study import Sweep

    return Sweep(sweep_dir)
