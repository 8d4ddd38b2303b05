"""Number mode of /v1/predict: each image read as a string of digits, left to right.

Segmentation, the per-digit MNIST normalisation and the confidence rule are the inference layer's
(`inference/segment.py`, shared with `mnist-cnn predict`); this module only feeds it the served
model and turns its reading into the JSON answer the OpenAPI page documents (`openapi.NUMBER_ROW`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mnist_cnn.errors import MnistCnnError, first_line
from mnist_cnn.inference.image_decode import ImageError
from mnist_cnn.inference.runtimes import NONFINITE, Runtime, finite_rows
from mnist_cnn.serve.inputs import InputError, Picture


def read_numbers(pictures: list[tuple[str, Picture]], runtime: Runtime, include_image: bool) -> list[dict[str, Any]]:
    """The number read in each picture, in order, as answer rows; an unreadable picture is an InputError naming it."""
    from mnist_cnn.inference.segment import read_number  # NumPy only; imported here so digit mode never pays for it

    rows = []
    for name, picture in pictures:
        try:
            reading = read_number(picture.gray, _checked(runtime, name))
        except (ImageError, MnistCnnError) as exc:
            raise InputError(f"{name}: {first_line(exc)}") from None
        rows.append(number_row(name, picture, reading, include_image))
    return rows


def _checked(runtime: Runtime, name: str):
    """The runtime as `read_number` calls it, refusing a broken model's NaN (a 5xx naming the input)."""

    def classify(batch: np.ndarray) -> np.ndarray:
        probs = runtime.probabilities(np.asarray(batch, np.float32))
        if not finite_rows(probs).all():
            raise InputError(f"{name}: {NONFINITE}", 500)
        return probs

    return classify


def number_row(name: str, picture: Picture, reading, include_image: bool) -> dict[str, Any]:
    """One answer row: the string, its confidence and uncertainty, and each digit's box and probabilities."""
    summary = reading.to_json()
    digits = []
    for digit, described in zip(reading.digits, summary["digits"], strict=True):
        row = {**described, "probabilities": [float(p) for p in digit.probabilities]}
        if include_image:  # as --save-preprocessed writes it: round(x * 255), white ink on black
            row["image"] = np.round(np.clip(digit.image, 0, 1) * 255).astype(np.uint8).tolist()
        digits.append(row)
    return {
        "name": name,
        "text": summary["text"],
        "confidence": summary["confidence"],
        "uncertain": summary["uncertain"],
        "notes": [*picture.notes, *summary["notes"]],
        "digits": digits,
    }
