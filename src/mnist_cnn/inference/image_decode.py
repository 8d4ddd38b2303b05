"""Read picture files safely into a grayscale array (Pillow only): the file half of `imaging`.

Everything here is about what a file can contain: formats, modes, bit depths, transparency,
EXIF rotation, animation, and files that are empty, truncated, enormous or not images at all.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS: int = 40_000_000
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm"}
)
WORK_SIDE = 2048  # photos are reduced to this first: ample for a 20 px result, bounded work
MIN_SIDE = 4  # an image narrower than this cannot hold a digit
MAX_ASPECT = 50  # nor can a sliver longer than 1:50
EXIF_ORIENTATION = 0x0112
_16_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


class ImageError(ValueError):
    """One-line, user-facing reason an image cannot be used (without the file name)."""


def open_checked(path: Path, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open an image file after vetting the path and, from its header, its size (nothing decoded)."""
    check_path(path)
    return _open(path, max_pixels)


def open_bytes(data: bytes, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open an image held in memory (an HTTP upload) with the same header checks as a file."""
    if not data:
        raise ImageError("file is empty (0 bytes)")
    return _open(io.BytesIO(data), max_pixels)


def decode_gray(img: Image.Image) -> tuple[np.ndarray, list[str]]:
    """Decode an opened image (first frame, EXIF-upright, alpha over white) to gray in [0, 1] (1 = white)."""
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
    return _to_gray(img, notes), notes


def _open(path: Path | io.BytesIO, max_pixels: int) -> Image.Image:
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
        check_shape(*img.size, max_pixels=max_pixels)  # from the header: nothing decoded yet
    except ImageError:
        img.close()
        raise
    if img.format == "JPEG":
        img.draft(None, (WORK_SIDE, WORK_SIDE))  # let the decoder itself downscale big photos
    return img


def check_path(path: Path) -> None:
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


def check_shape(width: int, height: int, max_pixels: int | None = None) -> None:
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
    img = img.resize(work_size(*img.size), Image.Resampling.BOX)
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


def work_size(width: int, height: int) -> tuple[int, int]:
    """Size no larger than WORK_SIDE on the longer side, same aspect ratio."""
    scale = min(1.0, WORK_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))
