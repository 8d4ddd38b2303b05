"""Find the layers worth showing in a Keras model: every convolution and pooling layer with a 2-D output.

Found from the model itself (class and output shape), so every preset and any custom layer stack
works; nothing here knows a particular architecture. TensorFlow is needed only because a Keras
model is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Class-name parts that mark a layer whose output is a stack of 2-D feature maps. Global pooling
# and 1-D/3-D layers are left out by the output-rank check below.
FEATURE_KINDS = ("Conv", "Pooling")


@dataclass(frozen=True)
class FeatureLayer:
    """One layer whose output the panel shows: its name, Keras class and output shape (H, W, C)."""

    name: str
    kind: str
    shape: tuple[int, int, int]

    def as_dict(self) -> dict:
        """Strict-JSON-safe form (the ONNX metadata and the API use it)."""
        return {"name": self.name, "kind": self.kind, "shape": list(self.shape)}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureLayer:
        """The inverse of as_dict (ValueError/TypeError/KeyError on a malformed entry)."""
        shape = tuple(int(v) for v in data["shape"])
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(f"bad shape {data['shape']!r}")
        return cls(str(data["name"]), str(data["kind"]), shape)  # type: ignore[arg-type]


def _output_shape(layer) -> tuple | None:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):  # a layer never called on a symbolic input has no output
        return None


def feature_layers(model) -> list[tuple[object, FeatureLayer]]:
    """(Keras layer, description) for every conv/pooling layer with an (N, H, W, C) output, in model order."""
    found = []
    for layer in model.layers:
        kind = type(layer).__name__
        if not any(part in kind for part in FEATURE_KINDS):
            continue
        shape = _output_shape(layer)
        if shape is None or len(shape) != 4 or any(not isinstance(d, int) for d in shape[1:]):
            continue
        found.append((layer, FeatureLayer(layer.name, kind, (shape[1], shape[2], shape[3]))))
    return found


def discover(model) -> list[FeatureLayer]:
    """The conv/pooling layers of a Keras model, as the panel names and shapes them."""
    return [info for _, info in feature_layers(model)]


def feature_model(model):
    """A Keras model with the same input whose outputs are [probabilities, every feature layer's output...]."""
    import keras

    layers = feature_layers(model)
    return keras.Model(inputs=model.inputs[0], outputs=[model.outputs[0], *(layer.output for layer, _ in layers)])


def first_kernels(model) -> tuple[str, np.ndarray] | None:
    """The first convolution layer's name and kernels (kh, kw, in, out), or None if it has none."""
    for layer, info in feature_layers(model):
        if "Conv" in info.kind and layer.get_weights():
            return info.name, np.asarray(layer.get_weights()[0])
    return None
