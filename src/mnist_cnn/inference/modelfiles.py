"""Model files are code: find them, check them and load them only in Keras safe mode."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mnist_cnn.errors import MnistCnnError, first_line
from mnist_cnn.runs.listing import latest_run
from mnist_cnn.runs.rundir import RunDir, RunError, file_sha256


class ModelError(MnistCnnError):
    """A model file cannot be used; the message says why."""


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: a file, and the run it belongs to (if any)."""

    path: Path
    run: RunDir | None = None
    checkpoint: str | None = None
    expected_sha256: str | None = None
    in_progress_epoch: int | None = None  # set when the run is still being trained

    def describe(self) -> str:
        """One line for the console: which model is used."""
        if self.run is None:
            return str(self.path)
        text = f"{self.run.root} ({self.checkpoint} checkpoint)"
        if self.in_progress_epoch is not None:
            text += f" - run in progress, using its last committed state (epoch {self.in_progress_epoch})"
        return text


def from_run(run: RunDir, checkpoint: str | None = None) -> ModelSource:
    """The run's checkpoint (default: the one its test metrics used) with its recorded hash.

    Reads only what the manifest has committed, so a run being trained right now is usable too.
    """
    from mnist_cnn.runs import lock, manifest

    info = manifest.read(run)
    if checkpoint is None:
        try:
            checkpoint = json.loads(run.metrics.read_text(encoding="utf-8"))["checkpoint"]
        except (OSError, ValueError, KeyError, TypeError):
            checkpoint = "last"
    record = info.checkpoints.get(checkpoint)
    if record is None:
        raise RunError(f"{run.root}: the run has no '{checkpoint}' checkpoint recorded in its manifest")
    training = info.status == "running" and lock.holder(run.root) is not None
    return ModelSource(
        record.path(run, checkpoint), run, checkpoint, record.sha256, info.epochs_completed if training else None
    )


def resolve(model: str | None, runs_dir: str | Path = "runs", checkpoint: str | None = None, note=None) -> ModelSource:
    """A run directory, a model file, or (None) the most recent finished run under `runs_dir`."""
    if model is None:
        run = latest_run(runs_dir, note=note)
        if run is None:
            raise RunError(f"no finished run under {Path(runs_dir).resolve()}; train one first or pass --model")
        return from_run(run, checkpoint)
    path = Path(model)
    if path.is_dir():
        return from_run(RunDir(path), checkpoint)
    if not path.exists():
        raise ModelError(f"{model}: no such model file or run directory")
    return ModelSource(path)


def load(source: ModelSource, compile: bool = False):
    """Load in safe mode after checking hash, suffix and archive; then check input and output shapes.

    `compile=True` (resuming training) also restores the optimizer and its state.
    """
    import keras

    path = source.path
    if path.suffix != ".keras":
        raise ModelError(f"{path}: only .keras model files are accepted (got '{path.suffix or 'no suffix'}')")
    if not path.is_file():
        raise ModelError(f"{path}: checkpoint file is missing")
    if source.expected_sha256 and file_sha256(path) != source.expected_sha256:
        raise ModelError(
            f"{path}: SHA-256 differs from the one recorded in the run's manifest; "
            "the file was changed or damaged after training, so it is refused"
        )
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path}: not a valid .keras archive")
    try:
        model = keras.saving.load_model(path, safe_mode=True, compile=compile)
    except Exception as exc:  # Keras raises many types for bad archives; all mean "unusable"
        raise ModelError(f"{path}: cannot load this .keras file ({first_line(exc, 200)})") from None
    _check_shapes(model, path)
    return model


def _check_shapes(model, path: Path) -> None:
    inputs, outputs = getattr(model, "input_shape", None), getattr(model, "output_shape", None)
    if inputs is None or tuple(inputs)[1:] != (28, 28, 1):
        raise ModelError(f"{path}: model input is {inputs}, expected (None, 28, 28, 1)")
    if outputs is None or tuple(outputs)[1:] != (10,):
        raise ModelError(f"{path}: model output is {outputs}, expected 10 classes")
