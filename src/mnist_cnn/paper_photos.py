"""Synthetic phone photos of a handwritten digit on the paper people write on (for tests and benchmarks).

A 28×28 digit (an MNIST test image, or a font's glyph) is enlarged and written in dark or blue ink
on a page of one KIND — plain, ruled, squared, a notebook margin, a shadow across it, a lighting
gradient, a box drawn around the digit — at a random size, position and resolution, with sensor
noise and JPEG compression.
`pair` draws one sheet twice from the same random draws: on plain paper and on the given kind, so
that the only difference between the two photos is the paper (what the benchmark compares).
Everything is NumPy, OpenCV and Pillow, independent of the preprocessing code it checks.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

KINDS = ("plain", "ruled", "squared", "margin", "shadow", "gradient", "framed")
FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))


@dataclass(frozen=True)
class Sheet:
    """Everything drawn at random for one photo, shared by its plain and its paper version."""

    width: int
    height: int
    digit_side: int
    top: int
    left: int
    thickness: int  # pixels of dilation (>0) or erosion (<0) of the enlarged strokes
    paper: tuple[float, float, float]
    ink: tuple[float, float, float]
    noise: float
    quality: int
    seed: int


def pair(digit: np.ndarray, kind: str, seed: int) -> tuple[Image.Image, Image.Image]:
    """The same digit photographed on plain paper and on `kind` (JPEG-decoded RGB Pillow images)."""
    rng = np.random.default_rng(seed)
    sheet = _draw_sheet(rng, seed)
    ink = _ink_mask(digit, sheet)
    return _photo(sheet, ink, "plain"), _photo(sheet, ink, kind)


def photo(digit: np.ndarray, kind: str, seed: int) -> Image.Image:
    """One photo of `digit` on `kind` of paper."""
    return pair(digit, kind, seed)[1]


def page_only(kind: str, seed: int) -> Image.Image:
    """A photo of the paper alone (no writing): a shadow, rulings, a grid."""
    rng = np.random.default_rng(seed)
    sheet = _draw_sheet(rng, seed)
    return _photo(sheet, np.zeros((sheet.height, sheet.width), np.float32), kind)


def font_digits(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` digits typeset in the machine's TrueType fonts, MNIST-style 28×28 (ink 1 on 0), and labels.

    Other "hands" than MNIST's writers: each font and style draws its own shapes. Returns empty arrays
    where the machine has no fonts.
    """
    fonts = sorted(p for d in FONT_DIRS if d.is_dir() for p in d.rglob("*.ttf"))
    fonts = [f for f in fonts if "Math" not in f.name]  # symbol fonts draw no ordinary digits
    if not fonts:
        return np.zeros((0, 28, 28), np.float32), np.zeros(0, np.uint8)
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for i in range(count):
        label = int(rng.integers(10))
        font = ImageFont.truetype(str(fonts[i % len(fonts)]), 96)
        canvas = Image.new("L", (160, 160), 0)
        ImageDraw.Draw(canvas).text((80, 80), str(label), fill=255, font=font, anchor="mm")
        canvas = canvas.rotate(float(rng.uniform(-12, 12)), resample=Image.Resampling.BILINEAR)
        images.append(_mnist_style(np.asarray(canvas, np.float32) / 255.0))
        labels.append(label)
    return np.stack(images), np.array(labels, np.uint8)


def _mnist_style(big: np.ndarray) -> np.ndarray:
    """A large white-on-black glyph fitted into 20×20 and centred in 28×28 (MNIST's own recipe)."""
    rows, cols = np.nonzero(big > 0.1)
    crop = big[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    scale = 20 / max(crop.shape)
    size = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
    patch = np.asarray(Image.fromarray(crop).resize(size, Image.Resampling.BOX))
    field = np.zeros((28, 28), np.float32)
    top, left = (28 - patch.shape[0]) // 2, (28 - patch.shape[1]) // 2
    field[top : top + patch.shape[0], left : left + patch.shape[1]] = patch
    return np.clip(field / max(field.max(), 1e-6), 0, 1)


def _draw_sheet(rng: np.random.Generator, seed: int) -> Sheet:
    width = int(np.exp(rng.uniform(np.log(220), np.log(1100))))
    height = int(width * rng.uniform(0.75, 1.35))
    digit_side = int(min(width, height) * rng.uniform(0.3, 0.6))
    top = int(rng.integers(int(0.05 * height), height - digit_side - int(0.05 * height)))
    left = int(rng.integers(int(0.05 * width), width - digit_side - int(0.05 * width)))
    paper = tuple(float(v) for v in np.array([1.0, 0.99, 0.96]) - rng.uniform(0, 0.08, 3) * [1, 1, 1.5])
    blue = rng.random() < 0.4
    ink = (0.1, 0.14, rng.uniform(0.45, 0.65)) if blue else tuple(float(v) for v in rng.uniform(0.05, 0.22, 3))
    thickness = int(rng.choice([-1, 0, 0, 1, 2])) * max(1, digit_side // 120)
    return Sheet(width, height, digit_side, top, left, thickness, paper, tuple(float(v) for v in ink),  # type: ignore[arg-type]
                 float(rng.uniform(0.005, 0.03)), int(rng.integers(55, 96)), seed)  # fmt: skip


def _ink_mask(digit: np.ndarray, sheet: Sheet) -> np.ndarray:
    """The digit enlarged onto the page: ink coverage in [0, 1] at page size."""
    big = pen_strokes(digit, sheet.digit_side, sheet.thickness)
    mask = np.zeros((sheet.height, sheet.width), np.float32)
    mask[sheet.top : sheet.top + sheet.digit_side, sheet.left : sheet.left + sheet.digit_side] = big
    return mask


def pen_strokes(digit: np.ndarray, side: int, thickness: int) -> np.ndarray:
    """A 28×28 digit enlarged to side×side as a pen writes it: ink coverage in [0, 1]."""
    import cv2

    big = cv2.resize(np.asarray(digit, np.float32), (side, side), interpolation=cv2.INTER_CUBIC)
    big = cv2.GaussianBlur(np.clip(big, 0, 1), (0, 0), max(0.5, side / 200))
    if thickness:
        kernel = np.ones((abs(thickness) * 2 + 1,) * 2, np.uint8)
        big = cv2.dilate(big, kernel) if thickness > 0 else cv2.erode(big, kernel)
    return np.clip((big - 0.25) / 0.5, 0, 1)  # a pen's edge: MNIST's soft rims become ink or paper


def photograph(sheet: Sheet, ink: np.ndarray, kind: str) -> Image.Image:
    """Any ink mask (page-sized coverage in [0, 1]) on `kind` of paper, as `sheet` draws it."""
    return _photo(sheet, ink, kind)


def _photo(sheet: Sheet, ink: np.ndarray, kind: str) -> Image.Image:
    """Paper, then print, then ink, then light, then noise and JPEG: one photo."""
    rng = np.random.default_rng([sheet.seed, KINDS.index(kind)])
    page = np.ones((sheet.height, sheet.width, 3), np.float32) * np.array(sheet.paper, np.float32)
    if kind in ("ruled", "margin"):
        _rules(page, sheet, rng)
    if kind == "squared":
        _grid(page, sheet, rng)
    if kind == "margin":
        _margin(page, sheet, rng)
    if kind == "framed":
        _frame(page, sheet, rng)
    alpha = ink[..., None]
    page = page * (1 - alpha) + np.array(sheet.ink, np.float32) * alpha
    if kind == "shadow":
        page *= _shadow(sheet, rng)[..., None]
    if kind == "gradient":
        page *= _gradient(sheet, rng)[..., None]
    noise = np.random.default_rng([sheet.seed, 99]).normal(0, sheet.noise, page.shape).astype(np.float32)
    eight = np.clip((page + noise) * 255, 0, 255).round().astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(eight, "RGB").save(buffer, format="JPEG", quality=sheet.quality)
    buffer.seek(0)
    out = Image.open(buffer)
    out.load()
    return out


def _line_colour(rng: np.random.Generator) -> np.ndarray:
    choice = rng.integers(3)
    if choice == 0:  # light blue
        return np.array([rng.uniform(0.45, 0.7), rng.uniform(0.65, 0.82), rng.uniform(0.85, 0.97)], np.float32)
    if choice == 1:  # grey
        return np.full(3, rng.uniform(0.5, 0.78), np.float32)
    return np.array([rng.uniform(0.35, 0.55), rng.uniform(0.45, 0.6), rng.uniform(0.6, 0.8)], np.float32)  # dark blue


def _draw_lines(page: np.ndarray, colour: np.ndarray, width: float, lines: list[tuple]) -> None:
    """Draw anti-aliased straight lines ((x0, y0, x1, y1) each) over the page in `colour`."""
    import cv2

    h, w = page.shape[:2]
    shift = 4  # OpenCV's sub-pixel coordinates: 1/16 px
    mask = np.zeros((h, w), np.float32)
    for x0, y0, x1, y1 in lines:
        points = [int(round(v * (1 << shift))) for v in (x0, y0, x1, y1)]
        cv2.line(mask, points[:2], points[2:], 1.0, max(1, int(round(width))), cv2.LINE_AA, shift)
    alpha = np.clip(mask, 0, 1)[..., None]
    page[:] = page * (1 - alpha) + colour * alpha


def _rules(page: np.ndarray, sheet: Sheet, rng: np.random.Generator) -> None:
    h, w = page.shape[:2]
    spacing = sheet.digit_side * rng.uniform(0.55, 1.3)
    width = max(1.0, min(h, w) / 400 * rng.uniform(0.7, 2.2))
    tilt = np.tan(np.radians(rng.uniform(-3, 3)))
    start = rng.uniform(0, spacing)
    ys = np.arange(start - abs(tilt) * w, h + abs(tilt) * w, spacing)
    _draw_lines(page, _line_colour(rng), width, [(0, y, w, y + tilt * w) for y in ys])


def _grid(page: np.ndarray, sheet: Sheet, rng: np.random.Generator) -> None:
    h, w = page.shape[:2]
    pitch = sheet.digit_side * rng.uniform(0.3, 0.8)
    width = max(1.0, min(h, w) / 500 * rng.uniform(0.7, 2.0))
    tilt = np.tan(np.radians(rng.uniform(-3, 3)))
    ys = np.arange(rng.uniform(0, pitch) - abs(tilt) * w, h + abs(tilt) * w, pitch)
    xs = np.arange(rng.uniform(0, pitch) - abs(tilt) * h, w + abs(tilt) * h, pitch)
    lines = [(0, y, w, y + tilt * w) for y in ys] + [(x, 0, x - tilt * h, h) for x in xs]
    _draw_lines(page, _line_colour(rng), width, lines)


def _margin(page: np.ndarray, sheet: Sheet, rng: np.random.Generator) -> None:
    h, w = page.shape[:2]
    red = rng.random() < 0.7
    colour = np.array([0.85, 0.35, 0.4] if red else [0.4, 0.45, 0.75], np.float32) * rng.uniform(0.9, 1.05)
    side = rng.choice([-1, 1])
    gap = rng.uniform(0.02, 0.25) * w
    x = sheet.left - gap if side < 0 else sheet.left + sheet.digit_side + gap
    x = float(np.clip(x, 0.02 * w, 0.98 * w))
    tilt = np.tan(np.radians(rng.uniform(-2, 2)))
    width = max(1.0, min(h, w) / 350 * rng.uniform(0.8, 2.0))
    lines = [(x, 0, x - tilt * h, h)]
    if rng.random() < 0.3:  # a double margin line
        lines.append((x + 3 * width * side, 0, x + 3 * width * side - tilt * h, h))
    _draw_lines(page, np.clip(colour, 0, 1), width, lines)


def _frame(page: np.ndarray, sheet: Sheet, rng: np.random.Generator) -> None:
    """A box around the digit (a form's answer box, a hand-drawn frame), slightly rotated, maybe touching it."""
    h, w = page.shape[:2]
    side = sheet.digit_side
    # MNIST's digit fills the middle 20 of its 28 pixels: a gap of -0.14 side puts the frame on the ink.
    gaps = rng.uniform(-0.14, 0.2, 4) * side
    x0, x1 = sheet.left - gaps[0], sheet.left + side + gaps[1]
    y0, y1 = sheet.top - gaps[2], sheet.top + side + gaps[3]
    x0, x1 = float(np.clip(x0, 0.02 * w, 0.98 * w)), float(np.clip(x1, 0.02 * w, 0.98 * w))
    y0, y1 = float(np.clip(y0, 0.02 * h, 0.98 * h)), float(np.clip(y1, 0.02 * h, 0.98 * h))
    angle = np.radians(rng.uniform(-4, 4))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    c, s = np.cos(angle), np.sin(angle)
    turned = [(cx + (x - cx) * c - (y - cy) * s, cy + (x - cx) * s + (y - cy) * c) for x, y in corners]
    width = max(1.0, min(h, w) / 300 * rng.uniform(0.7, 3.0))
    dark = rng.random() < 0.4  # drawn with a pen as dark as the digit's, or printed grey / blue
    colour = np.array(sheet.ink, np.float32) if dark else _line_colour(rng)
    lines = [(*turned[i], *turned[(i + 1) % 4]) for i in range(4)]
    _draw_lines(page, colour, width, lines)


def _shadow(sheet: Sheet, rng: np.random.Generator) -> np.ndarray:
    """A shadow (a hand, a phone) over part of the page: a half-plane or a blob, hard or soft edged."""
    import cv2

    h, w = sheet.height, sheet.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if rng.random() < 0.5:
        angle = rng.uniform(0, 2 * np.pi)
        cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
        inside = ((xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)) > 0
    else:
        cx, cy = rng.uniform(0, 1) * w, rng.uniform(0, 1) * h
        ax, ay = rng.uniform(0.3, 0.8) * w, rng.uniform(0.3, 0.8) * h
        inside = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 < 1
    shade = inside.astype(np.float32)
    soft = rng.uniform(0, 0.04) * min(h, w)
    if soft > 0.5:
        shade = cv2.GaussianBlur(shade, (0, 0), soft)
    depth = rng.uniform(0.3, 0.55)
    return 1.0 - depth * shade


def _gradient(sheet: Sheet, rng: np.random.Generator) -> np.ndarray:
    """A phone's lighting: a linear fall-off in a random direction plus vignetting."""
    h, w = sheet.height, sheet.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (xx / w - 0.5) * np.cos(angle) + (yy / h - 0.5) * np.sin(angle)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    light = 1.0 - rng.uniform(0.25, 0.5) * ramp
    radius = ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) / 0.5
    return light * (1.0 - rng.uniform(0.0, 0.25) * radius)
