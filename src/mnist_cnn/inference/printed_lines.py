"""Printed lines on a page: found (long, thin, straight, crossing most of the image); `line_removal` divides them out.

Used by `page.clean` (ruled lines, grids, margin lines) and `frames` (the sides of a box). Each line
is divided out by its own intensity profile (a running median along it, sampled at its sub-pixel
position), so ink crossing it stays; where the line is as dark as the ink, a stroke continuing on
both sides is bridged. OpenCV finds the candidates (a probabilistic Hough transform on a
reduction); the line bookkeeping is written here, because no library removes a line while keeping
the strokes that cross it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_THRESHOLD = 0.06  # ink (relative darkness against the paper) below this is paper grain or JPEG

LINE_MIN_LEVEL = 0.03  # a long line is found down to this darkness: averaged along it, grain is far weaker
LINE_COVERAGE = 0.75  # a printed line is ink along at least this share of its chord through the image
LINE_MAX_WIDTH = 0.02  # of the shorter side (at least 5 px): wider straight strokes are writing
HOUGH_SIDE = 360  # the Hough transform sees the page at most this large
MAX_SEGMENTS = 400  # Hough segments examined per orientation (a dense grid gives a few per line)
SMOOTH = 7  # px: lines are searched on the ink map averaged this far along them


@dataclass(frozen=True)
class Line:
    """A printed line: position as a function of the running coordinate, and its band of offsets."""

    horizontal: bool
    slope: float
    intercept: float  # position (row of a horizontal line, column of a vertical one) at coordinate 0
    low: int  # band of offsets around the fitted position that holds the line's ink
    high: int


def ink_noise(ink: np.ndarray) -> float:
    """Robust sigma (MAD) of the ink map: paper grain and JPEG noise; writing is a small minority."""
    sample = ink[::2, ::2]
    median = float(np.median(sample))
    return 1.4826 * float(np.median(np.abs(sample - median)))


def find_lines(ink: np.ndarray, threshold: float) -> list[Line]:
    """Printed lines in an ink map (0 = paper): long, thin, straight, crossing most of the image.

    Each orientation is searched on the ink map smoothed along it (a box SMOOTH px long), which
    keeps a faint line's contrast while averaging paper grain and JPEG noise away.
    """
    import cv2

    lines: list[Line] = []
    # The Hough transform runs on a reduction (each pixel votes once per angle: the cost) with
    # OR-pooling, so a thin line survives it; the segments it finds are verified at full size.
    factor = max(1, int(np.ceil(max(ink.shape) / HOUGH_SIDE)))
    for horizontal in (True, False):
        along = cv2.blur(ink, (SMOOTH, 1) if horizontal else (1, SMOOTH))
        level = max(LINE_MIN_LEVEL, 4.0 * ink_noise(along))
        # Thickened across the line first: a thin tilted line steps from row to row, in runs shorter
        # than the opening below (it would vanish), and splits its Hough votes between neighbouring
        # distances. Then opened with a line as long as a 15th of the page: only runs along this
        # orientation stay, so the other orientation's lines (a grid) do not break these into pieces.
        run = max(15, min(ink.shape) // 15)
        mask = cv2.dilate((along > level).astype(np.uint8), np.ones((3, 1) if horizontal else (1, 3), np.uint8))
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((1, run) if horizontal else (run, 1), np.uint8))
        if factor > 1:
            reduced = (mask.shape[1] // factor, mask.shape[0] // factor)
            shrunk = cv2.resize(mask * 255, reduced, interpolation=cv2.INTER_AREA)
            mask = (shrunk > 0).astype(np.uint8)
        small = min(mask.shape)
        segments = cv2.HoughLinesP(mask, 1, np.pi / 180, threshold=int(0.3 * small),
                                   minLineLength=int(0.4 * small), maxLineGap=max(2, small // 50))  # fmt: skip
        found = np.zeros((0, 4)) if segments is None else segments.reshape(-1, 4).astype(np.float64) * factor
        for x1, y1, x2, y2 in found[:MAX_SEGMENTS]:
            run, pos = ((x1, x2), (y1, y2)) if horizontal else ((y1, y2), (x1, x2))
            if run[0] == run[1]:
                continue
            slope = (pos[1] - pos[0]) / (run[1] - run[0])
            if abs(slope) > 0.36:  # steeper than 20 degrees: the other orientation's (or writing)
                continue
            guess = Line(horizontal, slope, pos[0] - slope * run[0], -1, 1)
            if any(_same(guess, other, ink.shape) for other in lines):
                continue  # one more piece of a line already found
            line = verify_line(along, level, horizontal, slope, guess.intercept)
            if line is not None and not any(_same(line, other, ink.shape) for other in lines):
                lines.append(line)
    return lines


def positions(line_horizontal: bool, shape: tuple[int, int], slope: float, intercept: float) -> np.ndarray:
    """The line's (fractional) row, or column, at every column, or row, of the image."""
    length = shape[1] if line_horizontal else shape[0]
    return intercept + slope * np.arange(length)


def sample(a: np.ndarray, horizontal: bool, slope: float, intercept: float, offsets: np.ndarray) -> np.ndarray:
    """`a` along a line at (fractional) offsets across it, linearly interpolated: (len(offsets), length).

    Sampling at the line's exact sub-pixel position makes a straight strip of it, so its profile
    is the same all along (rounding to whole pixels would make it flicker wherever the line steps).
    Outside the image: NaN.
    """
    t = a if horizontal else a.T
    where = positions(True, t.shape, slope, intercept)[None, :] + offsets[:, None]
    lower = np.floor(where).astype(np.int64)
    frac = (where - lower).astype(np.float32)
    coordinate = np.arange(t.shape[1])[None, :]
    top = t[np.clip(lower, 0, t.shape[0] - 1), coordinate]
    bottom = t[np.clip(lower + 1, 0, t.shape[0] - 1), coordinate]
    values = top * (1 - frac) + bottom * frac
    return np.where((lower >= 0) & (lower + 1 < t.shape[0]), values, np.nan)


def verify_line(
    ink: np.ndarray, threshold: float, horizontal: bool, slope: float, intercept: float, widest: int | None = None
) -> Line | None:
    """The line if ink runs along most of its chord in a thin band (at most `widest` px); refits it first."""
    if widest is None:
        widest = max(5, int(LINE_MAX_WIDTH * min(ink.shape)))
    reach = widest + 2
    offsets = np.arange(-reach, reach + 1, dtype=np.float64)
    # The Hough angle is coarse (a degree drifts 9 px over a 500 px line): the first refit looks
    # across the whole reach, the later ones only near the refined line (a crossing stroke nearby
    # would pull a wide one), each refit ignoring the positions pulled off the line.
    for window in (reach, 3, 3):
        near = np.abs(offsets) <= window
        # Centre on the median profile's peak (a digit crossing the line does not move a median),
        # then refit the slope on the brightest offsets near that centre, where ink is strong.
        samples = np.nan_to_num(sample(ink, horizontal, slope, intercept, offsets), nan=0.0)
        intercept += offsets[np.median(samples, axis=1).argmax()]
        samples = np.nan_to_num(sample(ink, horizontal, slope, intercept, offsets[near]), nan=0.0)
        strong = samples.max(axis=0) > threshold
        if strong.mean() < LINE_COVERAGE:
            return None
        coordinate = np.flatnonzero(strong)
        centres = intercept + slope * coordinate + offsets[near][samples[:, strong].argmax(axis=0)]
        slope, intercept = np.polyfit(coordinate, centres, 1)
        # Refit without the positions a crossing stroke pulled off the line.
        inliers = np.abs(centres - (intercept + slope * coordinate)) <= max(1.5, window / 2)
        if inliers.sum() >= 2:
            slope, intercept = np.polyfit(coordinate[inliers], centres[inliers], 1)
        if abs(slope) > 0.36:
            return None
    samples = sample(ink, horizontal, slope, intercept, offsets)
    inside = ~np.isnan(samples).any(axis=0)
    if inside.mean() < LINE_COVERAGE:
        return None
    samples = samples[:, inside]
    covered = (samples[reach - 1 : reach + 2].max(axis=0) > threshold).mean()
    profile = np.median(samples, axis=1)
    band = np.flatnonzero(profile > max(threshold / 2, profile.max() / 4))
    if covered < LINE_COVERAGE or band.size == 0 or profile.max() <= threshold:
        return None
    low, high = int(offsets[band[0]]) - 1, int(offsets[band[-1]]) + 1
    if high - low - 1 > widest:
        return None  # a wide straight stroke (a 1 or a 7's bar in a tight crop), not printing
    return Line(bool(horizontal), float(slope), float(intercept), low, high)


def _same(a: Line, b: Line, shape: tuple[int, int]) -> bool:
    """True if two lines are one (same orientation, centres within a band of each other mid-image)."""
    if a.horizontal != b.horizontal:
        return False
    middle = (shape[1] if a.horizontal else shape[0]) / 2
    gap = abs((a.intercept + a.slope * middle) - (b.intercept + b.slope * middle))
    return gap <= max(a.high - a.low, b.high - b.low) + 1


def lines_notes(lines: list[Line]) -> list[str]:
    across = sum(line.horizontal for line in lines)
    down = len(lines) - across
    if across >= 2 and down >= 2:
        return [f"grid lines removed ({across} across, {down} down)"]
    notes = [f"ruled lines removed ({across})"] if across else []
    if down:
        notes.append("margin line removed" if down == 1 else f"vertical lines removed ({down})")
    return notes
