"""Make samples/: MNIST test digits rendered as dark-on-light "photos" in assorted sizes and formats.

Run:  python scripts/make_samples.py [--out samples]
Each file is named after its true label (e.g. `seven-photo.jpg`), so anyone can check `mnist-cnn
predict samples/` by eye. The renders are deterministic: the same files every time.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from mnist_cnn.data.acquire import load_mnist

NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
# (digit, size of the canvas, file format, how it is stored)
RENDERS = [
    (0, (240, 320), "jpg", "rgb"),
    (1, (180, 180), "png", "gray16"),
    (2, (400, 300), "png", "rgba"),
    (3, (200, 240), "webp", "rgb"),
    (4, (300, 300), "gif", "palette"),
    (5, (256, 200), "bmp", "rgb"),
    (6, (200, 260), "tiff", "cmyk"),
    (7, (360, 360), "jpg", "rgb"),
    (8, (150, 150), "png", "gray"),
    (9, (220, 300), "png", "rgb"),
]


def first_of_each_class(labels: np.ndarray) -> dict[int, int]:
    """Index of the first test image of every digit."""
    return {d: int(np.flatnonzero(labels == d)[0]) for d in range(10)}


def render(digit_image: np.ndarray, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A 28×28 MNIST digit as dark ink on tinted, noisy paper, enlarged and placed off-centre."""
    width, height = size
    side = int(min(width, height) * rng.uniform(0.45, 0.7))
    ink = Image.fromarray(digit_image).resize((side, side), Image.Resampling.BICUBIC)
    ink = np.asarray(ink.filter(ImageFilter.GaussianBlur(1.0)), dtype=np.float32) / 255.0
    paper = np.array([238, 230, 212], np.float32) / 255.0  # warm paper tint
    canvas = np.ones((height, width, 3), np.float32) * paper
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    pen = np.array([30, 32, 60], np.float32) / 255.0  # blue-black ink
    region = canvas[top : top + side, left : left + side]
    alpha = ink[..., None]
    canvas[top : top + side, left : left + side] = region * (1 - alpha) + pen * alpha
    canvas += rng.normal(0, 0.02, canvas.shape).astype(np.float32)  # sensor noise
    return np.clip(canvas, 0, 1)


def save(rgb: np.ndarray, path: Path, storage: str) -> None:
    """Write `rgb` (float, H×W×3) in the requested storage mode."""
    eight = (rgb * 255).round().astype(np.uint8)
    image = Image.fromarray(eight, "RGB")
    if storage == "gray16":
        gray = (rgb.mean(axis=2) * 65535).round().astype(np.uint16)
        Image.fromarray(gray).save(path)  # uint16 becomes a 16-bit grayscale PNG
    elif storage == "gray":
        image.convert("L").save(path)
    elif storage == "rgba":
        # Transparent paper, opaque ink: the product composites this over white.
        darkness = 1 - rgb.mean(axis=2)
        alpha = np.clip((darkness - 0.15) * 3, 0, 1)
        rgba = np.dstack([np.zeros_like(eight), (alpha * 255).round().astype(np.uint8)])
        rgba[..., :3] = eight
        Image.fromarray(rgba[..., :4], "RGBA").save(path)
    elif storage == "palette":
        image.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(path)
    elif storage == "cmyk":
        image.convert("CMYK").save(path)
    else:
        image.save(path, quality=90) if path.suffix in (".jpg", ".webp") else image.save(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("samples"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    mnist = load_mnist()
    index = first_of_each_class(mnist.y_test)
    rng = np.random.default_rng(2026)
    for digit, size, fmt, storage in RENDERS:
        path = args.out / f"{NAMES[digit]}-photo.{fmt}"
        save(render(mnist.x_test[index[digit]], size, rng), path, storage)
        print(f"wrote {path} (test image #{index[digit]}, {size[0]}x{size[1]}, {storage})")


if __name__ == "__main__":
    main()
