"""The paper's own light under the writing: estimated by a grey closing, and whether it is uneven.

Used by `page` (the light correction of step 1, and the first look). Split out of page.py so that
module keeps to separating the writing; OpenCV does the morphology.
"""

from __future__ import annotations

import numpy as np

LIGHT_KERNEL = 1 / 4  # of the shorter side: the closing removes strokes up to this wide
UNEVEN = 0.12  # the paper's brightness varies by more than this (p2..p98, relative): light corrected


def _square(shape: tuple[int, ...]) -> np.ndarray:
    import cv2

    side = max(3, int(min(shape) * LIGHT_KERNEL)) | 1
    return cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))


def paper_light(page: np.ndarray) -> np.ndarray:
    """The paper's brightness at every pixel: a grey closing (8-bit: OpenCV's fast path), never 0.

    Shade reaches a page from its edge; a dark patch of the estimate that touches no edge is
    writing too wide for the closing (a marker, a blurred close-up), so the closing is redone
    with a square as large as the page.
    """
    import cv2

    # A 5×5 median first: a closing takes a maximum, and on grainy paper that is the brightest
    # grain, not the paper (in a dark shadow the bias alone would look like ink).
    eight = cv2.medianBlur(np.round(page * 255).astype(np.uint8), 5)
    closed = cv2.morphologyEx(eight, cv2.MORPH_CLOSE, _square(page.shape))
    dark = (closed < 0.85 * np.percentile(closed, 98)).astype(np.uint8)
    count, labels = cv2.connectedComponents(dark, connectivity=8)
    if count > 1:
        edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
        if len(set(range(1, count)) - set(edge.tolist())):
            side = int(min(page.shape) * 0.9) | 1
            closed = cv2.morphologyEx(eight, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (side, side)))
    return np.maximum(closed.astype(np.float32), 4.0) / 255.0


def uneven(paper: np.ndarray, flat: np.ndarray, limit: float = UNEVEN) -> bool:
    """True if the light on the paper varies by more than `limit`, measured away from any ink.

    Near ink the estimate can lag (a hole in a thick, blurred 8 is darker than the paper without
    being in shadow), so only paper at least half a closing's width from the writing counts.
    """
    import cv2

    side = _square(flat.shape).shape[0] // 2 | 1
    near_ink = cv2.dilate((flat < 0.85).astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_RECT, (side, side)))
    light = paper[near_ink == 0]
    if light.size < 0.1 * paper.size:
        return False  # too little clear paper to tell light from writing
    lo, hi = np.percentile(light, (2, 98))
    return (hi - lo) / max(float(hi), 1e-3) > limit
