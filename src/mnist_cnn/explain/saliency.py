"""Occlusion saliency (Zeiler & Fergus 2014): which pixels pushed the answer, found by hiding patches.

Works with any runtime (ONNX Runtime, LiteRT, Keras) because it needs only probabilities: every
occluded copy of the image goes to the runtime in one batch. Hand-written in NumPy because the
libraries that offer it (Captum, tf-explain) are tied to one framework's models and gradients.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

PATCH = 4  # pixels: about one stroke width of a 28×28 digit
STRIDE = 3  # overlapping patches (by 1 pixel), so the map is smoother than the patch grid
FILL = 0.0  # MNIST's background: an occluded patch looks like paper without ink


def occluded_batch(image: np.ndarray, patch: int = PATCH, stride: int = STRIDE) -> tuple[np.ndarray, list]:
    """Copies of a (28, 28) image, each with one patch that holds ink set to FILL, and their (rows, columns).

    A patch with no ink would give the image back unchanged (its effect is exactly zero), so it is
    left out: a digit covers about a third of the field, which makes the batch (and the time) smaller.
    """
    side = image.shape[0]
    starts = list(range(0, side - patch + 1, stride))
    if starts[-1] != side - patch:  # the last row/column of patches reaches the far edge
        starts.append(side - patch)
    inked = np.lib.stride_tricks.sliding_window_view(image != FILL, (patch, patch)).any(axis=(2, 3))
    windows = [(slice(r, r + patch), slice(c, c + patch)) for r in starts for c in starts if inked[r, c]]
    batch = np.repeat(image[np.newaxis], len(windows), axis=0)
    for copy, (rows, cols) in zip(batch, windows, strict=True):
        copy[rows, cols] = FILL
    return batch, windows


def log_odds(probabilities: np.ndarray, target: int) -> np.ndarray:
    """log(p / (1 - p)) of the target class per row, with 1 - p summed from the other classes.

    Summing the small probabilities keeps their precision: 1 - p in float32 is 0 for a confident
    answer, so a probability (or its difference) would show nothing where a confident model is sure.
    """
    probabilities = np.asarray(probabilities, np.float64)
    others = np.delete(probabilities, target, axis=-1).sum(axis=-1)
    tiny = np.finfo(np.float32).tiny
    return np.log(np.maximum(probabilities[..., target], tiny)) - np.log(np.maximum(others, tiny))


def occlusion_map(
    probabilities: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    base: np.ndarray,
    patch: int = PATCH,
    stride: int = STRIDE,
) -> np.ndarray:
    """(28, 28) map: how much hiding each pixel's patches lowers the log-odds of the answer.

    `probabilities` takes (N, 28, 28, 1) float32 and returns (N, 10); it is called at most once.
    `base` is the (10,) probabilities of the whole image; the answer is its most probable class.
    Positive values pushed the answer, negative ones held it back; pixels without ink nearby are 0.
    """
    image = np.asarray(image, np.float32).reshape(28, 28)
    target = int(np.argmax(base))
    batch, windows = occluded_batch(image, patch, stride)
    total = np.zeros(image.shape, np.float64)
    count = np.zeros(image.shape, np.float64)
    if windows:
        drops = log_odds(base, target) - log_odds(probabilities(batch[..., np.newaxis]), target)
        for drop, (rows, cols) in zip(drops, windows, strict=True):
            total[rows, cols] += drop
            count[rows, cols] += 1
    return (total / np.maximum(count, 1)).astype(np.float32)
