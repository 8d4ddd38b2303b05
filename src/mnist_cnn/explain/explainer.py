"""One explanation per image: probabilities, occlusion saliency and every conv/pooling layer's feature maps."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mnist_cnn.explain.features import FeatureSource, load_features
from mnist_cnn.explain.layers import FeatureLayer
from mnist_cnn.explain.saliency import PATCH, STRIDE, occlusion_map
from mnist_cnn.inference.modelfiles import ModelSource

DECIMALS = 5  # saliency and activations in JSON: plenty for a picture, a fraction of the bytes


@dataclass
class Explanation:
    """What the network saw in one image."""

    image: np.ndarray  # (28, 28) float32 in [0, 1], as the model saw it
    probabilities: np.ndarray  # (10,)
    saliency: np.ndarray  # (28, 28): drop in the answer's log-odds when the pixel's patches are hidden
    layers: list[FeatureLayer] = field(default_factory=list)
    maps: list[np.ndarray] = field(default_factory=list)  # one (H, W, C) array per layer
    missing: str | None = None  # why there are no feature maps, and what to run

    @property
    def digit(self) -> int:
        """The answer."""
        return int(np.argmax(self.probabilities))

    def top(self, k: int = 3) -> list[dict]:
        """The k most probable digits with their probabilities."""
        order = np.argsort(-self.probabilities, kind="stable")[:k]
        return [{"digit": int(d), "probability": float(self.probabilities[d])} for d in order]

    def numbers(self) -> dict:
        """The explanation's numbers as strict JSON: saliency grid, per-layer maximum activations."""
        layers = []
        for layer, values in zip(self.layers, self.maps, strict=True):
            channel_max = values.reshape(-1, values.shape[-1]).max(axis=0)
            layers.append(
                {
                    **layer.as_dict(),
                    "max_activation": _num(values.max()),
                    "channel_max": _nums(channel_max),
                }
            )
        return {
            "saliency": {
                "method": "occlusion",
                "measure": "drop in the log-odds of the answer when the pixel's patches are hidden",
                "patch": PATCH,
                "stride": STRIDE,
                "target": self.digit,
                "grid": _nums(self.saliency),
            },
            "layers": layers,
            "feature_maps": "included" if self.layers else None,
            "feature_maps_missing": self.missing,
        }

    def with_maps(self) -> dict:
        """numbers() plus each layer's maps as base64 uint8 (channel-major C×H×W, 255 = the layer's maximum)."""
        result = self.numbers()
        for entry, values in zip(result["layers"], self.maps, strict=True):
            peak = float(values.max())
            scaled = np.clip(values / peak, 0, 1) if peak > 0 else np.zeros_like(values)
            tiles = np.round(scaled * 255).astype(np.uint8).transpose(2, 0, 1)
            entry["maps"] = base64.b64encode(np.ascontiguousarray(tiles).tobytes()).decode("ascii")
        return result


def _nums(values: np.ndarray) -> list:
    """Rounded floats (nested like the array) for strict JSON: a non-finite value becomes 0.0."""
    values = np.nan_to_num(np.asarray(values, np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.round(values, DECIMALS).tolist()


def _num(value) -> float:
    value = float(value)
    return round(value, DECIMALS) if np.isfinite(value) else 0.0


class Explainer:
    """A runtime (for probabilities and saliency) and, where available, a feature source."""

    def __init__(self, runtime, features: FeatureSource | None = None, missing: str | None = None):
        self.runtime = runtime
        self.features = features
        self.missing = None if features is not None else (missing or "no feature-map model is available")

    @property
    def layers(self) -> list[FeatureLayer]:
        """The layers whose feature maps are shown (empty without a feature source)."""
        return self.features.layers if self.features is not None else []

    def explain(self, image: np.ndarray, probabilities: np.ndarray | None = None) -> Explanation:
        """Explain one (28, 28) image; `probabilities` are the runtime's own for it, when already known.

        The probabilities reported are the runtime's (those `predict` gives), not the feature model's.
        """
        image = np.asarray(image, np.float32).reshape(28, 28)
        if probabilities is None:
            probabilities = self.runtime.probabilities(image[np.newaxis, ..., np.newaxis])[0]
        probabilities = np.asarray(probabilities, np.float32)
        saliency = occlusion_map(self.runtime.probabilities, image, probabilities)
        explanation = Explanation(image, probabilities, saliency, missing=self.missing)
        if self.features is not None:
            _, maps = self.features.outputs(image[np.newaxis, ..., np.newaxis])
            explanation.layers = list(self.features.layers)
            explanation.maps = [np.asarray(m[0], np.float32) for m in maps]
        return explanation


def load_explainer(source: ModelSource, runtime=None) -> Explainer:
    """An Explainer for a model source (its runtime loaded here unless given)."""
    from mnist_cnn.inference.runtimes import load_runtime

    runtime = runtime if runtime is not None else load_runtime(source)
    features, missing = load_features(source, runtime)
    return Explainer(runtime, features, missing)


def for_file(path: str | Path, runtime) -> Explainer:
    """An Explainer for a model file already loaded as `runtime` (the server's case)."""
    from mnist_cnn.inference import modelfiles

    return load_explainer(modelfiles.resolve(str(path)), runtime)
