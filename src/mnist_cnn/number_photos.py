"""Synthetic phone photos of a written number (for tests and benchmarks of reading numbers).

2–6 MNIST test digits are written side by side with one pen, as a person writes a number: random
gaps (some pairs touching: the next digit is moved left until its ink meets the previous one's), a
little up and down, now and then a stroke broken (a dry pen), then photographed on a page of one
of paper_photos' kinds (its paper, rulings, grid, light, noise and JPEG are reused, not copied).
Everything is NumPy, OpenCV and Pillow, independent of the segmentation code it checks.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from PIL import Image

from mnist_cnn import paper_photos

KINDS = ("plain", "ruled", "squared", "shadow", "gradient")  # margin and frame are placed for one digit
TOUCHING = 0.2  # share of neighbouring pairs written touching
BROKEN = 0.25  # share of digits with a broken stroke
MAX_PAGE_SIDE = 1600


@dataclass(frozen=True)
class NumberPhoto:
    """A photo of a written number, what it says, each digit's box (left, top, right, bottom), touching pairs.

    inks: each digit's own ink coverage in [0, 1] over its box (what of the photo's ink is whose,
    where touching digits share pixels).
    """

    image: Image.Image
    text: str
    boxes: list[tuple[int, int, int, int]]
    touching: int
    inks: tuple[np.ndarray, ...] = ()


def number_photo(
    digits: np.ndarray,
    labels,
    kind: str,
    seed: int,
    touching: float = TOUCHING,
    broken: float = BROKEN,
) -> NumberPhoto:
    """Photograph the digits (N, 28, 28) ink on black in [0, 1], left to right, on `kind` of paper."""
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {kind!r}")
    rng = np.random.default_rng(seed)
    height = int(np.exp(rng.uniform(np.log(36), np.log(150))))
    thickness = int(rng.choice([-1, 0, 0, 1, 2])) * max(1, height // 90)
    written = [_written(d, height, thickness, rng, broken) for d in np.asarray(digits, np.float32)]
    strip, places, touches = _line(written, height, rng, touching)
    sheet = _sheet(strip.shape, height, thickness, rng, seed)
    mask = np.zeros((sheet.height, sheet.width), np.float32)
    mask[sheet.top : sheet.top + strip.shape[0], sheet.left : sheet.left + strip.shape[1]] = strip
    boxes = [(sheet.left + x0, sheet.top + y0, sheet.left + x1, sheet.top + y1) for x0, y0, x1, y1 in places]
    text = "".join(str(int(v)) for v in labels)
    return NumberPhoto(paper_photos.photograph(sheet, mask, kind), text, boxes, touches, tuple(written))


def draw_strings(count: int, labels: np.ndarray, seed: int, lengths: tuple[int, ...] = (2, 3, 4, 5, 6)) -> list:
    """`count` strings of test-image indices, each of a length drawn from `lengths`."""
    rng = np.random.default_rng(seed)
    sizes = [int(rng.choice(lengths)) for _ in range(count)]
    return [rng.choice(len(labels), size=size, replace=size > len(labels)) for size in sizes]


def _written(digit: np.ndarray, height: int, thickness: int, rng: np.random.Generator, broken: float) -> np.ndarray:
    """One digit in the pen's ink, cropped to its ink; sometimes with a gap in a stroke."""
    side = max(8, int(round(28 * height / 20 * rng.uniform(0.9, 1.1))))  # MNIST's digit is 20 of 28 px tall
    big = paper_photos.pen_strokes(digit, side, thickness)
    if rng.random() < broken:
        big = _break_stroke(big, side, rng)
    rows, cols = np.nonzero(big > 0.05)
    if rows.size == 0:
        return big
    return big[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def _break_stroke(big: np.ndarray, side: int, rng: np.random.Generator) -> np.ndarray:
    """Erase a round spot wider than the stroke at one or two places on the ink: a dry pen's gap."""
    ink = np.argwhere(big > 0.5)
    if len(ink) == 0:
        return big
    out = big.copy()
    radius = max(1.5, side * 0.045)  # a gap about as wide as MNIST strokes (2-3 of 28 px)
    yy, xx = np.mgrid[0 : big.shape[0], 0 : big.shape[1]]
    for row, col in ink[rng.choice(len(ink), size=int(rng.integers(1, 3)), replace=False)]:
        out[(yy - row) ** 2 + (xx - col) ** 2 <= radius**2] = 0.0
    return out


def _line(written: list[np.ndarray], height: int, rng: np.random.Generator, touching: float):
    """The digits side by side on one line: the strip, each digit's box in it, how many pairs touch."""
    margin = height // 4
    tops = [margin + int(rng.uniform(-0.06, 0.06) * height) + (height - w.shape[0]) // 2 for w in written]
    tops = [max(0, t) for t in tops]
    strip_h = max(t + w.shape[0] for t, w in zip(tops, written, strict=True)) + margin
    strip_w = sum(w.shape[1] for w in written) + height * len(written) + 2 * margin
    strip = np.zeros((strip_h, strip_w), np.float32)
    places, x, touches = [], margin, 0
    for index, (top, w) in enumerate(zip(tops, written, strict=True)):
        if index:
            if rng.random() < touching:
                x, touched = _touching_left(strip, w, top, x)
                touches += touched
            else:
                x += int(rng.uniform(0.1, 0.5) * height)
        region = strip[top : top + w.shape[0], x : x + w.shape[1]]
        np.maximum(region, w, out=region)
        places.append((x, top, x + w.shape[1], top + w.shape[0]))
        x += w.shape[1]
    right = max(p[2] for p in places) + margin
    return strip[:, :right], places, touches


def _touching_left(strip: np.ndarray, w: np.ndarray, top: int, x: int) -> tuple[int, int]:
    """The column where `w` (placed at `top`) first touches the ink already on the strip, moving it left from x."""
    solid = w > 0.5
    # A writer's digits touch at their edges: never slide one through the other's open strokes.
    for left in range(x, max(0, x - w.shape[1] // 3) - 1, -1):
        region = strip[top : top + w.shape[0], left : left + w.shape[1]] > 0.5
        if np.any(region & solid):
            return left, 1
    return x, 0


def _sheet(strip_shape, height: int, thickness: int, rng: np.random.Generator, seed: int) -> paper_photos.Sheet:
    """A page around the strip with paper_photos' paper, ink, noise and JPEG drawn from the same seed."""
    base = paper_photos._draw_sheet(rng, seed)  # noqa: SLF001 (the same paper and ink draws as a digit photo)
    strip_h, strip_w = strip_shape
    width = min(MAX_PAGE_SIDE, max(strip_w + 8, int(strip_w / rng.uniform(0.45, 0.9))))
    page_h = min(MAX_PAGE_SIDE, max(strip_h + 8, int(strip_h / rng.uniform(0.3, 0.7))))
    top = int(rng.integers(0, page_h - strip_h + 1))
    left = int(rng.integers(0, width - strip_w + 1))
    return dataclasses.replace(base, width=width, height=page_h, digit_side=height, top=top, left=left,
                               thickness=thickness)  # fmt: skip
