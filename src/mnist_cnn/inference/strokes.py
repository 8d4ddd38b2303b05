"""Stroke width of a digit, and thin strokes thickened to MNIST's (a ballpoint's hairline reads badly).

A digit photographed large and shrunk to MNIST's 20 px box keeps its pen's proportions: a ballpoint
becomes a hairline about 1 px wide, a felt marker a blob, while MNIST's strokes are about 2 px wide
(by stroke_width's measure, half of them between 1.65 and 2.33). The network reads strokes of the
width it was trained on best, so `normalise` grows thin strokes (grey dilation in fractional steps)
until the width reaches the bottom of BAND.
"""

from __future__ import annotations

import numpy as np

# 10th to 90th percentile of stroke_width over MNIST's 60,000 training images (median 1.96; measured
# with `python scripts/preprocess_check.py --band`): inside it, a digit is left exactly as it is.
BAND = (1.41, 2.74)
STEP = 0.5  # blend this far toward the 3×3 dilation per step: gradual, so it stops near the band
MAX_STEPS = 6


def stroke_width(image: np.ndarray) -> float:
    """Mean stroke width in pixels: twice the ink area over the ink outline's length (0 for no ink).

    A stroke of width w and length L has area w·L and an outline of about 2·L, so 2·area/outline ≈ w
    whatever the digit's shape; ink is where the image is above half its full scale.
    """
    ink = np.pad(np.asarray(image) > 0.5, 1)
    outline = np.count_nonzero(np.diff(ink, axis=0)) + np.count_nonzero(np.diff(ink, axis=1))
    return 2.0 * float(ink.sum()) / outline if outline else 0.0


def normalise(image: np.ndarray, low: float = BAND[0]) -> tuple[np.ndarray, str | None]:
    """The image with strokes thinner than `low` thickened to it, and a note saying so (or None).

    Only thin strokes are changed. Thinning thick ones was tried and lost accuracy (thick, blurred
    and low-resolution test digits drawn as photos all read worse: docs/robustness.md), because
    a blurred stroke looks thick at any threshold and erosion then eats real ink. Thickening may
    widen the digit by up to 2 px on each side; the result is cut to its ink's bounding box
    (float32, ink 1.0 on black).
    """
    width = stroke_width(image)
    if width == 0.0 or width >= low:
        return image, None
    out = np.pad(np.asarray(image, dtype=np.float32), 2)
    for _ in range(MAX_STEPS):
        out = out + STEP * (_max3(out) - out)
        if stroke_width(out) >= low:
            break
    return _trim(out), f"thin strokes thickened (width {width:.1f} px; MNIST's are {low:.1f} px or more)"


def _trim(a: np.ndarray) -> np.ndarray:
    """`a` cut to the bounding box of its non-zero pixels."""
    rows, cols = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
    return a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def neighbourhood3(a: np.ndarray, mode: str = "constant") -> list[np.ndarray]:
    """The nine 3×3-neighbourhood shifts of `a`, row by row (outside: zero, or edges replicated with "edge")."""
    padded = np.pad(a, 1, mode=mode)
    h, w = a.shape
    return [padded[i : i + h, j : j + w] for i in range(3) for j in range(3)]


def _max3(a: np.ndarray) -> np.ndarray:
    return np.max(neighbourhood3(a), axis=0)
