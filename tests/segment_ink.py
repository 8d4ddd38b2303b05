"""Synthetic written numbers for the segmentation tests: font digits on white paper, and a template classifier.

No dataset and no trained model: the digits are Pillow's bundled font, and `template_classifier`
reads a 28×28 by its cosine similarity to the ten font digits put through the same MNIST
normalisation. It tells the font's digits apart well and fragments of them badly, which is what
recognition-based splitting needs from a classifier, so the splitting is exercised for real.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont

HEIGHT = 160  # the picture's height; the font's digits are about 46 px tall in it
PAD = 40


@functools.cache
def glyph(character: str) -> np.ndarray:
    """One font digit as ink coverage (1 = ink), cropped to its ink."""
    font = ImageFont.load_default(size=64)
    image = Image.new("L", (100, 100), 0)
    ImageDraw.Draw(image).text((50, 50), character, fill=255, font=font, anchor="mm")
    ink = np.asarray(image, np.float32) / 255.0
    rows, cols = np.nonzero(ink > 0.05)
    return ink[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def write(text: str, gaps: list[int] | int = 20, height: int = HEIGHT) -> np.ndarray:
    """`text` written left to right, `gaps` pixels between neighbours (negative: overlapping), as gray (1 = white)."""
    return write_marks([glyph(c) for c in text], gaps, height)


def write_marks(marks: list[np.ndarray], gaps: list[int] | int = 20, height: int = HEIGHT) -> np.ndarray:
    """Marks (ink, cropped) side by side, vertically centred, `gaps` pixels apart, as gray (1 = white)."""
    spaces = gaps if isinstance(gaps, list) else [gaps] * (len(marks) - 1)
    width = sum(m.shape[1] for m in marks) + sum(spaces) + 2 * PAD
    ink = np.zeros((height, width), np.float32)
    x = PAD
    for index, m in enumerate(marks):
        top = (height - m.shape[0]) // 2
        region = ink[top : top + m.shape[0], x : x + m.shape[1]]
        np.maximum(region, m, out=region)
        x += m.shape[1] + (spaces[index] if index < len(spaces) else 0)
    return 1.0 - ink


@functools.cache
def _templates() -> np.ndarray:
    from scipy import ndimage

    from mnist_cnn.inference import imaging

    digits = [ndimage.gaussian_filter(imaging.preprocess_array(write(str(d))).image, 1.5) for d in range(10)]
    flat = np.stack(digits).reshape(10, -1)
    return flat / np.linalg.norm(flat, axis=1, keepdims=True)


def template_classifier(batch: np.ndarray) -> np.ndarray:
    """(N, 28, 28, 1) → (N, 10) probabilities: a softmax over cosine similarity to the ten font digits."""
    from scipy import ndimage

    x = np.stack([ndimage.gaussian_filter(b[..., 0], 1.5) for b in batch]).reshape(len(batch), -1)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)
    scores = x @ _templates().T * 40.0
    e = np.exp(scores - scores.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)


class TemplateRuntime:
    """The template classifier behind the Runtime interface `predict` uses."""

    name = "templates"

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """(N, 28, 28, 1) → (N, 10)."""
        return template_classifier(images)
