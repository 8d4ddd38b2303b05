"""Turn a picture of a handwritten digit into a 28×28 MNIST-style array (NumPy + Pillow only).

The steps follow how MNIST itself was made: the digit's bounding box is fitted into 20×20
keeping its aspect ratio (anti-aliased), then placed in a 28×28 field so that its centre of
mass sits at (14, 14); white ink on black, float32 in [0, 1] like the training data (x / 255).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from mnist_cnn.atomic import atomic_path

MAX_PIXELS: int = 40_000_000
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"}
)

FIELD = 28  # output side, as in MNIST
BOX = 20  # the digit's longer side inside the field, as in MNIST
CENTRE = 14.0  # where the centre of mass lands (row/column index, MNIST's own convention)
WORK_SIDE = 2048  # photos are reduced to this first: ample for a 20 px result, bounded work
MIN_SIDE = 4  # an image narrower than this cannot hold a digit
MAX_ASPECT = 50  # nor can a sliver longer than 1:50
INK_THRESHOLD = 0.2  # fraction of the ink maximum below which a pixel is paper tint or noise
MIN_CONTRAST = 0.1  # ink must differ from the paper by this much (of full scale)
NOISE_SIGMA = 0.02  # paper noise (RMS ≈ 5/255) above which large images get a median filter
DENOISE_MIN_SIDE = 64  # never smooth small inputs: a 28×28 digit has 2 px strokes
TRIM = 0.002  # ink mass ignored at each end of the bounding box, so stray specks do not widen it
EXIF_ORIENTATION = 0x0112
_16_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


class ImageError(ValueError):
    """One-line, user-facing reason an image cannot be used (without the file name)."""


@dataclass(frozen=True)
class Preprocessed:
    """A 28×28 float32 digit, white ink (1.0) on black (0.0), plus remarks for the user."""

    image: np.ndarray
    notes: tuple[str, ...] = ()


def preprocess_file(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> Preprocessed:
    """Read an image file and preprocess it; every failure is raised as ImageError."""
    path = Path(path)
    _check_path(path)
    with _open(path, max_pixels) as img:
        return preprocess_image(img)


def _open(path: Path, max_pixels: int) -> Image.Image:
    """Open an image and vet its header; nothing is decoded yet, so memory stays bounded."""
    try:
        # Pillow only warns between its own limit and twice that; a bomb is a bomb either way.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
    except UnidentifiedImageError:
        raise ImageError("not an image file (unrecognised format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(f"image is too large (more than {max_pixels:,} pixels)") from None
    except PermissionError:
        raise ImageError("cannot read the file (permission denied)") from None
    except Exception as exc:  # any other parser failure (struct.error, SyntaxError, ...)
        raise ImageError(f"image header is corrupt ({_reason(exc)})") from None
    try:
        _check_shape(*img.size, max_pixels=max_pixels)  # from the header: nothing decoded yet
    except ImageError:
        img.close()
        raise
    if img.format == "JPEG":
        img.draft(None, (WORK_SIDE, WORK_SIDE))  # let the decoder itself downscale big photos
    return img


def preprocess_image(img: Image.Image) -> Preprocessed:
    """Preprocess an already-opened Pillow image (first frame, EXIF-upright, alpha over white)."""
    notes: list[str] = []
    frames = getattr(img, "n_frames", 1)
    try:
        if frames > 1 and img.tell() != 0:
            img.seek(0)
        img.load()  # decode now so that a truncated file fails here, with a clear message
    except MemoryError:
        raise ImageError("not enough memory to decode the image") from None
    except Exception as exc:  # Pillow reports corrupt data with many exception types
        raise ImageError(f"image data is truncated or corrupt ({_reason(exc)})") from None
    if frames > 1:
        notes.append(f"animated image ({frames} frames): used the first frame")
    img = _upright(img, notes)
    result = preprocess_array(_to_gray(img, notes))
    return Preprocessed(result.image, tuple(notes) + result.notes)


def preprocess_array(gray: np.ndarray) -> Preprocessed:
    """Preprocess a 2-D gray array in [0, 1] (1 = white); the ink's polarity is detected."""
    g = np.asarray(gray, dtype=np.float32)
    if g.ndim != 2:
        raise ImageError(f"expected a 2-D grayscale image, got an array of shape {g.shape}")
    _check_shape(g.shape[1], g.shape[0])
    g = np.clip(np.nan_to_num(g, nan=0.0), 0.0, 1.0)
    g = _resize(g, _work_size(g.shape[1], g.shape[0]), Image.Resampling.BOX)
    notes: list[str] = []
    if min(g.shape) >= DENOISE_MIN_SIDE and _paper_noise(g) > NOISE_SIGMA:
        g = _median3(g)
        notes.append("noisy image: smoothed with a median filter")
    invert = _light_background(g)
    if g.shape == (FIELD, FIELD) and not invert and _already_mnist(g):
        # MNIST-style input (bright ink on black, 20 px box, centred by mass): resampling it again
        # would only blur it, so it is used as-is; an MNIST PNG must classify like the raw array.
        return Preprocessed(g.copy(), ())
    if invert:
        notes.append("light background detected: inverted")
    ink = _isolate_ink(1.0 - g if invert else g)
    return Preprocessed(_centre(_fit_box(_crop(ink))), tuple(notes))


def save_preprocessed(image: np.ndarray, path: str | os.PathLike) -> None:
    """Write a preprocessed float image as an 8-bit grayscale PNG (round(x * 255))."""
    pixels = np.round(np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0) * 255)
    if pixels.ndim != 2:
        raise ImageError(f"expected a 2-D image, got an array of shape {pixels.shape}")
    with atomic_path(Path(path)) as tmp:
        Image.fromarray(pixels.astype(np.uint8)).save(tmp, format="PNG")


def _check_path(path: Path) -> None:
    """Reject what is not a readable, non-empty regular file, before Pillow sees it."""
    try:
        if not path.exists():
            raise ImageError("file not found")
        if path.is_dir():
            raise ImageError("is a directory, not an image file")
        if not path.is_file():  # a FIFO or device would block or never end
            raise ImageError("not a regular file")
        if path.stat().st_size == 0:
            raise ImageError("file is empty (0 bytes)")
    except OSError as exc:
        raise ImageError(f"cannot read the file ({_reason(exc)})") from None


def _check_shape(width: int, height: int, max_pixels: int | None = None) -> None:
    """Refuse images too large to decode safely, or too small or elongated to hold a digit."""
    if max_pixels is not None and width * height > max_pixels:
        raise ImageError(f"image is {width}×{height} pixels: more than the {max_pixels:,}-pixel limit")
    if max(width, height) < MIN_SIDE:
        raise ImageError(f"image is {width}×{height} pixels: too small to hold a digit")
    if min(width, height) < MIN_SIDE or max(width, height) > MAX_ASPECT * min(width, height):
        raise ImageError(f"image is {width}×{height} pixels: too thin to hold a digit")


def _reason(exc: BaseException) -> str:
    """First line of an exception's message, short enough for a one-line error."""
    text = str(exc).strip().splitlines()
    return (text[0][:120] if text else "") or type(exc).__name__


def _upright(img: Image.Image, notes: list[str]) -> Image.Image:
    """Apply the EXIF orientation tag, as phone cameras store pixels sideways."""
    try:
        orientation = img.getexif().get(EXIF_ORIENTATION, 1)
        if orientation not in (2, 3, 4, 5, 6, 7, 8):
            return img
        upright = ImageOps.exif_transpose(img)
    except Exception:  # broken EXIF is only metadata: keep the pixels as stored
        return img
    notes.append("rotated according to the EXIF orientation tag")
    return upright


def _to_gray(img: Image.Image, notes: list[str]) -> np.ndarray:
    """Convert any Pillow mode to a float32 luminance array in [0, 1] (1 = white)."""
    if img.mode in _16_BIT_MODES:
        # convert("L") would clip 16-bit values at 255 and give a blank image: scale instead.
        return np.asarray(img).astype(np.float32) / 65535.0
    if img.mode in ("I", "F"):
        return _scale_range(np.asarray(img).astype(np.float32))
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        img = _flatten(img, notes)
    try:
        img = img.getchannel(0) if img.mode == "LAB" else img.convert("L")
    except ValueError:  # modes without a direct route to L
        try:
            img = img.convert("RGB").convert("L")
        except ValueError:
            raise ImageError(f"unsupported image mode {img.mode}") from None
    img = img.resize(_work_size(*img.size), Image.Resampling.BOX)
    return np.asarray(img).astype(np.float32) / 255.0


def _flatten(img: Image.Image, notes: list[str]) -> Image.Image:
    """Composite transparency over white paper (over black if the ink itself is white)."""
    rgba = img.convert("RGBA")
    alpha_lo, alpha_hi = rgba.getchannel("A").getextrema()
    if alpha_lo == 255:
        return rgba.convert("L")
    on_white = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("L")
    lo, hi = on_white.getextrema()
    if hi - lo > 25 or alpha_hi - alpha_lo <= 25:
        notes.append("transparent areas treated as white paper")
        return on_white
    # Over white nothing shows, yet the alpha holds a drawing: white strokes on transparency.
    notes.append("white ink on a transparent background: placed on black")
    return Image.alpha_composite(Image.new("RGBA", rgba.size, "black"), rgba).convert("L")


def _scale_range(arr: np.ndarray) -> np.ndarray:
    """Scale a 32-bit int or float image by the bit depth its values imply."""
    arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0 or hi > 65535:  # no known depth: stretch the range
        return (arr - lo) / (hi - lo) if hi > lo else np.zeros_like(arr)
    # "I" usually holds 16-bit PNG/PGM data; "F" is usually 0..1 or 0..255.
    return arr / (1.0 if hi <= 1 else 255.0 if hi <= 255 else 65535.0)


def _work_size(width: int, height: int) -> tuple[int, int]:
    """Size no larger than WORK_SIDE on the longer side, same aspect ratio."""
    scale = min(1.0, WORK_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


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
    padded = np.pad(a.astype(np.float32), 1, mode="edge")
    h, w = a.shape
    v = [padded[i : i + h, j : j + w] for i in range(3) for j in range(3)]
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
    # Thin pen strokes average to grey when shrunk; MNIST strokes peak at 1.
    return patch / patch.max() if patch.max() > 0 else patch


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
