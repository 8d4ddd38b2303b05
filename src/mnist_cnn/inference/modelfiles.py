"""Model files are code: find them, check them (hash, size, archive limits, shapes) before any runtime opens them.

Three kinds are accepted: `.keras` (loaded only in Keras safe mode), and exported `.onnx` and
`.tflite` files (read into memory once, hashed and handed to their runtime as bytes, so the file
checked is the file loaded and an ONNX file cannot pull in external data from elsewhere on disk).
"""

from __future__ import annotations

import hashlib
import importlib.util
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from mnist_cnn import safe_read
from mnist_cnn.errors import MnistCnnError, first_line
from mnist_cnn.runs.listing import latest_run
from mnist_cnn.runs.rundir import RunDir, RunError

SUFFIXES = (".keras", ".onnx", ".tflite")
# Limits for files from elsewhere. This product's models are far below them (the Chollet convnet:
# a 450 KB .keras with 3 stored members, a 140 KB .onnx), and a custom stack with a million dense
# units still fits. A 10 MB file costs at most ~200 MB of memory to refuse or load.
MAX_FILE_BYTES = 256 * 2**20
MAX_MEMBERS = 16
MAX_JSON_MEMBER_BYTES = 4 * 2**20  # config.json / metadata.json: ours are ~6 KB
MAX_MEMBER_BYTES = 512 * 2**20
MAX_TOTAL_BYTES = 512 * 2**20
MAX_RATIO = 20  # Keras stores members uncompressed (ratio 1); weights never deflate 20x
RATIO_FLOOR = 2**20  # members smaller than this may compress well without costing memory


class ModelError(MnistCnnError):
    """A model file cannot be used; the message says why."""


class MissingRuntimeError(MnistCnnError):
    """The optional package a model format needs is not installed (a usage problem: install the extra)."""

    exit_code = 2


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: a file, and the run it belongs to (if any)."""

    path: Path
    run: RunDir | None = None
    checkpoint: str | None = None
    expected_sha256: str | None = None
    export: str | None = None  # which recorded export of the run this is ("onnx", ...)
    in_progress_epoch: int | None = None  # set when the run is still being trained

    def describe(self) -> str:
        """One line for the console: which model is used."""
        if self.run is None:
            return str(self.path)
        text = (
            f"{self.run.root} ({self.export} export)"
            if self.export
            else f"{self.run.root} ({self.checkpoint} checkpoint)"
        )
        if self.in_progress_epoch is not None:
            text += f" - run in progress, using its last committed state (epoch {self.in_progress_epoch})"
        return text


def from_run(run: RunDir, checkpoint: str | None = None, prefer_export: bool = False) -> ModelSource:
    """The run's model with its recorded hash: its verified ONNX export when preferred, recorded and
    ONNX Runtime is installed (and no checkpoint was asked for), else its checkpoint (default: the
    one its test metrics used).

    Reads only what the manifest has committed, so a run being trained right now is usable too.
    """
    from mnist_cnn.runs import lock, manifest

    info = manifest.read(run)
    entry = info.exports.get("onnx")
    if prefer_export and checkpoint is None and isinstance(entry, dict):
        if entry.get("sha256") and isinstance(entry.get("file"), str) and importlib.util.find_spec("onnxruntime"):
            return ModelSource(manifest.export_path(run, "onnx", entry), run, None, entry["sha256"], "onnx")
    if checkpoint is None:
        checkpoint = run.read_metrics().get("checkpoint")
        if checkpoint not in manifest.CHECKPOINT_ROLES:
            checkpoint = "last"
    record = info.checkpoints.get(checkpoint)
    if record is None:
        raise RunError(f"{run.root}: the run has no '{checkpoint}' checkpoint recorded in its manifest")
    training = info.status == "running" and lock.holder(run.root) is not None
    return ModelSource(
        record.path(run, checkpoint),
        run,
        checkpoint,
        record.sha256,
        in_progress_epoch=info.epochs_completed if training else None,
    )


def resolve(
    model: str | None,
    runs_dir: str | Path = "runs",
    checkpoint: str | None = None,
    prefer_export: bool = False,
    note=None,
) -> ModelSource:
    """A run directory, a model file, or (None) the most recent finished run under `runs_dir`."""
    if model is None:
        run = latest_run(runs_dir, note=note)
        if run is None:
            raise RunError(f"no finished run under {Path(runs_dir).resolve()}; train one first or pass --model")
        return from_run(run, checkpoint, prefer_export)
    path = Path(model)
    if path.is_dir():
        return from_run(RunDir(path), checkpoint, prefer_export)
    if not path.exists():
        raise ModelError(f"{model}: no such model file or run directory")
    return _recorded(path) or ModelSource(path)


def _recorded(path: Path) -> ModelSource | None:
    """A file given by path that a run records (its checkpoint or export) is checked against that record."""
    from mnist_cnn.runs import manifest

    run = RunDir(path.resolve().parent.parent)
    if not run.manifest.is_file():
        return None
    try:
        info = manifest.read(run)
    except RunError:
        return None
    relative = path.resolve().relative_to(run.root).as_posix()
    for key, entry in info.exports.items():
        if isinstance(entry, dict) and entry.get("file") == relative and entry.get("sha256"):
            return ModelSource(path, run, None, entry["sha256"], key)
    for role, record in info.checkpoints.items():
        try:
            recorded = record.path(run, role)
        except RunError:  # a checkpoint leading out of the run is not this file's record
            continue
        if recorded.resolve() == path.resolve():
            return ModelSource(path, run, role, record.sha256)
    return None


def check_suffix(path: Path) -> str:
    """The model format for `path` ('.keras', '.onnx', '.tflite'), or a ModelError naming the accepted ones."""
    if path.suffix not in SUFFIXES:
        raise ModelError(
            f"{path}: only .keras, .onnx and .tflite model files are accepted (got '{path.suffix or 'no suffix'}')"
        )
    return path.suffix


class ModelMissing(ModelError):
    """The model file is not there (or not a regular file)."""


def _check_file(path: Path) -> None:
    try:
        size = safe_read.check_regular(path, None, "model file")
    except FileNotFoundError:
        raise ModelMissing(f"{path}: model file is missing") from None
    except safe_read.FileRefused as exc:
        raise ModelError(str(exc)) from None
    if size > MAX_FILE_BYTES:
        raise ModelError(f"{path}: {size / 2**20:.0f} MB is more than a model file may be ({_mb(MAX_FILE_BYTES)})")


def _mb(n: int) -> str:
    return f"{n / 2**20:g} MB"


def _hash_mismatch(path: Path) -> ModelError:
    return ModelError(
        f"{path}: SHA-256 differs from the one recorded in the run's manifest; "
        "the file was changed or damaged after it was recorded, so it is refused"
    )


def read_bytes(source: ModelSource) -> bytes:
    """The bytes of an .onnx/.tflite file after the size limit and the recorded hash (if any) are checked."""
    _check_file(source.path)
    try:
        data = safe_read.read_bytes(source.path, MAX_FILE_BYTES, "model file")
    except FileNotFoundError:
        raise ModelMissing(f"{source.path}: model file is missing") from None
    except safe_read.FileRefused as exc:  # swapped for a FIFO or device, or grew, since the check
        raise ModelError(str(exc)) from None
    if source.expected_sha256 and hashlib.sha256(data).hexdigest() != source.expected_sha256:
        raise _hash_mismatch(source.path)
    return data


def check_archive(archive_file: Path, shown_as: Path | None = None) -> None:
    """Refuse a .keras zip whose members could cost more memory than this product's models ever need.

    Only the central directory is read (a few KB), so a 3.5 MB archive whose config.json inflates to
    gigabytes is refused in milliseconds. The declared sizes can be trusted as upper bounds: Python's
    zipfile (which Keras reads through) never returns more than a member's declared size.
    Messages name `shown_as` (the user's file) when the archive checked is a private copy.
    """
    path = shown_as or archive_file
    try:
        with zipfile.ZipFile(archive_file) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ModelError(f"{path}: not a valid .keras archive") from None
    if len(members) > MAX_MEMBERS:
        raise ModelError(f"{path}: archive has {len(members)} members; a .keras model has at most {MAX_MEMBERS}")
    total = 0
    for info in members:
        size, name = info.file_size, info.filename
        limit = MAX_JSON_MEMBER_BYTES if name.endswith(".json") else MAX_MEMBER_BYTES
        if size > limit:
            raise ModelError(f"{path}: member {name} inflates to {size / 2**20:.0f} MB (limit {_mb(limit)}); refused")
        if size > RATIO_FLOOR and size > MAX_RATIO * max(info.compress_size, 1):
            ratio = size / max(info.compress_size, 1)
            raise ModelError(f"{path}: member {name} is compressed {ratio:.0f}:1 (limit {MAX_RATIO}:1); refused")
        total += size
    if total > MAX_TOTAL_BYTES:
        raise ModelError(f"{path}: archive inflates to {total / 2**20:.0f} MB (limit {_mb(MAX_TOTAL_BYTES)}); refused")
    from mnist_cnn.inference.keras_weights import check_declared_weights

    check_declared_weights(archive_file, path, {info.filename: info.file_size for info in members}, MAX_MEMBER_BYTES)


def load(source: ModelSource, compile: bool = False):
    """Load a .keras file in safe mode after checking hash, suffix, size and archive; then its shapes.

    The bytes checked are the bytes loaded: they are read once, verified, and handed to Keras
    through a private copy, so the file cannot change in between. `compile=True` (resuming
    training) also restores the optimizer and its state.
    """
    path = source.path
    if path.suffix != ".keras":
        check_suffix(path)
        raise ModelError(f"{path}: a {path.suffix} file is not a Keras model; use a runtime to load it")
    source, data = read_current(source)
    with tempfile.TemporaryDirectory(prefix="mnist-cnn-model-") as scratch:
        private = Path(scratch) / "model.keras"
        private.write_bytes(data)
        if not zipfile.is_zipfile(private):
            raise ModelError(f"{path}: not a valid .keras archive")
        check_archive(private, shown_as=path)
        from mnist_cnn.tfquiet import import_tensorflow

        import_tensorflow()  # only now: a refused file costs no TensorFlow start-up
        import keras

        try:
            model = keras.saving.load_model(private, safe_mode=True, compile=compile)
        except Exception as exc:  # Keras raises many types for bad archives; all mean "unusable"
            raise ModelError(f"{path}: cannot load this .keras file ({first_line(exc, 200)})") from None
    _check_shapes(model, path)
    return model


def read_current(source: ModelSource, attempts: int = 3) -> tuple[ModelSource, bytes]:
    """The source's verified bytes. A run that is being trained may have committed newer epochs (and
    removed older files) since its manifest was read: then the manifest is read again and followed."""
    for attempt in range(attempts):
        try:
            return source, read_bytes(source)
        except ModelMissing:
            if source.run is None or source.export or attempt == attempts - 1:
                raise
            source = from_run(source.run, source.checkpoint)
    raise AssertionError("unreachable")


def _check_shapes(model, path: Path) -> None:
    inputs, outputs = getattr(model, "input_shape", None), getattr(model, "output_shape", None)
    if inputs is None or tuple(inputs)[1:] != (28, 28, 1):
        raise ModelError(f"{path}: model input is {inputs}, expected (None, 28, 28, 1)")
    if outputs is None or tuple(outputs)[1:] != (10,):
        raise ModelError(f"{path}: model output is {outputs}, expected 10 classes")
