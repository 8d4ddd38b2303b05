"""Read handwriting on paper: accuracy per paper kind against the same digits on plain paper, and speed.

Each digit (MNIST test images from --start, and digits typeset in the machine's fonts) is
photographed by `mnist_cnn.paper_photos` on plain paper and on every paper kind (ruled, squared,
a margin line, a shadow, a lighting gradient) with random size, position, ink, line spacing and
colour, resolution, noise and JPEG quality drawn from --seed. Every photo is read through
`predict`'s preprocessing with page cleaning (today) and without it (before), and each model
classifies both. Figures for docs/robustness.md:

    python scripts/bench_paper.py MODEL [MODEL ...] [--images 400] [--fonts 200] [--seed 7] \
        [--cache F.npz] [--json FILE]
    python scripts/bench_paper.py --timing [--images 200]     # median preprocessing time per image

MODEL is a run directory or a model file, as for `mnist-cnn predict --model` (ONNX needs no TensorFlow).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from mnist_cnn import paper_photos
from mnist_cnn.inference.image_decode import decode_gray
from mnist_cnn.inference.imaging import ImageError, preprocess_array

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def read(photo, clean: bool) -> np.ndarray | None:
    """The 28×28 a photo becomes (None when preprocessing finds no digit: counted wrong)."""
    gray, _ = decode_gray(photo)
    try:
        return preprocess_array(gray, clean_page=clean).image
    except ImageError:
        return None


def digits(images: int, fonts: int, start: int, seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The writing to photograph: (hand, images (N, 28, 28) ink on black, labels)."""
    from mnist_cnn.data.acquire import load_mnist

    mnist = load_mnist()
    chosen = slice(start, start + images)
    out = [("mnist", mnist.x_test[chosen].astype(np.float32) / 255.0, mnist.y_test[chosen])]
    if fonts:
        x, y = paper_photos.font_digits(fonts, seed)
        if len(x):
            out.append(("fonts", x, y))
    return out


def read_all(
    images: int, fonts: int, start: int, seed: int, cache: Path | None, uncleaned: bool = True, kinds: tuple = ()
) -> dict:
    """Every photo's 28×28 with and without page cleaning, per hand and kind (cached in an .npz)."""
    if cache and cache.exists():
        with np.load(cache) as stored:
            return {key: stored[key] for key in stored.files}
    arrays = {}
    for hand, x, y in digits(images, fonts, start, seed):
        arrays[f"{hand}/labels"] = y
        for kind in kinds or paper_photos.KINDS:
            started = time.perf_counter()
            now, before = [], []
            for i, digit in enumerate(x):
                _, photo = paper_photos.pair(digit, kind, seed * 1_000_003 + i)
                now.append(read(photo, True))
                if uncleaned:
                    before.append(read(photo, False))
            for name, batch in (("now", now), ("before", before)) if uncleaned else (("now", now),):
                arrays[f"{hand}/{kind}/{name}/found"] = np.array([im is not None for im in batch])
                blank = np.zeros((28, 28), np.float32)
                arrays[f"{hand}/{kind}/{name}"] = np.stack([blank if im is None else im for im in batch])
            print(f"{hand} {kind}: {len(x)} photos read in {time.perf_counter() - started:.0f} s", flush=True)
    if cache:
        np.savez_compressed(cache, **arrays)
    return arrays


def accuracy(runtime, images: np.ndarray, found: np.ndarray, labels: np.ndarray) -> float:
    """Share read right; a photo with no digit found counts as wrong."""
    from mnist_cnn.inference.predict import classify

    if not found.any():
        return 0.0
    probs = classify(runtime, images[found][..., None].astype(np.float32))
    return float(np.sum(probs.argmax(axis=1) == labels[found]) / len(labels))


def measure(models: list[str], arrays: dict) -> dict:
    """Per hand, kind and model: accuracy with and without page cleaning, and the loss against plain paper."""
    from mnist_cnn.inference.runtimes import load_runtime

    runtimes = {m: load_runtime(m) for m in models}
    report: dict = {"hands": {}}
    for hand in sorted({key.split("/")[0] for key in arrays}):
        labels = arrays[f"{hand}/labels"]
        rows = {}
        for kind in (k for k in paper_photos.KINDS if f"{hand}/{k}/now" in arrays):
            now = arrays[f"{hand}/{kind}/now"], arrays[f"{hand}/{kind}/now/found"]
            rows[kind] = {"images": int(len(labels)), "no_digit_found": int((~now[1]).sum()), "models": {}}
            for m, runtime in runtimes.items():
                rows[kind]["models"][m] = {"accuracy": accuracy(runtime, *now, labels)}
            if f"{hand}/{kind}/before" in arrays:
                before = arrays[f"{hand}/{kind}/before"], arrays[f"{hand}/{kind}/before/found"]
                rows[kind]["no_digit_found_before"] = int((~before[1]).sum())
                for m, runtime in runtimes.items():
                    rows[kind]["models"][m]["before"] = accuracy(runtime, *before, labels)
        for row in rows.values():
            for m, scores in row["models"].items():
                scores["loss_against_plain"] = rows["plain"]["models"][m]["accuracy"] - scores["accuracy"]
        report["hands"][hand] = rows
        for kind, row in rows.items():
            print(hand, kind, json.dumps(row["models"]), flush=True)
    return report


def timing(images: int, seed: int) -> dict:
    """Median milliseconds per image through preprocess_array: without page cleaning ("before"), with it
    ("now"), and with it but without its cheap first look, so the full analysis runs on every page ("full")."""
    from PIL import Image

    from mnist_cnn.data.acquire import load_mnist
    from mnist_cnn.inference import page

    x = load_mnist().x_test[:images].astype(np.float32) / 255.0
    sets = {kind: [decode_gray(paper_photos.pair(d, kind, seed * 1_000_003 + i)[1])[0] for i, d in enumerate(x)]
            for kind in ("plain", "ruled", "squared", "shadow", "framed")}  # fmt: skip
    sets["samples/"] = [decode_gray(Image.open(p))[0] for p in sorted(SAMPLES.iterdir())]
    first_look = page.needs_cleaning
    variants = (("before", False, first_look), ("now", True, first_look), ("full", True, lambda gray: True))
    out = {}
    for name, grays in sets.items():
        times: dict[str, list[float]] = {label: [] for label, _, _ in variants}
        # Interleaved image by image: the shared machine's load drifts, and so affects all three alike.
        for g in grays * (1 if len(grays) > 20 else 10):
            for label, clean, look in variants:
                page.needs_cleaning = look  # "full": as if every page needed cleaning
                started = time.perf_counter()
                try:
                    preprocess_array(g, clean_page=clean)
                except ImageError:
                    pass
                times[label].append(time.perf_counter() - started)
        page.needs_cleaning = first_look
        row = {label: round(statistics.median(t) * 1000, 2) for label, t in times.items()}
        out[name] = row
        print(f"{name}: median ms before {row['before']}, now {row['now']}, full analysis {row['full']}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*")
    parser.add_argument("--images", type=int, default=400, help="MNIST test digits per paper kind")
    parser.add_argument("--fonts", type=int, default=200, help="typeset digits per paper kind (0: none)")
    parser.add_argument("--start", type=int, default=5000, help="first MNIST test index (tuning used 0-999)")
    parser.add_argument("--seed", type=int, default=7, help="draws the sheets (tuning used 1)")
    parser.add_argument("--timing", action="store_true", help="measure preprocessing time instead")
    parser.add_argument("--no-before", action="store_true", help="skip reading without page cleaning (half the time)")
    parser.add_argument("--cache", type=Path, help="an .npz keeping the preprocessed photos (reused when it exists)")
    parser.add_argument("--kinds", help="comma-separated paper kinds (plain is always added); default: all")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    kinds = ()
    if args.kinds:
        kinds = tuple(k for k in paper_photos.KINDS if k == "plain" or k in args.kinds.split(","))
        unknown = set(args.kinds.split(",")) - set(paper_photos.KINDS)
        if unknown:
            choices = ", ".join(paper_photos.KINDS)
            parser.error(f"unknown paper kind(s) {', '.join(sorted(unknown))}; choose from {choices}")
    if args.timing:
        report = {"timing_ms": timing(args.images, args.seed)}
    elif not args.models:
        parser.error("give at least one MODEL (a run directory or a model file), or --timing")
    else:
        arrays = read_all(args.images, args.fonts, args.start, args.seed, args.cache, not args.no_before, kinds)
        report = {"seed": args.seed, "start": args.start, "command": " ".join(sys.argv), **measure(args.models, arrays)}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
