"""Printed lines divided out of the ink, keeping the strokes that cross them.

Each line found by `printed_lines` is divided out by its own intensity profile (a running median
along it, sampled at its sub-pixel position), so ink crossing it stays; where the line is as dark
as the ink, a stroke continuing on both sides is bridged. Written by hand: no library removes a
line while keeping the strokes that cross it.
"""

from __future__ import annotations

import numpy as np

from mnist_cnn.inference.printed_lines import MIN_THRESHOLD, Line, positions, sample

LINE_WINDOW = 0.25  # of the line's length: the running median that estimates the line's darkness


def remove_lines(ink: np.ndarray, lines: list[Line]) -> np.ndarray:
    """The ink map with every line divided out by its darkness profile; crossing strokes bridged."""
    out = ink.copy()
    for line in lines:
        divide_out(out, line)
    for line in lines:  # bridges, once every line is gone (a grid's crossings are not strokes)
        bridge(out, ink, line)
    return out


def divide_out(ink: np.ndarray, line: Line) -> None:
    """Divide the line's own transmission out of the pixels it covers (in place).

    Paper × line × ink: dividing by the line's intensity (a running median along it, at each
    sub-pixel offset) leaves paper where there was only the line and the ink where a stroke
    crosses it, as long as the ink is darker than the line.
    """
    offsets = np.arange(line.low, line.high + 1, dtype=np.float64)
    light = 1.0 - np.nan_to_num(sample(ink, line.horizontal, line.slope, line.intercept, offsets), nan=0.0)
    own = np.vstack([np.ones((1, light.shape[1])), _running_median(light), np.ones((1, light.shape[1]))])
    grid = np.concatenate([[line.low - 1], offsets, [line.high + 1]])
    view = ink if line.horizontal else ink.T
    centre = positions(True, view.shape, line.slope, line.intercept)
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


def bridge(out: np.ndarray, original: np.ndarray, line: Line) -> None:
    """Restore ink across a line where a stroke continues on both sides (the division cut it)."""
    width = line.high - line.low + 1
    reach = width + 1  # a slanted stroke leaves the band this far along the line from where it entered
    above = np.arange(line.low - 2, line.low, dtype=np.float64)
    below = np.arange(line.high + 1, line.high + 3, dtype=np.float64)
    side_a = np.nan_to_num(sample(out, line.horizontal, line.slope, line.intercept, above), nan=0.0)
    side_b = np.nan_to_num(sample(out, line.horizontal, line.slope, line.intercept, below), nan=0.0)
    bridge = np.minimum(_spread(side_a.max(axis=0), reach), _spread(side_b.max(axis=0), reach))
    if not (bridge > MIN_THRESHOLD).any():
        return
    view, was = (out, original) if line.horizontal else (out.T, original.T)
    centre = positions(True, view.shape, line.slope, line.intercept)
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
        centre = np.round(positions(True, view.shape, line.slope, line.intercept)).astype(np.int64)
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
