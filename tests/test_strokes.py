"""Stroke width estimate and normalisation (fast: synthetic drawings)."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_cnn.inference import strokes
from mnist_cnn.inference.imaging import preprocess_array


def _ring(width: int, side: int = 20) -> np.ndarray:
    """A square outline `width` px thick in a side×side field: a digit-like closed stroke."""
    a = np.zeros((side, side), np.float32)
    a[2:-2, 2:-2] = 1.0
    a[2 + width : -2 - width, 2 + width : -2 - width] = 0.0
    return a


@pytest.mark.parametrize("width", [1, 2, 3, 4, 5])
def test_stroke_width_measures_the_pen(width):
    assert strokes.stroke_width(_ring(width)) == pytest.approx(width, rel=0.2)


def test_no_ink_has_no_width():
    assert strokes.stroke_width(np.zeros((20, 20))) == 0.0


def test_a_stroke_in_mnists_range_is_left_exactly_as_it_is():
    ring = _ring(2) * 0.9 + 0.05
    out, note = strokes.normalise(ring)
    assert note is None and out is ring


def test_thin_strokes_thicken_into_the_band_and_thick_ones_are_left_alone():
    out, note = strokes.normalise(_ring(1, side=24))
    assert note is not None and "thickened" in note
    assert strokes.BAND[0] <= strokes.stroke_width(out) <= 3.0  # a binary hairline grows by a pixel each side
    marker = _ring(6, side=24)
    assert strokes.normalise(marker) == (marker, None)


def test_predict_preprocessing_says_when_it_changed_the_strokes():
    # A thin-pen "0" on white paper (a ring: a square outline would be a frame drawn around a
    # digit, which page cleaning removes).
    rows, cols = np.mgrid[0:200, 0:200]
    radius = np.hypot((rows - 100) / 80, (cols - 100) / 55)
    photo = np.where(np.abs(radius - 1) < 0.02, 0.0, 1.0).astype(np.float32)
    result = preprocess_array(photo)
    assert any("thin strokes thickened" in n for n in result.notes)
    plain = preprocess_array(photo, normalise_strokes=False)
    assert not any("strokes" in n for n in plain.notes)
    assert strokes.stroke_width(result.image) > strokes.stroke_width(plain.image)
