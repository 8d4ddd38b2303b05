"""Export a run's model to ONNX, LiteRT (.tflite) or SavedModel, each verified by its own runtime.

Each artifact is made and verified by `export_artifact` (on the run's whole test set against the
Keras checkpoint) and then recorded in the run's manifest (under "exports", with its hash, versions
and verification figures).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_cnn.errors import MnistCnnError, first_line
from mnist_cnn.export_artifact import (  # noqa: F401 (ARTIFACTS, FORMATS, ExportError, key_for: this module's API too)
    ARTIFACTS,
    FORMATS,
    ExportError,
    check_available,
    export_one,
    key_for,
    verify,
)
from mnist_cnn.inference import modelfiles
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs.manifest import FINISHED
from mnist_cnn.runs.rundir import EXPORT_DIR, RunDir, RunError


@dataclass
class Trained:
    """What a training process already holds, handed to the end-of-training export instead of re-read from disk."""

    model: object  # the Keras model whose weights the scored checkpoint holds
    checkpoint: str  # which checkpoint that is ("last" or "best")
    checkpoint_sha256: str
    images: np.ndarray  # the run's test images, scaled float32 (N, 28, 28, 1)
    labels: np.ndarray
    reference: np.ndarray  # the model's probabilities on `images` (from the test scoring)
    manifest: manifests.Manifest  # the training process's manifest object, updated in place
    save_manifest: Callable[[], None]  # writes it (the training process's one writer)


def export_run(
    run: RunDir,
    formats: list[str],
    quantize: str | None = None,
    out: Path | None = None,
    checkpoint: str | None = None,
    data_path: str | None = None,
    log: Callable[[str], None] = print,
) -> list[dict]:
    """Export a finished run's checkpoint to each format, verify, keep and record those that pass.

    Artifacts go to the run's export/ folder (and into its manifest), or to `out` (not recorded).
    Every format is tried; if any fails, ExportError names each failure after the rest are done.
    """
    keys = list(dict.fromkeys(key_for(f, quantize) for f in formats))
    check_available({"litert_int8": "litert"}.get(k, k) for k in keys)
    status = manifests.read(run).status
    if status not in FINISHED:
        raise RunError(f"{run.root}: run is {status!r}; only a finished run can be exported")
    source = modelfiles.from_run(run, checkpoint)
    from mnist_cnn.tfquiet import import_tensorflow

    import_tensorflow()
    model = modelfiles.load(source)
    images, labels = _test_set(run, data_path, log)
    from mnist_cnn.inference.runtimes import KerasRuntime

    reference = KerasRuntime(model).probabilities(images)
    trained = Trained(model, source.checkpoint, source.expected_sha256, images, labels, reference, None, None)
    return _export_all(run, trained, keys, out, lambda key, record: _record(run, key, record), log)


def export_trained(run: RunDir, trained: Trained, formats: list[str], log: Callable[[str], None] = print) -> list[dict]:
    """Export the model a training process holds, verified on its test arrays, recorded in its manifest object."""
    keys = list(dict.fromkeys(key_for(f, None) for f in formats))
    check_available(keys)

    def record_in_memory(key: str, record: dict) -> None:
        trained.manifest.exports[key] = record
        trained.save_manifest()

    return _export_all(run, trained, keys, None, record_in_memory, log)


def _export_all(run: RunDir, trained: Trained, keys: list[str], out: Path | None, record_fn, log) -> list[dict]:
    """Convert, verify and keep each artifact; every format is tried, failures reported together."""
    folder = out or run.exports
    records, failures = [], []
    for key in keys:
        target = folder / ARTIFACTS[key][0]
        try:
            record = export_one(trained.model, key, target, trained.reference, trained.images, trained.labels)
        except ExportError as exc:
            failures.append(str(exc))
            continue
        record.update(source_checkpoint=trained.checkpoint, source_sha256=trained.checkpoint_sha256)
        record["file"] = f"{EXPORT_DIR}/{target.name}" if out is None else str(target)
        _log_export(log, key, target, record)
        if key == "onnx":  # its feature-map companion, recorded inside the onnx entry
            try:
                record["features"] = _features_of(trained, folder, out, log)
            except ExportError as exc:
                failures.append(str(exc))
                record["features"] = None
        if out is None:
            record_fn(key, record)
        records.append(record)
    if failures:
        raise ExportError("; ".join(failures))
    return records


def _features_of(trained: Trained, folder: Path, out: Path | None, log) -> dict | None:
    """features.onnx beside model.onnx and its record (None when the model has no conv/pooling layer)."""
    from mnist_cnn.explain.features import FEATURES_FILE

    target = folder / FEATURES_FILE
    from mnist_cnn.export_features import export_features

    record = export_features(trained.model, target, trained.reference, trained.images, trained.labels)
    if record is None:
        return None
    record.update(source_checkpoint=trained.checkpoint, source_sha256=trained.checkpoint_sha256)
    record["file"] = f"{EXPORT_DIR}/{target.name}" if out is None else str(target)
    _log_export(log, "onnx features", target, record)
    return record


def _log_export(log: Callable[[str], None], key: str, target: Path, record: dict) -> None:
    check = record["verification"]
    log(f"Exported {key}: {target} ({record['bytes'] / 1024:.0f} KB); verified on {check['images']} test images: "
            f"accuracy {check['accuracy']:.4%} (Keras {check['keras_accuracy']:.4%}), top class agrees on "
        f"{check['argmax_agreement']:.2%}, max probability difference {check['max_abs_diff']:.1e}")  # fmt: skip


def _record(run: RunDir, key: str, record: dict) -> None:
    """Add the artifact to the manifest as it is now on disk (re-read: nothing else is overwritten)."""
    manifest = manifests.read(run)
    manifest.exports[key] = record
    manifests.write(run, manifest)


def _test_set(run: RunDir, data_path: str | None, log) -> tuple[np.ndarray, np.ndarray]:
    """The run's own test images (scaled float32, N×28×28×1) and labels."""
    from mnist_cnn import config
    from mnist_cnn.data import acquire, preparation

    data_cfg = config.load(run.config).data
    prepared = preparation.prepare(acquire.load_mnist(data_path or data_cfg.path, log=log), data_cfg)
    return preparation.scale(prepared.x_test), prepared.y_test


def export_after_training(
    run: RunDir, formats: list[str], log: Callable[[str], None], trained: Trained | None = None
) -> None:
    """The end-of-training export: the run is already complete, so a failure leaves it intact and says how to retry.

    With `trained` (what the training process holds) nothing is re-read from disk; without it the
    finished run's checkpoint, test set and manifest are read back, as `mnist-cnn export` does.
    """
    if not formats:
        return
    try:
        if trained is None:
            export_run(run, list(formats), log=log)
        else:
            export_trained(run, trained, list(formats), log=log)
    except MnistCnnError as exc:
        raise ExportError(
            f"training completed ({run.root}), but the export failed: {first_line(exc, 600)}; "
            f"retry with: mnist-cnn export {run.root} --format {' --format '.join(formats)}"
        ) from None
