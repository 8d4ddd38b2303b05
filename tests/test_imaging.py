"""Tests for mnist_cnn.imaging: synthetic digits through the MNIST-style preprocessing."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mnist_cnn.inference.imaging import (
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    ImageError,
    Preprocessed,
    preprocess_array,
    preprocess_file,
    preprocess_image,
    save_preprocessed,
)

PAPER = (235, 225, 200)
INK = (40, 35, 60)


def seven_mask(size=(300, 400), box=(60, 80, 200, 300), width=None) -> Image.Image:
    """A thick '7' (white on black, mode L) inside `box` = (x0, y0, x1, y1)."""
    x0, y0, x1, y1 = box
    width = width or max(2, (y1 - y0) // 9)
    img = Image.new("L", size, 0)
    draw = ImageDraw.Draw(img)
    draw.line([(x0, y0), (x1, y0), (x0 + (x1 - x0) // 3, y1)], fill=255, width=width, joint="curve")
    return img


def ring_mask(size=(300, 400), box=(60, 80, 200, 300)) -> Image.Image:
    """A '0' drawn as an ellipse outline (white on black, mode L)."""
    img = Image.new("L", size, 0)
    ImageDraw.Draw(img).ellipse(box, outline=255, width=max(2, (box[3] - box[1]) // 9))
    return img


def on_paper(mask: Image.Image, paper=PAPER, ink=INK) -> Image.Image:
    """Dark ink on tinted paper (RGB), the way a phone photo looks."""
    return Image.composite(Image.new("RGB", mask.size, ink), Image.new("RGB", mask.size, paper), mask)


def gray(mask: Image.Image) -> np.ndarray:
    """White-on-black float array in [0, 1]."""
    return np.asarray(mask, dtype=np.float32) / 255.0


def centre_of_mass(img: np.ndarray) -> tuple[float, float]:
    """(row, column) centre of mass in index coordinates, computed independently."""
    rows, cols = np.indices(img.shape)
    return float((rows * img).sum() / img.sum()), float((cols * img).sum() / img.sum())


def box_sides(img: np.ndarray, level: float = 0.0) -> tuple[int, int]:
    """Height and width of the bounding box of pixels brighter than `level`."""
    rows, cols = np.nonzero(img > level)
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two images."""
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def assert_digit(img: np.ndarray) -> None:
    """Shape, dtype, range, black background, bright ink, centred, 20 px box."""
    assert img.shape == (28, 28) and img.dtype == np.float32
    assert img.min() >= 0.0 and img.max() <= 1.0
    assert img.max() > 0.9
    assert np.all(img[:3, :3] == 0) and np.all(img[-3:, -3:] == 0)
    cy, cx = centre_of_mass(img)
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1
    assert max(box_sides(img)) in (19, 20, 21)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """The white-on-black '7' through the pipeline: what every variant should match."""
    return preprocess_array(gray(seven_mask())).image


def save(img: Image.Image, tmp_path: Path, name: str, **kwargs) -> Path:
    path = tmp_path / name
    img.save(path, **kwargs)
    return path


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def png_header(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims width×height (1-bit gray) with almost no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)
    return path


def test_public_constants() -> None:
    assert MAX_PIXELS == 40_000_000
    assert {".png", ".jpg", ".jpeg", ".tiff", ".webp", ".pgm"} <= IMAGE_SUFFIXES
    assert all(s == s.lower() and s.startswith(".") for s in IMAGE_SUFFIXES)
    assert issubclass(ImageError, ValueError)


def test_output_contract(reference: np.ndarray) -> None:
    assert_digit(reference)
    result = preprocess_array(gray(seven_mask()))
    assert isinstance(result, Preprocessed)
    assert not any("inverted" in note for note in result.notes)  # already white on black


def test_shifted_digit_is_centred_by_mass(reference: np.ndarray) -> None:
    shifted = preprocess_array(gray(seven_mask(size=(600, 500), box=(20, 20, 160, 240)))).image
    assert_digit(shifted)
    assert corr(shifted, reference) > 0.98


@pytest.mark.parametrize(
    ("size", "box"),
    [((120, 100), (50, 40, 57, 52)), ((500, 500), (20, 10, 430, 490)), ((90, 60), (5, 5, 85, 55))],
    ids=["small", "big", "fills-frame"],
)
def test_digit_is_scaled_to_a_20px_box(size, box) -> None:
    result = preprocess_array(gray(seven_mask(size=size, box=box))).image
    assert_digit(result)
    assert max(box_sides(result)) == 20


def test_wide_digit_keeps_its_aspect_ratio() -> None:
    result = preprocess_array(gray(ring_mask(size=(400, 300), box=(40, 100, 360, 200)))).image
    height, width = box_sides(result)
    assert width == 20 and 5 <= height <= 8


def test_dark_ink_on_paper_photo_is_inverted(reference: np.ndarray) -> None:
    result = preprocess_image(on_paper(seven_mask()))
    assert "light background detected: inverted" in result.notes
    assert_digit(result.image)
    assert corr(result.image, reference) > 0.97


def test_transparent_background_is_white_paper(tmp_path: Path, reference: np.ndarray) -> None:
    rgba = Image.new("RGBA", (300, 400), (0, 0, 0, 0))
    rgba.paste(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), mask=seven_mask())
    result = preprocess_file(save(rgba, tmp_path, "ink.png"))
    assert_digit(result.image)
    assert corr(result.image, reference) > 0.97


def test_white_ink_on_transparent_background(tmp_path: Path, reference: np.ndarray) -> None:
    rgba = Image.new("RGBA", (300, 400), (0, 0, 0, 0))
    rgba.paste(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), mask=seven_mask())
    result = preprocess_file(save(rgba, tmp_path, "white-ink.png"))
    assert any("white ink" in note for note in result.notes)
    assert corr(result.image, reference) > 0.97


def test_16_bit_png_is_not_blank(tmp_path: Path) -> None:
    mask = gray(seven_mask())
    deep = (3000 + mask * 60000).astype(np.uint16)  # values above 255: convert("L") would clip
    path16 = save(Image.fromarray(deep), tmp_path, "deep.png")
    assert Image.open(path16).mode.startswith("I")
    path8 = save(Image.fromarray(np.round(deep / 257).astype(np.uint8)), tmp_path, "flat.png")
    result16, result8 = preprocess_file(path16).image, preprocess_file(path8).image
    assert_digit(result16)
    assert np.abs(result16 - result8).max() < 0.02


@pytest.mark.parametrize(
    ("mode", "suffix"),
    [
        ("P", ".png"),
        ("P", ".gif"),
        ("CMYK", ".jpg"),
        ("CMYK", ".tiff"),
        ("LA", ".png"),
        ("L", ".bmp"),
        ("L", ".pgm"),
        ("RGB", ".webp"),
        ("1", ".png"),
        ("1", ".pbm"),
        ("RGB", ".ppm"),
    ],
)
def test_modes_and_formats(tmp_path: Path, reference: np.ndarray, mode: str, suffix: str) -> None:
    # Bilevel images are scans of white paper; a tinted page would be dithered (tested apart).
    paper = (255, 255, 255) if mode == "1" else PAPER
    path = save(on_paper(seven_mask(), paper=paper).convert(mode), tmp_path, "digit" + suffix)
    result = preprocess_file(path)
    assert_digit(result.image)
    assert corr(result.image, reference) > 0.95


def test_float_and_32_bit_images(reference: np.ndarray) -> None:
    mask = gray(seven_mask())
    as_float = preprocess_image(Image.fromarray(mask * 255.0, mode="F")).image
    as_int = preprocess_image(Image.fromarray((mask * 65535).astype(np.int32))).image
    for result in (as_float, as_int):
        assert corr(result, reference) > 0.99


@pytest.mark.parametrize(("tag", "stored_turn"), [(6, 90), (8, -90)])
def test_exif_orientation_is_honoured(tmp_path: Path, tag: int, stored_turn: int) -> None:
    upright = on_paper(seven_mask())
    expected = preprocess_file(save(upright, tmp_path, "upright.jpg", quality=95)).image
    sideways = upright.rotate(stored_turn, expand=True)  # pixels as a phone stores them
    exif = Image.Exif()
    exif[0x0112] = tag
    with_tag = preprocess_file(save(sideways, tmp_path, "tagged.jpg", quality=95, exif=exif))
    without = preprocess_file(save(sideways, tmp_path, "plain.jpg", quality=95)).image
    assert any("EXIF" in note for note in with_tag.notes)
    assert corr(with_tag.image, expected) > 0.98
    assert corr(without, expected) < 0.7  # the tag is what made the difference


def test_sensor_noise_and_grey_tint(reference: np.ndarray) -> None:
    rng = np.random.default_rng(0)
    photo = np.asarray(on_paper(seven_mask(), paper=(180, 175, 165)).convert("L"), np.float64)
    photo += rng.normal(0, 10, photo.shape)  # ≈ 0.04 of full scale
    result = preprocess_array(np.clip(photo, 0, 255) / 255.0)
    assert_digit(result.image)
    assert corr(result.image, reference) > 0.95
    for corner in (np.s_[:4, :4], np.s_[:4, -4:], np.s_[-4:, :4], np.s_[-4:, -4:]):
        assert result.image[corner].max() == 0


def test_dithered_bilevel_scan(tmp_path: Path, reference: np.ndarray) -> None:
    path = save(on_paper(seven_mask()).convert("1"), tmp_path, "dithered.png")  # ~10% dots
    result = preprocess_file(path)
    assert_digit(result.image)
    # The same 7 (its dots do not thin or break the strokes); its centre of mass may round to the next pixel.
    best = max(corr(np.roll(result.image, (dy, dx), (0, 1)), reference) for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    assert best > 0.95


def test_noise_specks_do_not_widen_the_box(reference: np.ndarray) -> None:
    noisy = gray(seven_mask())
    noisy[5, 5] = noisy[390, 290] = noisy[200, 3] = 1.0  # three isolated specks at the edges
    result = preprocess_array(noisy).image
    assert max(box_sides(result)) == 20
    assert corr(result, reference) > 0.98


def mnist_like() -> np.ndarray:
    """A '7' anti-aliased into a 20 px box and centred by mass in 28×28, as MNIST digits are."""
    patch = gray(seven_mask(size=(80, 80), box=(6, 5, 74, 75), width=10).reduce(4))
    field = np.zeros((28, 28), np.float32)
    field[4:24, 4:24] = patch
    cy, cx = centre_of_mass(field)
    return np.roll(field, (round(14 - cy), round(14 - cx)), axis=(0, 1))


def test_mnist_like_input_passes_through_unchanged(tmp_path: Path) -> None:
    digit = mnist_like()
    assert max(box_sides(digit)) == 20
    assert np.abs(preprocess_array(digit).image - digit).mean() < 0.005
    path = tmp_path / "mnist.png"
    Image.fromarray(np.round(digit * 255).astype(np.uint8)).save(path)
    from_file = preprocess_file(path)
    assert np.abs(from_file.image - digit).max() <= 0.5 / 255 + 1e-6
    assert from_file.notes == ()


def test_small_28px_digit_is_still_normalised() -> None:
    small = gray(seven_mask(size=(28, 28), box=(2, 2, 12, 14), width=2))
    result = preprocess_array(small).image
    assert_digit(result)


def test_black_on_white_28px_digit_is_inverted() -> None:
    digit = mnist_like()
    result = preprocess_array(1.0 - digit)
    assert "light background detected: inverted" in result.notes
    assert_digit(result.image)
    assert corr(result.image, digit) > 0.95


def test_animated_gif_uses_first_frame(tmp_path: Path) -> None:
    first, second = on_paper(seven_mask()), on_paper(ring_mask())
    path = tmp_path / "anim.gif"
    first.save(path, save_all=True, append_images=[second], duration=100, loop=0)
    result = preprocess_file(path)
    assert any("first frame" in note for note in result.notes)
    expected = preprocess_image(first).image
    assert corr(result.image, expected) > 0.97


def test_save_preprocessed_roundtrip(tmp_path: Path, reference: np.ndarray) -> None:
    path = tmp_path / "out" / "digit.png"
    save_preprocessed(reference, path)
    with Image.open(path) as img:
        assert img.mode == "L" and img.size == (28, 28)
        pixels = np.asarray(img)
    assert np.array_equal(pixels, np.round(reference * 255).astype(np.uint8))
    assert np.abs(preprocess_file(path).image - reference).max() <= 0.5 / 255 + 1e-6


def test_preprocess_array_rejects_colour_arrays() -> None:
    with pytest.raises(ImageError, match="2-D"):
        preprocess_array(np.zeros((28, 28, 3)))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.png", "file not found"),
        (lambda d: d, "directory"),
        (lambda d: write(d / "empty.png", b""), "empty"),
        (lambda d: write(d / "notes.png", b"hello, not a picture\n"), "not an image file"),
        (lambda d: png_header(d / "bomb.png", 20_000, 20_000), "too large"),
        (lambda d: png_header(d / "big.png", 8_000, 6_000), "8000×6000 pixels: more than"),
        (lambda d: save(Image.new("L", (1, 20_000), 255), d, "sliver.png"), "1×20000 pixels"),
        (lambda d: save(Image.new("L", (3, 3), 255), d, "dot.png"), "too small"),
        (lambda d: save(Image.new("RGB", (300, 400), PAPER), d, "blank.jpg"), "no digit found"),
    ],
    ids=["missing", "directory", "empty", "text", "bomb", "over-limit", "sliver", "tiny", "blank"],
)
def test_bad_inputs_raise_image_error(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(ImageError, match=message) as caught:
        preprocess_file(make(tmp_path))
    assert "\n" not in str(caught.value)


def test_sliver_message_names_its_size(tmp_path: Path) -> None:
    path = save(Image.new("L", (1, 20_000), 255), tmp_path, "sliver.png")
    with pytest.raises(ImageError) as caught:
        preprocess_file(path)
    assert str(caught.value) == "image is 1×20000 pixels: too thin to hold a digit"
    with pytest.raises(ImageError, match="too thin"):
        preprocess_array(np.ones((20_000, 1)))


@pytest.mark.parametrize("damage", ["cut", "scramble"])
def test_truncated_or_corrupt_png(tmp_path: Path, damage: str) -> None:
    rng = np.random.default_rng(1)
    data = save(Image.fromarray(rng.integers(0, 255, (300, 300), np.uint8)), tmp_path, "a.png")
    data = data.read_bytes()
    half = len(data) // 2
    bad = data[:half] if damage == "cut" else data[:half] + bytes(100) + data[half + 100 :]
    with pytest.raises(ImageError, match="truncated or corrupt"):
        preprocess_file(write(tmp_path / "bad.png", bad))


def test_max_pixels_parameter(tmp_path: Path) -> None:
    path = save(on_paper(seven_mask()), tmp_path, "digit.png")
    with pytest.raises(ImageError, match="300×400 pixels: more than the 100,000-pixel limit"):
        preprocess_file(path, max_pixels=100_000)
    assert_digit(preprocess_file(path, max_pixels=120_000).image)


def test_noisy_blank_page_is_not_a_digit() -> None:
    rng = np.random.default_rng(2)
    page = np.clip(0.9 + rng.normal(0, 0.03, (400, 300)), 0, 1)
    with pytest.raises(ImageError, match="no digit found"):
        preprocess_array(page)


def test_a_single_speck_is_not_a_digit() -> None:
    page = np.ones((100, 100))
    page[40:42, 50:52] = 0.0
    with pytest.raises(ImageError, match="no digit found"):
        preprocess_array(page)
