"""Feature maps from whichever model is in use: a Keras model directly, or an exported `features.onnx`.

`features.onnx` is the run's model with one output more per conv/pooling layer (output 0 is the
probabilities), written and verified by `mnist-cnn export --format onnx`; its ONNX metadata names
the layers. An .onnx or .tflite model without it still predicts and gets saliency; `missing` then
says which command makes the feature maps available.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np

from mnist_cnn import safe_read
from mnist_cnn.errors import first_line
from mnist_cnn.explain.layers import FeatureLayer
from mnist_cnn.inference import modelfiles
from mnist_cnn.inference.modelfiles import ModelError, ModelSource

FEATURES_FILE = "features.onnx"  # beside model.onnx in a run's export/ folder
# Recorded in the run manifest as exports["onnx"]["features"] (file, sha256, layers, verification).
METADATA_KEY = "mnist_cnn.feature_layers"  # ONNX metadata: JSON list of FeatureLayer.as_dict()
# The feature model's probabilities must match the served model's on probe images, or its maps
# would explain some other model (a stale file from an older export).
MAX_PROBE_DIFF = 1e-4


class FeatureSource(Protocol):
    """Something that returns the probabilities and each feature layer's maps for a batch."""

    layers: list[FeatureLayer]

    def outputs(self, images: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Probabilities (N, 10) and one (N, H, W, C) array per layer, for images (N, 28, 28, 1)."""
        ...


class KerasFeatures:
    """Feature maps straight from a Keras model (TensorFlow is loaded already when one is in use)."""

    def __init__(self, model):
        from mnist_cnn.explain.layers import discover, feature_model

        self.layers = discover(model)
        self.model = feature_model(model)

    def outputs(self, images: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Probabilities and feature maps in one call of the multi-output Keras model."""
        values = [np.asarray(v, np.float32) for v in self.model(np.asarray(images, np.float32), training=False)]
        return values[0], values[1:]


class OnnxFeatures:
    """An exported features.onnx in ONNX Runtime (CPU): no TensorFlow."""

    def __init__(self, data: bytes, path: Path):
        from mnist_cnn.inference.runtimes import onnx_session

        self.path = path
        self.session, self.run_options = onnx_session(data, path)  # checked graph, capped memory (as any ONNX)
        try:
            described = json.loads(self.session.get_modelmeta().custom_metadata_map[METADATA_KEY])
            self.layers = [FeatureLayer.from_dict(entry) for entry in described]
        except KeyError:
            raise ModelError(f"{path}: has no '{METADATA_KEY}' metadata; not a features model") from None
        except (ValueError, TypeError) as exc:
            raise ModelError(f"{path}: not a usable features model ({first_line(exc, 200)})") from None
        except Exception as exc:  # onnxruntime raises its own types for bad files
            raise ModelError(f"{path}: not a usable ONNX model ({first_line(exc, 200)})") from None
        outputs = self.session.get_outputs()
        if len(outputs) != len(self.layers) + 1:
            raise ModelError(f"{path}: {len(outputs)} outputs for {len(self.layers)} layers; expected one more")
        for output, layer in zip(outputs[1:], self.layers, strict=True):
            if list(output.shape[1:]) != list(layer.shape):
                raise ModelError(f"{path}: output {output.name} is {output.shape}, metadata says {layer.shape}")
        self.input_name = self.session.get_inputs()[0].name

    def outputs(self, images: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Probabilities and feature maps in one ONNX Runtime call."""
        try:
            values = self.session.run(
                None, {self.input_name: np.ascontiguousarray(images, dtype=np.float32)}, self.run_options
            )
        except Exception as exc:  # e.g. the capped arena refusing a huge allocation
            from mnist_cnn.inference.onnxcheck import short

            raise ModelError(f"{self.path}: the feature-map model failed while running ({short(exc)})") from None
        return values[0], values[1:]


def rerun_hint(run_root: Path | None) -> str:
    """The command that writes the feature-map model, worded for a run or a loose file."""
    where = str(run_root) if run_root is not None else "RUN"
    return f"mnist-cnn export {where} --format onnx"


def _recorded_features(source: ModelSource) -> tuple[Path, str | None] | str:
    """Where the run's features.onnx is and its recorded hash, or why it cannot be used."""
    from mnist_cnn.runs import manifest

    exports = manifest.read(source.run).exports
    onnx_entry = exports.get("onnx")
    entry = onnx_entry.get("features") if isinstance(onnx_entry, dict) else None
    if not isinstance(entry, dict) or not isinstance(entry.get("file"), str):
        return f"this run's export has no feature-map model; run: {rerun_hint(source.run.root)}"
    served = exports.get(source.export) if source.export else None
    made_from = served.get("source_sha256") if isinstance(served, dict) else source.expected_sha256
    if entry.get("source_sha256") != made_from:
        return f"the run's feature-map model was made from another checkpoint; run: {rerun_hint(source.run.root)}"
    try:  # a path read back from the manifest stays inside the run, links included
        path = safe_read.confined(source.run.root, entry["file"], "manifest.json exports.onnx.features.file")
    except safe_read.FileRefused as exc:
        return str(exc)
    return path, entry.get("sha256")


def _locate(source: ModelSource) -> tuple[Path, str | None] | str:
    """The features.onnx that belongs to an exported model, or a message saying how to make it."""
    if source.run is not None and (source.export or source.checkpoint):
        return _recorded_features(source)
    sibling = source.path.with_name(FEATURES_FILE)
    if sibling.is_file() and sibling != source.path:
        return sibling, None
    return (
        f"{source.path.name} has no feature-map model beside it ({FEATURES_FILE}); "
        f"export its run with: {rerun_hint(None)}"
    )


def load_features(source: ModelSource, runtime) -> tuple[FeatureSource | None, str | None]:
    """The feature source for a loaded model, or None and the one line that says how to get one."""
    if runtime.name == "keras":
        return KerasFeatures(runtime.model), None
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        return None, "feature maps of an exported model need the onnxruntime package; pip install 'mnist-cnn[onnx]'"
    found = _locate(source)
    if isinstance(found, str):
        return None, found
    path, sha256 = found
    try:
        features = OnnxFeatures(modelfiles.read_bytes(ModelSource(path, expected_sha256=sha256)), path)
    except ModelError as exc:
        return None, f"{first_line(exc, 300)}; run: {rerun_hint(source.run.root if source.run else None)}"
    why = _disagreement(features, runtime)
    return (None, why) if why else (features, None)


def _disagreement(features: FeatureSource, runtime) -> str | None:
    """Why the feature model is not the served model (None: their probabilities agree on probe images)."""
    probes = np.zeros((3, 28, 28, 1), np.float32)
    probes[1, 6:22, 13:15, 0] = 1.0  # a vertical bar, like a 1
    probes[2, 8:20, 8:20, 0] = np.linspace(0, 1, 12, dtype=np.float32)  # a shaded block
    theirs, _ = features.outputs(probes)
    ours = runtime.probabilities(probes)
    diff = float(np.max(np.abs(np.asarray(theirs) - np.asarray(ours))))
    if not np.isfinite(diff) or diff > MAX_PROBE_DIFF:  # NaN compares false: a NaN model never "agrees"
        return (
            f"the feature-map model does not match the model in use (probabilities differ by {diff:.1e}); re-export it"
        )
    return None
