"""Separate the writing from the page it is written on: uneven light, printed lines, stray marks.

A photo of a digit in a notebook holds more than the digit: a shadow or a lighting gradient, ruled
lines, a squared grid, a margin line, specks. `clean` returns the page as flat white paper holding
only the digit's ink (1 = paper, dark ink), or None when the photo needs none of it, so that photos
that were fine before go through `imaging` byte-identical. Steps, each reported as a note:

1. Light: the paper's own brightness is estimated by a grey closing (a max then a min filter over a
   square larger than a pen stroke), which removes thin dark writing but keeps a shadow's edge where
   it is, and the photo is divided by it. A shadow edge then vanishes instead of becoming ink.
2. Printed lines: long, thin, straight lines crossing (almost) the whole image, found with a
   probabilistic Hough transform and verified along their whole length. Each is divided out by its
   own darkness profile, estimated by a running median along the line, so ink crossing a line stays
   (an ink pixel is darker than the line there). Where the line is as dark as the ink the division
   would cut the stroke, so a stroke that continues on both sides is bridged across the line.
3. The digit is the main ink component: connected components (8-connected) of what ink remains; the
   heaviest one and the pieces close to it (a 5's flag, a broken stroke) are kept, everything else
   (far marks, leftovers of lines or shadows) is erased.

OpenCV (headless) does the morphology and the components here; the line search and removal live
in `printed_lines`, a box drawn around the digit in `frames`, the paper's light in `paper_light`,
the main-ink step in `main_ink`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_cnn.inference.line_removal import band_mask, remove_lines
from mnist_cnn.inference.main_ink import NEAR, SPECK, box, ink_level, main_ink
from mnist_cnn.inference.paper_light import UNEVEN, paper_light, uneven
from mnist_cnn.inference.printed_lines import MIN_THRESHOLD, find_lines, ink_noise, lines_notes

MIN_PAGE_SIDE = 64  # smaller images are a digit alone (MNIST-like, a pad drawing): never cleaned
ANALYSIS_SIDE = 1024  # pages are cleaned at most at this size: a 20 px digit needs no more
POLARITY_SIDE = 256  # dark-ink-on-light-paper is decided on a reduction this small
QUICK_SIDE = 256  # the first look (does the page need cleaning at all?) is taken on a reduction this small


@dataclass(frozen=True)
class Page:
    """A cleaned page (gray, 1 = paper) and what was done to it."""

    gray: np.ndarray
    notes: tuple[str, ...]


def clean(gray: np.ndarray, keep_all: bool = False) -> Page | None:
    """The page with its writing alone on flat white paper, or None where nothing needed cleaning.

    `gray` is a 2-D float array in [0, 1], 1 = white. Only pages of dark ink on light paper at
    least MIN_PAGE_SIDE on each side are considered. Raises ImageError when the page holds no
    writing at all (a shadow, rulings or specks alone).
    keep_all: keep every piece of writing, not just the main digit and what is near it (a number's
    other digits are far marks to a one-digit reading); specks, line leftovers and blobs still go.
    """
    return clean_variants(gray, (keep_all,))[0]


def clean_variants(gray: np.ndarray, keep: tuple[bool, ...]) -> list[Page | None]:
    """`clean(gray, keep_all)` for each keep_all in `keep`, the light, lines and frames found once for all."""
    import cv2

    from mnist_cnn.inference.frames import remove_frames

    if min(gray.shape) < MIN_PAGE_SIDE or not needs_cleaning(gray) or not _dark_ink_on_light(gray):
        return [None] * len(keep)
    scale = min(1.0, ANALYSIS_SIDE / max(gray.shape))
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    page = cv2.resize(gray, size, interpolation=cv2.INTER_AREA) if scale < 1 else gray.astype(np.float32)
    paper = paper_light(page)
    flat = np.clip(page / paper, 0.0, 1.0)
    notes: list[str] = []
    shaded = uneven(paper, flat)
    if shaded:
        notes.append("uneven light corrected")
    ink = 1.0 - flat
    threshold = max(MIN_THRESHOLD, 4.0 * ink_noise(ink))
    lines = find_lines(ink, threshold)
    if lines:
        ink = remove_lines(ink, lines)
        notes.extend(lines_notes(lines))
    printed = band_mask(ink.shape, lines)
    ink, bands, frames = remove_frames(ink, min(ink_level(ink, threshold), 2 * threshold), threshold)
    if frames:
        notes.append("frame around the digit removed")
        printed |= bands
    strict = bool(lines) or shaded or bool(frames)
    pages: list[Page | None] = []
    for keep_all in keep:
        kept, dropped = main_ink(ink, threshold, strict=strict, printed=printed, keep_all=keep_all)
        told = notes + ([f"{dropped} stray mark{'s' if dropped > 1 else ''} ignored"] if dropped else [])
        pages.append(Page((1.0 - kept).astype(np.float32), tuple(told)) if told else None)
    return pages


def needs_cleaning(gray: np.ndarray) -> bool:
    """A cheap first look: could the page hold uneven light, printed lines, a frame or stray marks?

    Taken on a min-pooled reduction at most QUICK_SIDE wide (a thin line keeps its full darkness,
    where averaging would fade it), with looser limits than the full analysis, so a page that it
    passes would have come out of the full analysis unchanged too; most plain photos are passed
    in a few ms instead of the full analysis' tens of ms.
    """
    import cv2

    factor = max(1, int(np.ceil(max(gray.shape) / QUICK_SIDE)))
    small = gray.astype(np.float32)
    if factor > 1:
        small = cv2.erode(small, np.ones((factor, factor), np.uint8))[factor // 2 :: factor, factor // 2 :: factor]
    if min(small.shape) < 16:
        return True
    paper = paper_light(small)
    flat = np.clip(small / paper, 0.0, 1.0)
    if uneven(paper, flat, UNEVEN / 2):
        return True
    ink = 1.0 - flat
    floor = float(np.median(ink[::2, ::2]))  # min-pooling darkens the paper a little: measured, not assumed
    mask = (ink > floor + max(MIN_THRESHOLD / 2, 5.0 * ink_noise(ink))).astype(np.uint8)
    if _marks_apart(mask, gray.shape):
        return True
    short = min(mask.shape)
    for horizontal in (True, False):
        run = np.ones((1, 9) if horizontal else (9, 1), np.uint8)
        lines = cv2.dilate(cv2.morphologyEx(mask, cv2.MORPH_OPEN, run), run.T)
        segments = cv2.HoughLinesP(lines, 1, np.pi / 180, threshold=int(0.25 * short),
                                   minLineLength=int(0.5 * short), maxLineGap=max(2, short // 50))  # fmt: skip
        for x1, y1, x2, y2 in np.zeros((0, 4)) if segments is None else segments.reshape(-1, 4):
            run_length, drift = (abs(x2 - x1), abs(y2 - y1)) if horizontal else (abs(y2 - y1), abs(x2 - x1))
            if drift <= 0.36 * max(run_length, 1):
                return True
    return _maybe_frame(mask)


def _marks_apart(mask: np.ndarray, full_shape: tuple[int, ...]) -> bool:
    """True if the reduced ink mask holds a mark the full analysis could drop (and report) as stray.

    Such a mark is at least half the size `main_ink` reports, and lies away from the largest
    mark (beyond half of NEAR) or is larger than it: pieces close to the digit are the digit's.
    """
    import cv2

    count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 2:
        return False
    analysed = float(np.prod(full_shape)) * min(1.0, ANALYSIS_SIDE / max(full_shape)) ** 2
    worth = max(2.0, 0.5 * 5 * max(4.0, SPECK * analysed) * mask.size / analysed)
    marks = stats[1:][stats[1:, cv2.CC_STAT_AREA] >= worth]
    if len(marks) <= 1:
        return False
    main = marks[marks[:, cv2.CC_STAT_AREA].argmax()]
    x0, y0, x1, y1 = box(main[:4])
    size = max(x1 - x0, y1 - y0)
    margin = NEAR / 2 * size
    for index, mark in enumerate(marks):
        if index == int(marks[:, cv2.CC_STAT_AREA].argmax()):
            continue
        bx0, by0, bx1, by1 = box(mark[:4])
        near = bx0 <= x1 + margin and bx1 >= x0 - margin and by0 <= y1 + margin and by1 >= y0 - margin
        if not near or max(bx1 - bx0, by1 - by0) > 0.8 * size:
            return True
    return False


def _maybe_frame(mask: np.ndarray) -> bool:
    """True if a mark in the reduced ink mask is a hollow near-rectangle (perhaps a box around the digit)."""
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    short = min(mask.shape)
    for label in range(1, count):
        left, top, width, height, area = (int(v) for v in stats[label])
        if min(width, height) < 0.1 * short or area > 0.6 * width * height:
            continue
        points = cv2.findNonZero((labels[top : top + height, left : left + width] == label).astype(np.uint8))
        hull = cv2.convexHull(points)
        (_, (w, h), _) = cv2.minAreaRect(hull)
        if min(w, h) < 0.1 * short:
            continue  # a slanted stroke (a 1): a thin rectangle, not a box
        if cv2.contourArea(hull) >= 0.88 * w * h:  # frames.RECTANGULAR, loosened
            return True
    return False


def _dark_ink_on_light(gray: np.ndarray) -> bool:
    """True for a light page, or else if the picture's thin features are darker than their surroundings.

    Residuals against a local median (a reduction POLARITY_SIDE wide, a window an eighth of it):
    dark writing, rulings and grids leave many pixels well below it, light writing many above,
    and a shadow's edge both alike.
    """
    import cv2

    scale = min(1.0, POLARITY_SIDE / max(gray.shape))
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    small = cv2.resize(gray.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    eight = np.round(np.clip(small, 0, 1) * 255).astype(np.uint8)
    side = max(3, int(min(small.shape) / 8)) | 1
    residual = eight.astype(np.int16) - cv2.medianBlur(eight, side).astype(np.int16)
    spread = 1.4826 * float(np.median(np.abs(residual)))  # paper grain
    level = max(8.0, 6.0 * spread)  # 8 of 255: the faintest writing worth cleaning a page for
    dark, light = int(np.count_nonzero(residual < -level)), int(np.count_nonzero(residual > level))
    if float(np.percentile(small, 75)) > 0.3:
        return True  # mostly light, if shaded: paper (a dark background is under 0.1)
    return dark > light
