"""Check predict's preprocessing on photo-like pictures of distorted test digits.

Each of the first N MNIST test digits is distorted (the robustness report's thickness, blur and
low-resolution transforms), drawn as a photo would show it (8x larger, dark ink on light paper),
and read through `predict`'s preprocessing with and without stroke-width normalisation; the model
then classifies the three versions (the raw distorted array, preprocessed, preprocessed without
stroke normalisation).

    python scripts/preprocess_check.py MODEL [--images 2000] [--json FILE]
    python scripts/preprocess_check.py --band      # MNIST's stroke-width percentiles (strokes.BAND)

MODEL is a run directory or a model file, as for `mnist-cnn predict --model`.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from PIL import Image

from mnist_cnn import robustness
from mnist_cnn.data.acquire import load_mnist
from mnist_cnn.inference import strokes
from mnist_cnn.inference.imaging import ImageError, Preprocessed, preprocess_array
from mnist_cnn.inference.runtimes import load_runtime

PHOTO_SCALE = 8
CASES = [("none", None), ("thickness", -1), ("thickness", 1), ("thickness", 2), ("blur", 1.0), ("blur", 1.5),
         ("low resolution", 14), ("low resolution", 10), ("low resolution", 7)]  # fmt: skip


def as_photo(digit: np.ndarray) -> np.ndarray:
    """A 28×28 digit (ink 1 on 0) as a larger picture of dark ink on light paper (1 = white)."""
    side = 28 * PHOTO_SCALE
    big = np.asarray(Image.fromarray(digit.astype(np.float32)).resize((side, side), Image.Resampling.BILINEAR))
    return 0.92 - 0.85 * np.clip(big, 0.0, 1.0)  # paper not quite white, ink not quite black


def _read(photo: np.ndarray, normalise_strokes: bool = True) -> Preprocessed:
    """The photo through predict's preprocessing; one it finds no digit in counts as a blank field (wrong)."""
    try:
        return preprocess_array(photo, normalise_strokes=normalise_strokes)
    except ImageError:
        return Preprocessed(np.zeros((28, 28), np.float32), ("no digit found",))


def band() -> None:
    """Print stroke-width percentiles over MNIST's training images."""
    x = load_mnist().x_train.astype(np.float32) / 255.0
    widths = np.array([strokes.stroke_width(im) for im in x])
    for q in (5, 10, 25, 50, 75, 90, 95):
        print(f"p{q}: {np.percentile(widths, q):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?")
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--band", action="store_true", help="print MNIST's stroke-width percentiles and stop")
    parser.add_argument("--json", type=argparse.FileType("w"))
    args = parser.parse_args()
    if args.band:
        return band()
    if not args.model:
        parser.error("MODEL is required (a run directory or a model file)")
    runtime = load_runtime(args.model)
    mnist = load_mnist()
    x, y = mnist.x_test[: args.images].astype(np.float32) / 255.0, mnist.y_test[: args.images]
    transforms = {t.name: t for t in robustness.TRANSFORMS}
    rows = []
    print("| transform | strength | as is | preprocessed | without stroke normalisation | normalised images |")
    print("|---|---|--:|--:|--:|--:|")
    for name, strength in CASES:
        started = time.perf_counter()
        distorted = x if strength is None else np.clip(transforms[name].apply(x, strength), 0.0, 1.0)
        photos = [as_photo(d) for d in distorted]
        on = [_read(p) for p in photos]
        off = np.stack([_read(p, normalise_strokes=False).image for p in photos])
        changed = sum(any("strokes" in n for n in r.notes) for r in on)
        row = {
            "transform": name,
            "strength": strength,
            "as_is": robustness.accuracy(runtime, distorted, y),
            "preprocessed": robustness.accuracy(runtime, np.stack([r.image for r in on]), y),
            "without_stroke_normalisation": robustness.accuracy(runtime, off, y),
            "normalised_images": changed,
            "seconds": round(time.perf_counter() - started, 1),
        }
        rows.append(row)
        print(f"| {name} | {'' if strength is None else strength} | {row['as_is']:.2%} | {row['preprocessed']:.2%} "
              f"| {row['without_stroke_normalisation']:.2%} | {changed} |", flush=True)  # fmt: skip
    if args.json:
        json.dump({"model": args.model, "images": args.images, "rows": rows}, args.json, indent=2)


if __name__ == "__main__":
    main()
