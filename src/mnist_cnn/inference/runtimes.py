"""One small interface over the inference runtimes: load a model file, get probabilities for a batch.

Every runtime takes float32 images (N, 28, 28, 1) in [0, 1] (MNIST-style preprocessing already
applied) and returns float32 probabilities (N, 10). Keras is one runtime among several; the
others (ONNX Runtime, LiteRT) never import TensorFlow.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

BATCH = 512


class Runtime(Protocol):
    """A loaded model behind some runtime."""

    name: str

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, 10) float32 for images (N, 28, 28, 1) float32 in [0, 1]."""
        ...


class KerasRuntime:
    """A Keras model called directly in batches (no `model.predict` set-up cost per call)."""

    name = "keras"

    def __init__(self, model):
        self.model = model

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Probabilities (N, 10) float32, in batches of BATCH."""
        outputs = [
            np.asarray(self.model(images[i : i + BATCH], training=False), dtype=np.float32)
            for i in range(0, len(images), BATCH)
        ]
        return np.concatenate(outputs) if outputs else np.zeros((0, 10), np.float32)
