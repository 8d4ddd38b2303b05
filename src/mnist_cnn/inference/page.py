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

OpenCV (headless) does the morphology, the Hough transform and the components; only the line
bookkeeping is written here, because no library removes a line while keeping strokes that cross it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_cnn.inference.image_decode import ImageError

MIN_PAGE_SIDE = 64  # smaller images are a digit alone (MNIST-like, a pad drawing): never cleaned
ANALYSIS_SIDE = 1024  # pages are cleaned at most at this size: a 20 px digit needs no more
POLARITY_SIDE = 256  # dark-ink-on-light-paper is decided on a reduction this small
LIGHT_KERNEL = 1 / 4  # of the shorter side: the closing removes strokes up to this wide
UNEVEN = 0.12  # the paper's brightness varies by more than this (p2..p98, relative): light corrected
MIN_THRESHOLD = 0.06  # ink (relative darkness against the paper) below this is paper grain or JPEG
LINE_COVERAGE = 0.75  # a printed line is ink along at least this share of its chord through the image
LINE_MAX_WIDTH = 0.02  # of the shorter side (at least 5 px): wider straight strokes are writing
HOUGH_SIDE = 360  # the Hough transform sees the page at most this large
MAX_SEGMENTS = 400  # Hough segments examined per orientation (a dense grid gives a few per line)
SMOOTH = 7  # px: lines are searched on the ink map averaged this far along them
LINE_WINDOW = 0.25  # of the line's length: the running median that estimates the line's darkness
NEAR = 0.25  # pieces within this share of the digit's size from it belong to it
BLOB = 1.5  # a component this many times wider than the digit's strokes is a blob, not a piece of it
SPECK = 0.0002  # components smaller than this share of the image are specks
MIN_INK = 0.4  # on a cleaned page, writing darkens the paper by at least this much (leftovers do not)


@dataclass(frozen=True)
class Page:
    """A cleaned page (gray, 1 = paper) and what was done to it."""

    gray: np.ndarray
    notes: tuple[str, ...]


@dataclass(frozen=True)
class Line:
    """A printed line: position as a function of the running coordinate, and its band of offsets."""

    horizontal: bool
    slope: float
    intercept: float  # position (row of a horizontal line, column of a vertical one) at coordinate 0
    low: int  # band of offsets around the fitted position that holds the line's ink
    high: int


def clean(gray: np.ndarray) -> Page | None:
    """The page with its writing alone on flat white paper, or None where nothing needed cleaning.

    `gray` is a 2-D float array in [0, 1], 1 = white. Only pages of dark ink on light paper at
    least MIN_PAGE_SIDE on each side are considered. Raises ImageError when the page holds no
    writing at all (a shadow, rulings or specks alone).
    """
    import cv2

    if min(gray.shape) < MIN_PAGE_SIDE or not _dark_ink_on_light(gray):
        return None
    scale = min(1.0, ANALYSIS_SIDE / max(gray.shape))
    size = (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale)))
    page = cv2.resize(gray, size, interpolation=cv2.INTER_AREA) if scale < 1 else gray.astype(np.float32)
    paper = _paper_light(page)
    flat = np.clip(page / paper, 0.0, 1.0)
    notes: list[str] = []
    uneven = _uneven(paper, flat)
    if uneven:
        notes.append("uneven light corrected")
    ink = 1.0 - flat
    threshold = max(MIN_THRESHOLD, 4.0 * _noise(ink))
    lines = find_lines(ink, threshold)
    if lines:
        ink = remove_lines(ink, lines)
        notes.extend(_lines_notes(lines))
    printed = band_mask(ink.shape, lines)
    kept, dropped = _main_ink(ink, threshold, strict=bool(lines) or uneven, printed=printed)
    if dropped:
        notes.append(f"{dropped} stray mark{'s' if dropped > 1 else ''} ignored")
    if not notes:
        return None
    return Page((1.0 - kept).astype(np.float32), tuple(notes))


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


def _square(shape: tuple[int, ...]) -> np.ndarray:
    import cv2

    side = max(3, int(min(shape) * LIGHT_KERNEL)) | 1
    return cv2.getStructuringElement(cv2.MORPH_RECT, (side, side))


def _paper_light(page: np.ndarray) -> np.ndarray:
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


def _uneven(paper: np.ndarray, flat: np.ndarray) -> bool:
    """True if the light on the paper varies by more than UNEVEN, measured away from any ink.

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
    return (hi - lo) / max(float(hi), 1e-3) > UNEVEN


def _noise(ink: np.ndarray) -> float:
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
        level = max(MIN_THRESHOLD, 4.0 * _noise(along))
        # Thickened across the line: a thin line that steps from row to row splits its Hough votes
        # between neighbouring distances, and short faint ones would miss the threshold.
        # Opened with a line as long as a 15th of the page first: only runs along this orientation
        # stay, so the other orientation's lines (a grid) do not break these into short pieces.
        run = max(15, min(ink.shape) // 15)
        mask = cv2.morphologyEx((along > level).astype(np.uint8), cv2.MORPH_OPEN,
                                np.ones((1, run) if horizontal else (run, 1), np.uint8))  # fmt: skip
        mask = cv2.dilate(mask, np.ones((3, 1) if horizontal else (1, 3), np.uint8))
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
            line = _verify(along, level, horizontal, slope, guess.intercept)
            if line is not None and not any(_same(line, other, ink.shape) for other in lines):
                lines.append(line)
    return lines


def _positions(line_horizontal: bool, shape: tuple[int, int], slope: float, intercept: float) -> np.ndarray:
    """The line's (fractional) row, or column, at every column, or row, of the image."""
    length = shape[1] if line_horizontal else shape[0]
    return intercept + slope * np.arange(length)


def _sample(a: np.ndarray, horizontal: bool, slope: float, intercept: float, offsets: np.ndarray) -> np.ndarray:
    """`a` along a line at (fractional) offsets across it, linearly interpolated: (len(offsets), length).

    Sampling at the line's exact sub-pixel position makes a straight strip of it, so its profile
    is the same all along (rounding to whole pixels would make it flicker wherever the line steps).
    Outside the image: NaN.
    """
    t = a if horizontal else a.T
    where = _positions(True, t.shape, slope, intercept)[None, :] + offsets[:, None]
    lower = np.floor(where).astype(np.int64)
    frac = (where - lower).astype(np.float32)
    coordinate = np.arange(t.shape[1])[None, :]
    top = t[np.clip(lower, 0, t.shape[0] - 1), coordinate]
    bottom = t[np.clip(lower + 1, 0, t.shape[0] - 1), coordinate]
    values = top * (1 - frac) + bottom * frac
    return np.where((lower >= 0) & (lower + 1 < t.shape[0]), values, np.nan)


def _verify(ink: np.ndarray, threshold: float, horizontal: bool, slope: float, intercept: float) -> Line | None:
    """The line if ink runs along most of its chord in a thin band; refits its position first."""
    short = min(ink.shape)
    widest = max(5, int(LINE_MAX_WIDTH * short))
    reach = widest + 2
    offsets = np.arange(-reach, reach + 1, dtype=np.float64)
    # The Hough angle is coarse (a degree drifts 9 px over a 500 px line): the first refit looks
    # across the whole reach, the later ones only near the refined line (a crossing stroke nearby
    # would pull a wide one), each refit ignoring the positions pulled off the line.
    for window in (reach, 3, 3):
        near = np.abs(offsets) <= window
        # Centre on the median profile's peak (a digit crossing the line does not move a median),
        # then refit the slope on the brightest offsets near that centre, where ink is strong.
        samples = np.nan_to_num(_sample(ink, horizontal, slope, intercept, offsets), nan=0.0)
        intercept += offsets[np.median(samples, axis=1).argmax()]
        samples = np.nan_to_num(_sample(ink, horizontal, slope, intercept, offsets[near]), nan=0.0)
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
    samples = _sample(ink, horizontal, slope, intercept, offsets)
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


def remove_lines(ink: np.ndarray, lines: list[Line]) -> np.ndarray:
    """The ink map with every line divided out by its darkness profile; crossing strokes bridged."""
    out = ink.copy()
    for line in lines:
        _divide_out(out, line)
    for line in lines:  # bridges, once every line is gone (a grid's crossings are not strokes)
        _bridge(out, ink, line)
    return out


def _divide_out(ink: np.ndarray, line: Line) -> None:
    """Divide the line's own transmission out of the pixels it covers (in place).

    Paper × line × ink: dividing by the line's intensity (a running median along it, at each
    sub-pixel offset) leaves paper where there was only the line and the ink where a stroke
    crosses it, as long as the ink is darker than the line.
    """
    offsets = np.arange(line.low, line.high + 1, dtype=np.float64)
    light = 1.0 - np.nan_to_num(_sample(ink, line.horizontal, line.slope, line.intercept, offsets), nan=0.0)
    own = np.vstack([np.ones((1, light.shape[1])), _running_median(light), np.ones((1, light.shape[1]))])
    grid = np.concatenate([[line.low - 1], offsets, [line.high + 1]])
    view = ink if line.horizontal else ink.T
    centre = _positions(True, view.shape, line.slope, line.intercept)
    coordinate = np.arange(view.shape[1])
    for k in range(line.low - 1, line.high + 2):
        rows = np.floor(centre).astype(np.int64) + k
        offset = rows - centre  # where this pixel lies across the line
        valid = (rows >= 0) & (rows < view.shape[0]) & (offset > grid[0]) & (offset < grid[-1])
        if not valid.any():
            continue
        r, c, o = rows[valid], coordinate[valid], offset[valid]
        step = np.clip(np.searchsorted(grid, o) - 1, 0, len(grid) - 2)
        frac = (o - grid[step]) / (grid[step + 1] - grid[step])
        transmission = own[step, c] * (1 - frac) + own[step + 1, c] * frac
        light_here = 1.0 - view[r, c]
        view[r, c] = 1.0 - np.clip(light_here / np.maximum(transmission, 0.05), 0.0, 1.0)


def _running_median(light: np.ndarray) -> np.ndarray:
    """The line's own intensity at each offset and position: a median along it, over blocks.

    A block median over a window a quarter of the line long ignores a stroke crossing the line (a
    short run), follows the line's drift in brightness, and costs a few small medians.
    """
    length = light.shape[1]
    block = max(8, int(length * LINE_WINDOW / 8))
    count = -(-length // block)
    padded = np.pad(light, ((0, 0), (0, count * block - length)), mode="edge")
    medians = np.median(padded.reshape(light.shape[0], count, block), axis=2)
    # A block darker than the line's typical level nearby holds a stroke along the line: use the
    # neighbourhood's level there (the brighter of the two).
    windows = np.lib.stride_tricks.sliding_window_view(np.pad(medians, ((0, 0), (4, 4)), mode="edge"), 9, axis=1)
    wide = np.median(windows, axis=2)
    wide = np.maximum(wide, medians)
    centres = (np.arange(count) + 0.5) * block
    coordinate = np.arange(length)
    return np.stack([np.interp(coordinate, centres, row) for row in wide])


def _bridge(out: np.ndarray, original: np.ndarray, line: Line) -> None:
    """Restore ink across a line where a stroke continues on both sides (the division cut it)."""
    width = line.high - line.low + 1
    reach = width + 1  # a slanted stroke leaves the band this far along the line from where it entered
    above = np.arange(line.low - 2, line.low, dtype=np.float64)
    below = np.arange(line.high + 1, line.high + 3, dtype=np.float64)
    side_a = np.nan_to_num(_sample(out, line.horizontal, line.slope, line.intercept, above), nan=0.0)
    side_b = np.nan_to_num(_sample(out, line.horizontal, line.slope, line.intercept, below), nan=0.0)
    bridge = np.minimum(_spread(side_a.max(axis=0), reach), _spread(side_b.max(axis=0), reach))
    if not (bridge > MIN_THRESHOLD).any():
        return
    view, was = (out, original) if line.horizontal else (out.T, original.T)
    centre = _positions(True, view.shape, line.slope, line.intercept)
    coordinate = np.arange(view.shape[1])
    for k in range(line.low, line.high + 1):
        rows = np.round(centre).astype(np.int64) + k
        valid = (rows >= 0) & (rows < view.shape[0]) & (bridge > MIN_THRESHOLD)
        r, c = rows[valid], coordinate[valid]
        view[r, c] = np.maximum(view[r, c], np.minimum(was[r, c], bridge[valid]))


def band_mask(shape: tuple[int, int], lines: list[Line]) -> np.ndarray:
    """True on the pixels each line covered (its band and a pixel either side)."""
    mask = np.zeros(shape, dtype=bool)
    for line in lines:
        view = mask if line.horizontal else mask.T
        centre = np.round(_positions(True, view.shape, line.slope, line.intercept)).astype(np.int64)
        coordinate = np.arange(view.shape[1])
        for k in range(line.low - 1, line.high + 2):
            rows = centre + k
            valid = (rows >= 0) & (rows < view.shape[0])
            view[rows[valid], coordinate[valid]] = True
    return mask


def _spread(values: np.ndarray, reach: int) -> np.ndarray:
    """Running maximum over ±reach positions."""
    from scipy import ndimage

    return ndimage.maximum_filter1d(values, 2 * reach + 1, mode="constant")


def _lines_notes(lines: list[Line]) -> list[str]:
    across = sum(line.horizontal for line in lines)
    down = len(lines) - across
    if across >= 2 and down >= 2:
        return [f"grid lines removed ({across} across, {down} down)"]
    notes = [f"ruled lines removed ({across})"] if across else []
    if down:
        notes.append("margin line removed" if down == 1 else f"vertical lines removed ({down})")
    return notes


def _main_ink(ink: np.ndarray, threshold: float, strict: bool, printed: np.ndarray) -> tuple[np.ndarray, int]:
    """Only the digit's ink: the heaviest component and the pieces near it; how many marks were dropped.

    strict: the page was cleaned (light or lines), so leftovers are likely and a page whose best
    component is faint holds no writing. printed: where lines were removed; a component lying
    mostly there is what is left of a line, not writing. Raises ImageError when nothing is left.
    """
    import cv2

    peak = float(cv2.medianBlur(np.clip(ink * 255, 0, 255).astype(np.uint8), 3).max()) / 255.0
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
    blob = width > BLOB * width[main]
    x0, y0, x1, y1 = _box(boxes[main])
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
        bx0, by0, bx1, by1 = _box(boxes[label])
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


def _box(stat: np.ndarray) -> tuple[int, int, int, int]:
    left, top, width, height = (int(v) for v in stat)
    return left, top, left + width, top + height
