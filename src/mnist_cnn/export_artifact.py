"""One export artifact: convert the Keras model to ONNX, LiteRT or SavedModel and verify it.

An artifact is written under a temporary name, scored by its own runtime (ONNX Runtime,
ai-edge-litert, tf.saved_model.load) against the Keras checkpoint's probabilities, and only then
moved into place; one that fails is removed and reported with by how much. `export` records the
artifacts of a run; `export_features` makes features.onnx with the same steps.
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
from mnist_cnn.runs.rundir import file_sha256

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


def version(package: str) -> str:
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


def convert(model, key: str, target: Path) -> None:
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
        return _saved_model_probabilities(path), f"tensorflow {version('tensorflow')}"
    from mnist_cnn.inference.runtimes import LiteRTRuntime, OnnxRuntime

    data = modelfiles.read_bytes(modelfiles.ModelSource(path))
    if key == "onnx":
        return OnnxRuntime(data, path).probabilities, f"onnxruntime {version('onnxruntime')}"
    return LiteRTRuntime(data, path).probabilities, f"ai-edge-litert {version('ai-edge-litert')}"


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
    return ", ".join(f"{p} {version(p)}" for p in tools.get(key, ["keras", "tensorflow"]))


def export_one(model, key: str, target: Path, reference: np.ndarray, images: np.ndarray, labels: np.ndarray) -> dict:
    """Convert, verify and move one artifact into `target`; returns its record (ExportError if it fails)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        staged = scratch / target.name
        try:
            convert(model, key, staged)
        except Exception as exc:  # converters raise anything; the user needs the first line
            raise ExportError(f"{key}: conversion failed ({first_line(exc, 300)})") from None
        probs_fn, runtime = _runtime_probabilities(key, staged)
        check = verify(probs_fn, reference, images, labels)
        why = check.failure("int8" if key == "litert_int8" else "float")
        if why:
            raise ExportError(f"{key}: the exported model failed verification and was removed: {why}")
        record = artifact_record(key, staged, runtime, check)
        if target.is_dir():
            shutil.rmtree(target)
        staged.replace(target)  # same folder, so a rename: the old artifact or the new, never a torn one
        return record
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def artifact_record(key: str, staged: Path, runtime: str, check: Verification) -> dict:
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
