"""Stroke width of a digit, and every digit redrawn at MNIST's stroke width (a hairline or a blob reads badly).

A digit photographed large and shrunk to MNIST's 20 px box keeps its pen's proportions: a ballpoint
becomes a hairline about 1 px wide, a felt marker a blob, while MNIST's strokes are about 2 px wide
(by stroke_width's measure, half of them between 1.65 and 2.33). The network reads strokes of the
width it was trained on best, so `redraw` gives every digit the same stroke width (TARGET, at the
20 px box's scale) before it is shrunk: it is traced at DETAIL_SIDE or more (enlarged when smaller),
cut at half the ink's level, and its outline moved in or out along the distance transform
(OpenCV's 5×5 mask: within 2% of the exact one at a sixth of its cost), so the width changes by
fractions of a box pixel and the strokes' middle lines stay.
Shrinking the redrawn ink into the box then anti-aliases it as MNIST's own binary scans were.
"""

from __future__ import annotations

import numpy as np

# 10th to 90th percentile of stroke_width over MNIST's 60,000 training images (median 1.96; measured
# with `python scripts/preprocess_check.py --band`): a digit outside it gets a note saying so.
BAND = (1.41, 2.74)
# The width every digit is redrawn at, a little under MNIST's median. On 3,000 photographed test
# digits (number_photos' pens, -1 to +2 px; raw MNIST 98.67% on the same digits) this code reads
# 98.27%; when it was chosen, targets 1.6, 1.8, 2.0 read 98.2, 98.4, 98.3%, leaving widths inside
# BAND alone 98.1%, and the old thickening of thin strokes only 97.7%.
TARGET = 1.8
DETAIL_SIDE = 160  # traced at least this large: a 28 px picture's strokes move by 1/8 px steps
INK_LEVEL = 0.5  # of the ink's typical (90th percentile) level: where a stroke's edge is
CLOSE = 0.12  # pin-holes narrower than this (box pixels) are filled: a dithered scan's, a noisy stroke's


def stroke_width(image: np.ndarray) -> float:
    """Mean stroke width in pixels: twice the ink area over the ink outline's length (0 for no ink).

    A stroke of width w and length L has area w·L and an outline of about 2·L, so 2·area/outline ≈ w
    whatever the digit's shape; ink is where the image is above half its full scale.
    """
    ink = np.pad(np.asarray(image) > 0.5, 1)
    outline = np.count_nonzero(np.diff(ink, axis=0)) + np.count_nonzero(np.diff(ink, axis=1))
    return 2.0 * float(ink.sum()) / outline if outline else 0.0


def redraw(crop: np.ndarray) -> tuple[np.ndarray, str | None]:
    """A digit's cropped ink (bright on black) redrawn with strokes TARGET wide at the 20 px box's scale.

    Returns the redrawn ink (float32, 1.0 on black, at the traced size, cut to its bounding box)
    and a note when the strokes were outside MNIST's BAND. Earlier, only thin strokes were thickened,
    by grey dilation of the 20 px patch: thinning there ate real ink (a blurred stroke looks thick
    at any threshold); at DETAIL_SIDE the outline moves by fractions of a box pixel instead, and the
    photographed digits read better (TARGET's comment). Ink that thinning would erase is kept as it is.
    """
    import cv2

    crop = np.asarray(crop, dtype=np.float32)
    if crop.size == 0 or crop.max() <= 0:
        return crop, None
    crop = _traced(crop)
    ink = crop[crop > 0.05 * float(crop.max())]
    level = INK_LEVEL * float(np.partition(ink, int(0.9 * (ink.size - 1)))[int(0.9 * (ink.size - 1))])
    mask = (crop > level).astype(np.uint8)
    # Pin-holes are closed first (shrinking into the box would average them away; here they would
    # count as outline and make the strokes look hairline thin).
    radius = max(1, round(CLOSE * max(mask.shape) / 20))
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2))
    if not mask.any():
        return crop, None
    side = max(_trim(mask).shape)  # the ink's longer side, traced: 20 box pixels once fitted (imaging.BOX)
    traced_width = stroke_width(mask)
    width = traced_width * 20 / side
    # Traced pixels to take off (or add to) each side of a stroke; the digit's box shrinks (grows) by
    # as much, so with side S and width W (traced px): (W - 2 shift) / (S - 2 shift) = TARGET / 20.
    shift = (20 * traced_width - TARGET * side) / (40 - 2 * TARGET)
    if shift > 0:
        # Padded: OpenCV measures to the nearest paper pixel, and ink touching the crop's edge has none beyond it.
        thinned = cv2.distanceTransform(np.pad(mask, 1), cv2.DIST_L2, cv2.DIST_MASK_5) > shift
        redrawn = thinned if thinned.any() else mask.astype(bool)
    else:
        pad = int(np.ceil(-shift)) + 1
        outside = 1 - np.pad(mask, pad)
        redrawn = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_5) <= -shift
    note = None
    if not BAND[0] <= width <= BAND[1]:
        change = "thin strokes thickened" if width < BAND[0] else "thick strokes thinned"
        note = f"{change} (width {width:.1f} px; MNIST's are {BAND[0]:.1f} to {BAND[1]:.1f} px)"
    return _trim(redrawn.astype(np.float32)), note


def _traced(crop: np.ndarray) -> np.ndarray:
    """The crop at DETAIL_SIDE to twice that: enlarged by a whole factor, or shrunk by area (bounded work)."""
    import cv2

    side = max(crop.shape)
    if side < DETAIL_SIDE:
        factor = int(np.ceil(DETAIL_SIDE / side))
        crop = cv2.resize(crop, (crop.shape[1] * factor, crop.shape[0] * factor), interpolation=cv2.INTER_LINEAR)
    elif side > 2 * DETAIL_SIDE:
        scale = 2 * DETAIL_SIDE / side
        size = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return crop


def _trim(a: np.ndarray) -> np.ndarray:
    """`a` cut to the bounding box of its non-zero pixels."""
    rows, cols = np.flatnonzero(a.any(axis=1)), np.flatnonzero(a.any(axis=0))
    return a[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def neighbourhood3(a: np.ndarray, mode: str = "constant") -> list[np.ndarray]:
    """The nine 3×3-neighbourhood shifts of `a`, row by row (outside: zero, or edges replicated with "edge")."""
    padded = np.pad(a, 1, mode=mode)
    h, w = a.shape
    return [padded[i : i + h, j : j + w] for i in range(3) for j in range(3)]
