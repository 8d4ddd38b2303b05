"""A box or frame drawn around the digit (a form's answer box, a hand-drawn rectangle): found and removed.

Printed lines across the page are found by `printed_lines.find_lines`; a frame's sides are too short for it.
A frame is an ink component whose convex hull is (nearly) its minimum-area rectangle, whose four
sides are thin straight lines covering most of their length (a nearly closed outline is enough), and
which encloses other ink (an empty square outline is writing: a 0 drawn square). Each side is then
removed like a printed line, in a crop as long as the side: its own darkness profile is divided out,
so a stroke touching or crossing it keeps its ink.

OpenCV finds the components, hulls and rectangles; the side bookkeeping reuses `printed_lines`.
"""

from __future__ import annotations

import numpy as np

from mnist_cnn.inference import line_removal, printed_lines

MIN_SIDE = 0.15  # of the page's shorter side: smaller rectangles are writing, not a frame
RECTANGULAR = 0.9  # the outline's hull fills at least this share of its minimum-area rectangle
MAX_WIDTH = 0.08  # a side's band is at most this share of the frame's shorter side (at least 5 px)
HOLLOW = 0.5  # a frame's component covers at most this share of its bounding box


def remove_frames(ink: np.ndarray, level: float, threshold: float) -> tuple[np.ndarray, np.ndarray, int]:
    """The ink map (0 = paper) without frames, a mask of where their sides were, and how many were found.

    level: ink above it makes the components searched; threshold: the faintest ink worth keeping.
    """
    import cv2

    short = min(ink.shape)
    # Paper around the page: a side's crop, and the band sampled across it, must fit in the image
    # even for a frame drawn along the page's edge.
    margin = int(2 * MAX_WIDTH * short) + 12
    ink = np.pad(ink, margin)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((ink > level).astype(np.uint8), connectivity=8)
    out = ink.copy()
    bands = np.zeros(ink.shape, dtype=bool)
    found = 0
    for label in range(1, count):
        left, top, width, height, area = (int(v) for v in stats[label])
        if min(width, height) < MIN_SIDE * short or area > HOLLOW * width * height:
            continue
        component = (labels[top : top + height, left : left + width] == label).astype(np.uint8)
        sides = _frame_sides(ink, component, left, top, threshold)
        if sides is None:
            continue
        for side, (rows, cols) in sides:
            line_removal.divide_out(out[rows, cols], side)
        for side, (rows, cols) in sides:
            line_removal.bridge(out[rows, cols], ink[rows, cols], side)
            bands[rows, cols] |= line_removal.band_mask(out[rows, cols].shape, [side])
        found += 1
    inner = (slice(margin, -margin), slice(margin, -margin))
    return out[inner], bands[inner], found


def _frame_sides(
    ink: np.ndarray, component: np.ndarray, left: int, top: int, threshold: float
) -> list[tuple[printed_lines.Line, tuple[slice, slice]]] | None:
    """The four sides of the frame this component is (each a Line in its crop), or None if it is no frame."""
    import cv2

    contours, _ = cv2.findContours(component, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = cv2.convexHull(np.concatenate(contours))
    rect = cv2.minAreaRect(hull)
    rect_area = float(rect[1][0] * rect[1][1])
    if rect_area <= 0 or cv2.contourArea(hull) < RECTANGULAR * rect_area:
        return None
    widest = max(5, int(MAX_WIDTH * min(rect[1])))
    corners = cv2.boxPoints(rect) + np.array([left, top], np.float32)
    sides = []
    for a, b in zip(corners, np.roll(corners, -1, axis=0), strict=True):
        side = _side(ink, a, b, widest, threshold)
        if side is None:
            return None
        sides.append(side)
    if not _encloses_ink(ink, corners, widest, threshold):
        return None
    return sides


def _side(
    ink: np.ndarray, a: np.ndarray, b: np.ndarray, widest: int, threshold: float
) -> tuple[printed_lines.Line, tuple[slice, slice]] | None:
    """One side from corner a to corner b, verified and refitted in a crop as long as the side."""
    import cv2

    (xa, ya), (xb, yb) = (float(v) for v in a), (float(v) for v in b)
    horizontal = abs(xb - xa) >= abs(yb - ya)
    # Running coordinate along the side, position across it.
    (ra, pa), (rb, pb) = ((xa, ya), (xb, yb)) if horizontal else ((ya, xa), (yb, xb))
    if ra > rb:
        (ra, pa), (rb, pb) = (rb, pb), (ra, pa)
    along = ink.shape[1] if horizontal else ink.shape[0]
    across = ink.shape[0] if horizontal else ink.shape[1]
    pad = 2 * widest + 6  # the refitted line may drift from the hull's edge
    r0, r1 = max(0, int(np.floor(ra))), min(along, int(np.ceil(rb)) + 1)
    p0, p1 = max(0, int(np.floor(min(pa, pb))) - pad), min(across, int(np.ceil(max(pa, pb))) + pad + 1)
    if r1 - r0 < 8 or p1 - p0 < 3:
        return None
    slope = (pb - pa) / max(rb - ra, 1e-6)
    intercept = pa + slope * (r0 - ra) - p0  # position at the crop's first running coordinate
    window = (slice(p0, p1), slice(r0, r1)) if horizontal else (slice(r0, r1), slice(p0, p1))
    # Averaged along the side (as the line search does): a thin faint side that steps from row to
    # row keeps its contrast while grain and JPEG noise average away.
    crop = cv2.blur(ink[window], (printed_lines.SMOOTH, 1) if horizontal else (1, printed_lines.SMOOTH))
    line = printed_lines.verify_line(crop, threshold, horizontal, slope, intercept, widest=widest)
    return None if line is None else (line, window)


def _encloses_ink(ink: np.ndarray, corners: np.ndarray, widest: int, threshold: float) -> bool:
    """True if ink lies inside the rectangle, away from its sides (a frame holds a digit; a square 0 does not)."""
    import cv2

    inside = np.zeros(ink.shape, np.uint8)
    cv2.fillConvexPoly(inside, np.round(corners).astype(np.int32), 1)
    inside = cv2.erode(inside, np.ones((2 * widest + 3,) * 2, np.uint8))
    held = np.count_nonzero((ink > max(threshold, 0.3 * float(ink.max()))) & (inside > 0))
    return held >= max(20, 0.005 * np.count_nonzero(inside))
