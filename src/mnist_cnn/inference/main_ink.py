"""Step 3 of page cleaning: keep the writing's ink, drop specks, leftovers of lines and far marks.

The digit is the main ink component: connected components (8-connected, OpenCV) of what ink
remains after the light and the printed lines; the heaviest one and the pieces close to it (a 5's
flag, a broken stroke) are kept, or every piece of writing for a number (keep_all). Split out of
page.py, which runs the steps.
"""

from __future__ import annotations

import numpy as np

from mnist_cnn.inference.image_decode import ImageError

NEAR = 0.25  # pieces within this share of the digit's size from it belong to it
BLOB = 1.5  # a component this many times wider than the digit's strokes is a blob, not a piece of it
BLOB_OF_NUMBER = 3.0  # as BLOB, when every digit of a number is kept
SPECK = 0.0002  # components smaller than this share of the image are specks
MIN_INK = 0.4  # on a cleaned page, writing darkens the paper by at least this much (leftovers do not)


def main_ink(
    ink: np.ndarray, threshold: float, strict: bool, printed: np.ndarray, keep_all: bool = False
) -> tuple[np.ndarray, int]:
    """Only the digit's ink: the heaviest component and the pieces near it; how many marks were dropped.

    strict: the page was cleaned (light or lines), so leftovers are likely and a page whose best
    component is faint holds no writing. printed: where lines were removed; a component lying
    mostly there is what is left of a line, not writing. keep_all: every component that is writing
    (not a speck, a line's leftover or a blob) is kept, near the main one or not.
    Raises ImageError when nothing is left.
    """
    import cv2

    peak = _peak(ink)
    if peak < (MIN_INK if strict else threshold):
        if not strict:
            return ink, 0  # a blank or faint photo: imaging's own checks say so
        raise ImageError("no digit found (only the page: light, lines or specks)")
    level = max(threshold, 0.3 * peak)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((ink > level).astype(np.uint8), connectivity=8)
    mass = np.bincount(labels.ravel(), weights=ink.ravel(), minlength=count)
    mass[0] = 0.0
    area = stats[:, cv2.CC_STAT_AREA]
    specks = area < max(4, SPECK * ink.size)
    on_lines = np.bincount(labels.ravel(), weights=printed.ravel(), minlength=count) / np.maximum(area, 1)
    # Stroke width of each component (twice its area over its outline): the digit's pieces are
    # strokes of its pen; a solid blob (a shadow's corner, a smudge) is much wider.
    solid = (labels > 0).astype(np.uint8)
    outline = solid - cv2.erode(solid, np.ones((3, 3), np.uint8))
    edge = np.bincount(labels.ravel(), weights=outline.ravel(), minlength=count)
    width = 2.0 * area / np.maximum(edge, 1)
    boxes = stats[:, :4].astype(np.int64)  # left, top, width, height
    extent = np.maximum(boxes[:, 2], boxes[:, 3])
    # A straight hairline (thin for its length, in a thin box) is what is left of a printed line.
    hairline = (width < 0.05 * extent) & (np.minimum(boxes[:, 2], boxes[:, 3]) < 0.06 * extent)
    mass[specks | (on_lines > 0.6) | (hairline if strict else False)] = 0.0
    main = int(mass.argmax())
    if mass[main] == 0.0:
        if not strict:
            return ink, 0
        raise ImageError("no digit found (only the page: light, lines or specks)")
    if strict:
        darkness = float(np.percentile(ink[labels == main], 90))
        faint_blob = darkness < 1.5 * MIN_INK and width[main] > 0.2 * extent[main]
        if darkness < MIN_INK or faint_blob:  # a shadow's corner or a line's remains: not writing
            raise ImageError("no digit found (only the page: light, lines or specks)")
    # Other digits of a number may be bolder than the heaviest one (a thick 1 beside a thin 8).
    blob = width > (BLOB_OF_NUMBER if keep_all else BLOB) * width[main]
    x0, y0, x1, y1 = box(boxes[main])
    group = {main}
    # Pieces near the digit belong to it (a 5's flag, a dry pen's gaps): within NEAR of its main
    # component, never as large as it, never lying on a removed line, never a blob. Not chained
    # from piece to piece: grain along a line's remains would lead the box across the page.
    size = max(x1 - x0, y1 - y0)
    margin = NEAR * size
    mx0, my0, mx1, my1 = x0, y0, x1, y1
    for label in range(1, count):
        if label == main or on_lines[label] > 0.6 or blob[label] or (strict and hairline[label]):
            continue
        if keep_all:
            if not specks[label] and (not strict or _dark_enough(ink, labels, label)):
                group.add(label)
            continue
        bx0, by0, bx1, by1 = box(boxes[label])
        near = bx0 <= mx1 + margin and bx1 >= mx0 - margin and by0 <= my1 + margin and by1 >= my0 - margin
        if near and max(bx1 - bx0, by1 - by0) <= size:
            group.add(label)
    dropped_labels = [label for label in range(1, count) if label not in group]
    # Marks worth telling the user about: bigger than specks (JPEG and paper grain make many).
    worth = area >= 5 * max(4, SPECK * ink.size)
    dropped = int(np.count_nonzero(worth[dropped_labels])) if dropped_labels else 0
    if not dropped and not strict:
        return ink, 0
    keep = np.zeros(count, dtype=bool)
    keep[list(group)] = True
    # The digit's components, widened by a pixel or two to keep their soft (below `level`) rims;
    # haze, leftovers of lines and shadows elsewhere are not the digit.
    around = cv2.dilate(keep[labels].astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    return np.where(around, ink, 0.0), dropped


def _dark_enough(ink: np.ndarray, labels: np.ndarray, label: int) -> bool:
    """On a cleaned page, writing is dark; a faint component is a line's or a shadow's leftover."""
    return float(np.percentile(ink[labels == label], 90)) >= MIN_INK


def _peak(ink: np.ndarray) -> float:
    """The darkest ink, ignoring single pixels (a 3×3 median first)."""
    import cv2

    return float(cv2.medianBlur(np.clip(ink * 255, 0, 255).astype(np.uint8), 3).max()) / 255.0


def ink_level(ink: np.ndarray, threshold: float) -> float:
    """Ink above this makes the components: a share of the darkest ink, never below the noise threshold."""
    return max(threshold, 0.3 * _peak(ink))


def box(stat: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of an OpenCV component's (left, top, width, height)."""
    left, top, width, height = (int(v) for v in stat)
    return left, top, left + width, top + height
