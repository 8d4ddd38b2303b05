"""features.onnx: the exported model plus every conv/pooling layer's output, for `explain` and the draw page.

Split from export.py (which converts and verifies the class model in each format): this is the one
export with a second check, each feature map against Keras' own intermediate activations.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from mnist_cnn.errors import first_line
from mnist_cnn.export_artifact import FEATURES_KEY, ExportError, artifact_record, convert, verify, version

FEATURE_CHECK_IMAGES = 256  # test images on which each feature map is compared with Keras'
MAX_FEATURE_DIFF = 1e-4  # of the layer's largest activation: float32 rounding, not a different model


def export_features(model, target: Path, reference: np.ndarray, images: np.ndarray, labels: np.ndarray) -> dict | None:
    """Write and verify features.onnx: the model with every conv/pooling layer's output added (None: it has none).

    Verified like model.onnx (its class output against Keras on the whole test set), and each extra
    output against Keras' own intermediate activations on a batch of test images.
    """
    from mnist_cnn.explain import features as feature_files
    from mnist_cnn.explain.layers import discover, feature_model

    layers = discover(model)
    if not layers:
        return None
    keras_features = feature_model(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        staged = scratch / target.name
        try:
            convert(keras_features, "onnx", staged)
            _add_metadata(staged, {feature_files.METADATA_KEY: json.dumps([layer.as_dict() for layer in layers])})
            onnx_features = feature_files.OnnxFeatures(staged.read_bytes(), staged)
        except Exception as exc:  # converters raise anything; the user needs the first line
            raise ExportError(f"{FEATURES_KEY}: conversion failed ({first_line(exc, 300)})") from None
        check = verify(lambda x: _first_output(onnx_features, x), reference, images, labels)
        why = check.failure("float")
        differences = _feature_differences(keras_features, onnx_features, images[:FEATURE_CHECK_IMAGES])
        worst = max(differences.values())
        if why is None and worst > MAX_FEATURE_DIFF:
            why = f"a feature map differs from Keras by {worst:.1e} of its layer maximum (allowed {MAX_FEATURE_DIFF:g})"
        if why:
            raise ExportError(f"{FEATURES_KEY}: the exported model failed verification and was removed: {why}")
        record = artifact_record(FEATURES_KEY, staged, f"onnxruntime {version('onnxruntime')}", check)
        record["layers"] = [layer.as_dict() for layer in layers]
        record["feature_check"] = {"images": min(len(images), FEATURE_CHECK_IMAGES), "max_relative_diff": differences}
        staged.replace(target)
        return record
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _add_metadata(path: Path, entries: dict[str, str]) -> None:
    import onnx

    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, **entries})
    onnx.save(model, str(path))


def _first_output(features, images: np.ndarray) -> np.ndarray:
    """The feature model's probabilities in batches (its other outputs are dropped batch by batch)."""
    parts = [features.outputs(images[i : i + 256])[0] for i in range(0, len(images), 256)]
    return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 10), np.float32)


def _feature_differences(keras_features, onnx_features, images: np.ndarray) -> dict[str, float]:
    """Per layer: the largest |ONNX - Keras| activation on `images`, as a fraction of Keras' largest."""
    expected = [np.asarray(v) for v in keras_features(images, training=False)[1:]]
    _, got = onnx_features.outputs(images)
    result = {}
    for layer, want, have in zip(onnx_features.layers, expected, got, strict=True):
        scale = max(float(np.abs(want).max()), 1e-6)
        result[layer.name] = float(np.abs(np.asarray(have) - want).max()) / scale
    return result
