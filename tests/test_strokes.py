"""Stroke width estimate and normalisation (fast: synthetic drawings)."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_cnn.inference import imaging, strokes
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


def _box_width(redrawn: np.ndarray) -> float:
    """Stroke width of redrawn ink at the scale of MNIST's 20 px box (its longer side is 20)."""
    return strokes.stroke_width(redrawn) * 20 / max(redrawn.shape)


@pytest.mark.parametrize("width, side", [(1, 24), (6, 24), (2, 20), (4, 200), (40, 200), (30, 900)])
def test_every_digit_is_redrawn_at_mnists_stroke_width(width, side):
    redrawn, _ = strokes.redraw(_ring(width, side)[2:-2, 2:-2])  # cut to its ink, as imaging passes it
    assert _box_width(redrawn) == pytest.approx(strokes.TARGET, abs=0.3)
    assert 0.5 * strokes.DETAIL_SIDE <= max(redrawn.shape) <= 2.5 * strokes.DETAIL_SIDE  # traced finely, bounded


def test_redrawing_says_when_the_pen_was_outside_mnists_range():
    assert "thin strokes thickened" in strokes.redraw(_ring(1, side=24))[1]
    assert "thick strokes thinned" in strokes.redraw(_ring(6, side=24))[1]
    assert strokes.redraw(_ring(2, side=20))[1] is None


def test_redrawing_keeps_the_strokes_middle_lines():
    # A thick ring thinned stays a ring around the same centre: its hole is not filled, nor its outline eaten.
    redrawn, _ = strokes.redraw(_ring(40, side=200))
    fitted = imaging._fit_box(redrawn)
    assert fitted.shape == (20, 20)
    assert fitted[10, 10] == 0.0 and fitted[8:12, 0].min() > 0.5 and fitted[0, 8:12].min() > 0.5


def test_no_ink_is_returned_unchanged():
    empty = np.zeros((10, 10), np.float32)
    assert strokes.redraw(empty) == (empty, None)


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


def test_predict_preprocessing_thins_a_markers_strokes():
    rows, cols = np.mgrid[0:200, 0:200]
    radius = np.hypot((rows - 100) / 80, (cols - 100) / 55)
    photo = np.where(np.abs(radius - 0.7) < 0.3, 0.0, 1.0).astype(np.float32)  # a felt marker's "0"
    result = preprocess_array(photo)
    assert any("thick strokes thinned" in n for n in result.notes)
    plain = preprocess_array(photo, normalise_strokes=False)
    assert strokes.stroke_width(result.image) < strokes.stroke_width(plain.image)
    assert result.image[14, 14] == 0.0  # the 0's hole is open again
