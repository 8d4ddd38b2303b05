"""Turn a picture of a handwritten digit into a 28×28 MNIST-style array (NumPy + Pillow only).

Reading the file safely is `image_decode`'s job; this module does the pixel arithmetic.

The steps follow how MNIST itself was made: the digit's bounding box is fitted into 20×20
keeping its aspect ratio (anti-aliased), then placed in a 28×28 field so that its centre of
mass sits at (14, 14); white ink on black, float32 in [0, 1] like the training data (x / 255).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from mnist_cnn.atomic import atomic_path
from mnist_cnn.inference import page, strokes
from mnist_cnn.inference.image_decode import (  # noqa: F401 (ImageError, MAX_PIXELS, IMAGE_SUFFIXES are this module's API too)
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    MIN_SIDE,
    ImageError,
    check_shape,
    decode_gray,
    open_checked,
    work_size,
)

FIELD = 28  # output side, as in MNIST
BOX = 20  # the digit's longer side inside the field, as in MNIST
CENTRE = 14.0  # where the centre of mass lands (row/column index, MNIST's own convention)
INK_THRESHOLD = 0.2  # fraction of the ink maximum below which a pixel is paper tint or noise
MIN_CONTRAST = 0.1  # ink must differ from the paper by this much (of full scale)
NOISE_SIGMA = 0.02  # paper noise (RMS ≈ 5/255) above which large images get a median filter
DENOISE_MIN_SIDE = 64  # never smooth small inputs: a 28×28 digit has 2 px strokes
TRIM = 0.002  # ink mass ignored at each end of the bounding box, so stray specks do not widen it


@dataclass(frozen=True)
class Preprocessed:
    """A 28×28 float32 digit, white ink (1.0) on black (0.0), plus remarks for the user."""

    image: np.ndarray
    notes: tuple[str, ...] = ()


def preprocess_file(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Preprocessed:
    """Read an image file and preprocess it; every failure is raised as ImageError."""
    with open_checked(Path(path), max_pixels) as img:
        return preprocess_image(img)


def preprocess_image(img: Image.Image) -> Preprocessed:
    """Preprocess an already-opened Pillow image (first frame, EXIF-upright, alpha over white)."""
    gray, notes = decode_gray(img)
    result = preprocess_array(gray)
    return Preprocessed(result.image, tuple(notes) + result.notes)


def preprocess_array(gray: np.ndarray, normalise_strokes: bool = True, clean_page: bool = True) -> Preprocessed:
    """Preprocess a 2-D gray array in [0, 1] (1 = white); the ink's polarity is detected.

    normalise_strokes: redraw the strokes at MNIST's width (inference/strokes.py); off only to
    measure what that step does (scripts/preprocess_check.py).
    clean_page: separate the writing from the page first (inference/page.py: light, printed lines,
    stray marks); off only to measure what that step does (scripts/bench_paper.py).
    """
    g, notes = _work_pages(gray, clean_page, (False,))[0]
    return _finish(g, notes, normalise_strokes)


def _finish(g: np.ndarray, notes: list[str], normalise_strokes: bool) -> Preprocessed:
    """From the cleaned page at work size to the 28×28: polarity, paper level, box, strokes, centre."""
    invert = _light_background(g)
    if g.shape == (FIELD, FIELD) and not invert and _already_mnist(g):
        # MNIST-style input (bright ink on black, 20 px box, centred by mass): resampling it again
        # would only blur it, so it is used as-is; an MNIST PNG must classify like the raw array.
        return Preprocessed(g.copy(), ())
    if invert:
        notes.append("light background detected: inverted")
    image, more = digit_field(_isolate_ink(1.0 - g if invert else g), normalise_strokes)
    return Preprocessed(image, tuple(notes + more))


def writing(gray: np.ndarray) -> tuple[np.ndarray, list[str], Callable[[], Preprocessed]]:
    """All the ink of a picture as bright-on-black floats in [0, 1] at work size, remarks, and the one-digit reading.

    The same page cleaning, smoothing, polarity and paper levels as `preprocess_array`, except that
    the page cleaning keeps every piece of writing (a number's digits), not just the main one. The
    ink is at most WORK_SIDE (and, when the page was cleaned, page.ANALYSIS_SIDE) wide. The third
    item computes exactly `preprocess_array(gray)` from the same page analysis (no second cleaning).
    """
    (g, notes), (main, main_notes) = _work_pages(gray, True, (True, False))
    invert = _light_background(g)
    if invert:
        notes.append("light background detected: inverted")
    return _isolate_ink(1.0 - g if invert else g), notes, lambda: _finish(main.copy(), list(main_notes), True)


def digit_field(ink: np.ndarray, normalise_strokes: bool = True) -> tuple[np.ndarray, list[str]]:
    """One digit's isolated ink (bright on black) as MNIST's 28×28.

    Cropped, redrawn with MNIST's stroke width (strokes.redraw), fitted into 20×20, centred by mass.
    """
    notes: list[str] = []
    crop = _crop(ink)
    if normalise_strokes:
        redrawn, note = strokes.redraw(crop)
        crop = _crop(redrawn)  # the same specks rule on the redrawn ink
        notes += [note] if note else []
    return _centre(_fit_box(crop)), notes


def _work_pages(gray: np.ndarray, clean_page: bool, keep: tuple[bool, ...]) -> list[tuple[np.ndarray, list[str]]]:
    """Checked, clipped, reduced to work size, the page cleaned (per keep_all in `keep`) and a noisy one smoothed."""
    g = np.asarray(gray, dtype=np.float32)
    if g.ndim != 2:
        raise ImageError(f"expected a 2-D grayscale image, got an array of shape {g.shape}")
    check_shape(g.shape[1], g.shape[0])
    g = np.clip(np.nan_to_num(g, nan=0.0), 0.0, 1.0)
    g = _resize(g, work_size(g.shape[1], g.shape[0]), Image.Resampling.BOX)
    cleaned = page.clean_variants(g, keep) if clean_page else [None] * len(keep)
    out: list[tuple[np.ndarray, list[str]]] = []
    for variant in cleaned:
        if out and variant is None and cleaned[0] is None:
            out.append((out[0][0], list(out[0][1])))  # nothing cleaned: the same page
            continue
        work, notes = (variant.gray, list(variant.notes)) if variant is not None else (g, [])
        if min(work.shape) >= DENOISE_MIN_SIDE and _paper_noise(work) > NOISE_SIGMA:
            work = _median3(work)
            notes.append("noisy image: smoothed with a median filter")
        out.append((work, notes))
    return out


def save_preprocessed(image: np.ndarray, path: str | os.PathLike) -> None:
    """Write a preprocessed float image as an 8-bit grayscale PNG (round(x * 255))."""
    pixels = np.round(np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0) * 255)
    if pixels.ndim != 2:
        raise ImageError(f"expected a 2-D image, got an array of shape {pixels.shape}")
    with atomic_path(Path(path)) as tmp:
        Image.fromarray(pixels.astype(np.uint8)).save(tmp, format="PNG")


def _resize(a: np.ndarray, size: tuple[int, int], resample: Image.Resampling) -> np.ndarray:
    """Resize a float array with Pillow's "F" mode (size is width, height)."""
    if size == (a.shape[1], a.shape[0]):
        return a
    return np.asarray(Image.fromarray(a.astype(np.float32)).resize(size, resample))


# Exchanges of the classic 19-step median-of-9 sorting network (Paeth; Devillard's opt_med9).
_MEDIAN9_NETWORK = ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3),
                    (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2))  # fmt: skip


def _median3(a: np.ndarray) -> np.ndarray:
    """3×3 median filter (edges replicated): removes sensor speckle, keeps strokes wider than 1 px.

    Written by hand as a sorting network of element-wise min/max: Pillow's MedianFilter gives the
    same values but took ~5 ms on a 200×200 photo, two thirds of all preprocessing time.
    """
    v = strokes.neighbourhood3(a.astype(np.float32), mode="edge")
    for i, j in _MEDIAN9_NETWORK:
        v[i], v[j] = np.minimum(v[i], v[j]), np.maximum(v[i], v[j])
    return v[4]


def _paper_noise(g: np.ndarray) -> float:
    """RMS of what a 3×3 median removes, on the border frame (mostly paper) only.

    RMS catches both sensor grain and sparse dots (dithering), and clean drawings with 1 px
    strokes are left untouched. Filtering just the four strips (with a pixel of context) costs
    a fifth of filtering the whole image, which is only done when the paper is noisy.
    """
    k = max(1, min(g.shape) // 20)
    strips = (g[: k + 1], g[-k - 1 :], g[:, : k + 1], g[:, -k - 1 :])
    inner = (np.s_[:k], np.s_[1:], np.s_[:, :k], np.s_[:, 1:])
    residuals = [(strip - _median3(strip))[cut].ravel() for strip, cut in zip(strips, inner, strict=True)]
    return float(np.sqrt(np.mean(np.concatenate(residuals) ** 2)))


def _border(a: np.ndarray) -> np.ndarray:
    """Pixels of a frame 1/20 of the side wide (at least 1 px): mostly paper in any picture."""
    k = max(1, min(a.shape) // 20)
    frame = np.ones(a.shape, dtype=bool)
    frame[k:-k, k:-k] = False
    return a[frame]


def _light_background(g: np.ndarray) -> bool:
    """True if the ink is darker than the paper (it lies further below the border level)."""
    paper = float(np.median(_border(g)))
    darker, brighter = paper - float(g.min()), float(g.max()) - paper
    return darker > brighter or (darker == brighter and paper > 0.5)


def _isolate_ink(bright: np.ndarray) -> np.ndarray:
    """Subtract the paper level, scale the ink maximum to 1, zero tint and noise below threshold."""
    paper = np.median(_border(bright))
    ink = np.clip(bright - paper, 0.0, None)
    peak = float(ink.max())
    paper_noise = 1.4826 * np.median(np.abs(_border(bright) - paper))  # robust sigma (MAD)
    if peak < max(MIN_CONTRAST, 6 * paper_noise):
        raise ImageError("no digit found (the image looks blank)")
    ink /= peak
    # Below the threshold is tint or noise; above it the ink keeps its own anti-aliased levels
    # (a contrast ramp thinned strokes: MNIST drawn black-on-white then agreed less often).
    ink[ink < INK_THRESHOLD] = 0.0
    return ink


def _crop(ink: np.ndarray) -> np.ndarray:
    """Cut the ink's bounding box, ignoring TRIM of the mass at each end (stray specks)."""
    rows, cols = _span(ink.sum(axis=1)), _span(ink.sum(axis=0))
    crop = ink[rows, cols]
    if max(crop.shape) < MIN_SIDE:
        raise ImageError("no digit found (only a speck of ink)")
    return crop


def _span(mass: np.ndarray) -> slice:
    """Index range holding all but TRIM of the mass at either end."""
    cumulative = np.cumsum(mass, dtype=np.float64)
    total = cumulative[-1]
    start = int(np.searchsorted(cumulative, TRIM * total, side="right"))
    stop = int(np.searchsorted(cumulative, (1.0 - TRIM) * total, side="left")) + 1
    return slice(start, max(stop, start + 1))


def _fit_box(crop: np.ndarray) -> np.ndarray:
    """Fit into BOX×BOX keeping the aspect ratio; area-average when shrinking, no ringing."""
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = max(1, round(width * scale)), max(1, round(height * scale))
    resample = Image.Resampling.BOX if scale < 1 else Image.Resampling.BILINEAR
    patch = np.clip(_resize(crop, size, resample), 0.0, 1.0)
    # Thin pen strokes average to grey when shrunk; MNIST strokes peak at 1. Scaled by the 90th
    # percentile of the ink, not its maximum: one dark pixel (a blot, a crossing) left a faint
    # pen's whole digit grey, and grey 8s and 9s lost their loops (issue 22's misreads).
    if patch.max() <= 0:
        return patch
    ink = patch[patch > 0.05 * patch.max()]
    peak = float(np.percentile(ink, 90))
    return np.clip(patch / peak, 0.0, 1.0)


def _centre(patch: np.ndarray) -> np.ndarray:
    """Place the patch in the field with its centre of mass at CENTRE, clipped to stay inside."""
    height, width = patch.shape
    cy, cx = _mass_centre(patch)
    top = int(np.clip(np.floor(CENTRE - cy + 0.5), 0, FIELD - height))
    left = int(np.clip(np.floor(CENTRE - cx + 0.5), 0, FIELD - width))
    field = np.zeros((FIELD, FIELD), dtype=np.float32)
    field[top : top + height, left : left + width] = patch
    return field


def _already_mnist(g: np.ndarray) -> bool:
    """True for a digit already in a ~20 px box, centred by mass (as every MNIST image is)."""
    rows, cols = np.nonzero(g > 0.1)
    if rows.size == 0:
        return False
    side = max(rows.max() - rows.min(), cols.max() - cols.min()) + 1
    offset = np.abs(np.subtract(_mass_centre(g), CENTRE))
    return abs(side - BOX) <= 3 and offset.max() <= 1.0


def _mass_centre(a: np.ndarray) -> tuple[float, float]:
    """(row, column) centre of mass in index coordinates."""
    mass = float(a.sum())
    rows, cols = np.arange(a.shape[0]), np.arange(a.shape[1])
    return float(rows @ a.sum(axis=1)) / mass, float(cols @ a.sum(axis=0)) / mass
