"""Export a run's model to ONNX, LiteRT (.tflite) or SavedModel, each verified by its own runtime.

An artifact is written under a temporary name, scored by its own runtime (ONNX Runtime,
ai-edge-litert, tf.saved_model.load) on the run's whole test set against the Keras checkpoint,
and only then moved into place and recorded in the run's manifest (under "exports", with its
hash, versions and verification figures). One that fails is removed and reported with by how much.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import importlib.util
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mnist_cnn.errors import MnistCnnError, first_line
from mnist_cnn.inference import modelfiles
from mnist_cnn.inference.modelfiles import MissingRuntimeError
from mnist_cnn.runs import manifest as manifests
from mnist_cnn.runs.manifest import FINISHED
from mnist_cnn.runs.rundir import EXPORT_DIR, RunDir, RunError, file_sha256

# manifest key -> (file or folder name, format given to keras' model.export)
ARTIFACTS = {
    "onnx": ("model.onnx", "onnx"),
    "litert": ("model.tflite", "litert"),
    "litert_int8": ("model-int8.tflite", "litert"),
    "saved_model": ("saved_model", "tf_saved_model"),
}
FORMATS = ("onnx", "litert", "saved_model")
INPUT_NAME = "image"  # what the exported model's input is called (ONNX and the SavedModel signature)
# Pass marks: share of test images whose top class agrees with Keras, and accuracy difference (fraction).
MIN_AGREEMENT = 0.9995
MAX_ACCURACY_DROP = {"float": 0.0001, "int8": 0.002}
FEATURES_KEY = "onnx_features"  # features.onnx (made with "onnx", recorded in its entry as "features")
# package needed -> pip extra; converting needs the first ones, verifying the last.
NEEDS = {
    "onnx": [("tf2onnx", "onnx"), ("onnx", "onnx"), ("onnxruntime", "onnx")],
    "litert": [("ai_edge_litert", "litert")],
    "saved_model": [],
}


class ExportError(MnistCnnError):
    """An artifact could not be made or failed its verification (it was not kept)."""


@dataclass
class Verification:
    """How an artifact's answers compare with the Keras checkpoint's on the test set."""

    images: int
    max_abs_diff: float
    argmax_agreement: float
    accuracy: float
    keras_accuracy: float

    def failure(self, kind: str) -> str | None:
        """Why the artifact fails the pass marks (None: it passes)."""
        drop = abs(self.accuracy - self.keras_accuracy)
        if kind == "float" and self.argmax_agreement < MIN_AGREEMENT:
            return f"top class agrees with Keras on {self.argmax_agreement:.4%} of images (needs {MIN_AGREEMENT:.2%})"
        if drop > MAX_ACCURACY_DROP[kind]:
            return (
                f"accuracy {self.accuracy:.4%} vs Keras {self.keras_accuracy:.4%}: differs by {drop * 100:.3f} pt "
                f"(allowed {MAX_ACCURACY_DROP[kind] * 100:g} pt)"
            )
        return None


def key_for(fmt: str, quantize: str | None) -> str:
    """The manifest key (and artifact kind) for a format and quantization."""
    if quantize and fmt != "litert":
        raise MnistCnnError(f"--quantize {quantize}: only the litert format can be quantized", exit_code=2)
    return "litert_int8" if quantize else fmt


def check_available(formats) -> None:
    """Refuse (exit 2, before anything is written) when a format's optional packages are missing."""
    for fmt in formats:
        for package, extra in NEEDS[fmt]:
            if importlib.util.find_spec(package) is None:
                raise MissingRuntimeError(
                    f"export to {fmt} needs the {package} package; pip install 'mnist-cnn[{extra}]'"
                    + (" or leave it out of output.export" if fmt == "onnx" else "")
                )


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def tree_sha256(path: Path) -> str:
    """SHA-256 of a file, or of a folder's sorted (relative name, file hash) list."""
    if path.is_file():
        return file_sha256(path)
    digest = hashlib.sha256()
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{item.relative_to(path).as_posix()}\0{file_sha256(item)}\n".encode())
    return digest.hexdigest()


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _convert(model, key: str, target: Path) -> None:
    """Write the artifact with Keras' own exporter (tf2onnx / the TFLite converter underneath)."""
    import tensorflow as tf

    from mnist_cnn.tfquiet import silenced_stderr

    # A model loaded from a file has no traced call signature: give one, with a named input.
    signature = [tf.TensorSpec((None, 28, 28, 1), tf.float32, name=INPUT_NAME)]
    extra = {"optimizations": [tf.lite.Optimize.DEFAULT]} if key == "litert_int8" else {}
    with silenced_stderr():  # the converters print pages of progress on stdout and stderr
        model.export(str(target), format=ARTIFACTS[key][1], input_signature=signature, verbose=False, **extra)


def _saved_model_probabilities(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]

    def probabilities(images: np.ndarray) -> np.ndarray:
        parts = [next(iter(serve(**{INPUT_NAME: tf.constant(images[i : i + 512])}).values())).numpy()
                 for i in range(0, len(images), 512)]  # fmt: skip
        return np.concatenate(parts).astype(np.float32)

    return probabilities


def _runtime_probabilities(key: str, path: Path) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """The artifact's own runtime (and its name and version) as a probability function."""
    if key == "saved_model":
        return _saved_model_probabilities(path), f"tensorflow {_version('tensorflow')}"
    from mnist_cnn.inference.runtimes import LiteRTRuntime, OnnxRuntime

    data = modelfiles.read_bytes(modelfiles.ModelSource(path))
    if key == "onnx":
        return OnnxRuntime(data, path).probabilities, f"onnxruntime {_version('onnxruntime')}"
    return LiteRTRuntime(data, path).probabilities, f"ai-edge-litert {_version('ai-edge-litert')}"


def verify(probs_fn, reference: np.ndarray, images: np.ndarray, labels: np.ndarray) -> Verification:
    """Compare an artifact's probabilities with the Keras reference on (images, labels)."""
    probs = probs_fn(images)
    return Verification(
        images=len(images),
        max_abs_diff=float(np.max(np.abs(probs - reference))) if len(images) else 0.0,
        argmax_agreement=float(np.mean(probs.argmax(1) == reference.argmax(1))),
        accuracy=float(np.mean(probs.argmax(1) == labels)),
        keras_accuracy=float(np.mean(reference.argmax(1) == labels)),
    )


def _opset(path: Path) -> int | None:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)


def _converter(key: str) -> str:
    tools = {"onnx": ["keras", "tf2onnx", "onnx"], "saved_model": ["keras", "tensorflow"]}
    return ", ".join(f"{p} {_version(p)}" for p in tools.get(key, ["keras", "tensorflow"]))


def export_one(model, key: str, target: Path, reference: np.ndarray, images: np.ndarray, labels: np.ndarray) -> dict:
    """Convert, verify and move one artifact into `target`; returns its record (ExportError if it fails)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        staged = scratch / target.name
        try:
            _convert(model, key, staged)
        except Exception as exc:  # converters raise anything; the user needs the first line
            raise ExportError(f"{key}: conversion failed ({first_line(exc, 300)})") from None
        probs_fn, runtime = _runtime_probabilities(key, staged)
        check = verify(probs_fn, reference, images, labels)
        why = check.failure("int8" if key == "litert_int8" else "float")
        if why:
            raise ExportError(f"{key}: the exported model failed verification and was removed: {why}")
        record = _artifact_record(key, staged, runtime, check)
        if target.is_dir():
            shutil.rmtree(target)
        staged.replace(target)  # same folder, so a rename: the old artifact or the new, never a torn one
        return record
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _artifact_record(key: str, staged: Path, runtime: str, check: Verification) -> dict:
    """The manifest entry of a verified artifact (its file name is set by the caller)."""
    return {
        "format": key,
        "file": staged.name,
        "sha256": tree_sha256(staged),
        "bytes": _size(staged),
        "runtime": runtime,
        "converter": _converter("onnx" if key == FEATURES_KEY else key),
        "opset": _opset(staged) if key in ("onnx", FEATURES_KEY) else None,
        "input": {"name": INPUT_NAME, "shape": [None, 28, 28, 1], "dtype": "float32", "scale": "pixels / 255"},
        "verification": vars(check),
        "exported_at": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
    }


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
