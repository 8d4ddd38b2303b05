"""Test-set accuracy under controlled distortions: how a model copes with other writers, pens and scans.

Each transform is applied at several fixed strengths to every test image (deterministically: signs
and directions alternate by image index, no random draws), and the model scores the result. The
distortions are made with SciPy and Pillow, independently of the training augmentation code, so
a model is not graded by the same arithmetic it was trained on. Inverted contrast goes through
`predict`'s preprocessing (which detects the light background), as a photo of dark ink would.
A paper section photographs the first digits on ruled, squared, margin, shadowed, unevenly lit and boxed
pages (mnist_cnn.paper_photos) and reads them through the same preprocessing; a numbers section writes
2–6 test digits side by side (mnist_cnn.number_photos) and reads them as `predict` reads a number.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mnist_cnn.inference.predict import classify

PREPROCESS_IMAGES = 1000  # predict's preprocessing costs ~2-4 ms an image: its column uses the first 1,000
PAPER_IMAGES = 100  # a page photo costs ~0.1-0.3 s to make and read: each paper kind uses the first 100
NUMBER_STRINGS = 20  # written numbers per row of the numbers section (~0.2 s each to make and read)
NUMBER_LENGTHS = (2, 3, 4, 5, 6)
CENTRE = 13.5


@dataclass(frozen=True)
class Transform:
    """A named distortion of a float batch (N, 28, 28) in [0, 1] at a given strength."""

    name: str
    unit: str
    strengths: tuple
    apply: Callable[[np.ndarray, float], np.ndarray]


def rotate(x: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate even-indexed images by +degrees and odd ones by -degrees, about the centre."""
    from scipy import ndimage

    out = np.empty_like(x)
    for sign, part in ((1, slice(0, None, 2)), (-1, slice(1, None, 2))):
        out[part] = ndimage.rotate(x[part], sign * degrees, axes=(2, 1), reshape=False, order=1, mode="constant")
    return out


DIRECTIONS = np.array([(0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1)], dtype=np.float64)


def shift(x: np.ndarray, pixels: float) -> np.ndarray:
    """Move each image `pixels` in one of eight compass directions, cycling by image index."""
    from scipy import ndimage

    out = np.empty_like(x)
    for i, (dr, dc) in enumerate(DIRECTIONS / np.linalg.norm(DIRECTIONS, axis=1, keepdims=True)):
        part = slice(i, None, len(DIRECTIONS))
        out[part] = ndimage.shift(x[part], (0, dr * pixels, dc * pixels), order=1, mode="constant")
    return out


def scale(x: np.ndarray, factor: float) -> np.ndarray:
    """Shrink (factor < 1) or enlarge the digit about the image centre."""
    from scipy import ndimage

    inverse = 1.0 / factor
    offset = (0.0, CENTRE - inverse * CENTRE, CENTRE - inverse * CENTRE)
    return ndimage.affine_transform(x, (1.0, inverse, inverse), offset=offset, order=1, mode="constant")


def thickness(x: np.ndarray, pixels: float) -> np.ndarray:
    """Strokes `pixels` wider (grey dilation) or narrower (grey erosion): a (|pixels|+1)² square footprint."""
    from scipy import ndimage

    op = ndimage.grey_dilation if pixels > 0 else ndimage.grey_erosion
    side = int(abs(pixels)) + 1
    return op(x, size=(1, side, side), mode="constant", cval=0.0)


def blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of `sigma` pixels (an out-of-focus photo)."""
    from scipy import ndimage

    return ndimage.gaussian_filter(x, sigma=(0, sigma, sigma), mode="constant")


def low_resolution(x: np.ndarray, side: float) -> np.ndarray:
    """Area-average down to side×side, then bilinear back up to 28×28 (a coarse scan)."""
    from PIL import Image

    small = (int(side), int(side))
    return np.stack(
        [
            np.asarray(
                Image.fromarray(im).resize(small, Image.Resampling.BOX).resize((28, 28), Image.Resampling.BILINEAR)
            )
            for im in x.astype(np.float32)
        ]
    )


def inverted(x: np.ndarray, _strength: float) -> np.ndarray:
    """Dark ink on white paper."""
    return 1.0 - x


def preprocessed(x: np.ndarray) -> np.ndarray:
    """Each image through predict's preprocessing, as if it were a photo (polarity detected)."""
    from mnist_cnn.inference.imaging import preprocess_array

    return np.stack([preprocess_array(im).image for im in x])


TRANSFORMS = (
    Transform("rotation", "degrees", (10, 20, 30), rotate),
    Transform("shift", "pixels", (2, 3, 4), shift),
    Transform("scale", "factor", (0.7, 0.85, 1.2), scale),
    Transform("thickness", "stroke px", (-1, 1, 2), thickness),
    Transform("blur", "sigma (px)", (0.5, 1.0, 1.5), blur),
    Transform("low resolution", "side (px)", (14, 10, 7), low_resolution),
    Transform("inverted", "", ("dark ink on white",), inverted),
)


def accuracy(model, images: np.ndarray, labels: np.ndarray) -> float:
    """Share of images classified right."""
    probs = classify(model, np.clip(images, 0.0, 1.0).astype(np.float32)[..., None])
    return float(np.mean(probs.argmax(axis=1) == labels))


def paper(model, images: np.ndarray, labels: np.ndarray) -> dict:
    """Accuracy on phone-like photos of the digits on each kind of paper, through predict's preprocessing.

    Each digit is photographed (mnist_cnn.paper_photos, seed = its index) on plain paper and on
    ruled, squared, margin, shadowed and unevenly lit pages with the same size, position, ink and
    camera; loss is against the same digits on plain paper. A photo where no digit is found
    counts as wrong.
    """
    from mnist_cnn import paper_photos
    from mnist_cnn.inference.imaging import ImageError, preprocess_image

    rows = []
    plain_accuracy = 0.0
    for kind in paper_photos.KINDS:
        read, found = [], []
        for i, digit in enumerate(images):
            try:
                read.append(preprocess_image(paper_photos.photo(digit, kind, i)).image)
                found.append(i)
            except ImageError:
                pass
        right = 0
        if read:
            probs = classify(model, np.stack(read)[..., None].astype(np.float32))
            right = int(np.sum(probs.argmax(axis=1) == labels[found]))
        acc = right / max(1, len(images))
        plain_accuracy = acc if kind == "plain" else plain_accuracy
        missed = len(images) - len(found)
        rows.append({"paper": kind, "accuracy": acc, "loss": plain_accuracy - acc, "no_digit_found": missed})
    return {"images": len(images), "rows": rows}


def numbers(
    model, images: np.ndarray, labels: np.ndarray, per_row: int = NUMBER_STRINGS, plan: list | None = None
) -> dict:
    """String and per-digit accuracy on photos of written numbers (mnist_cnn.number_photos), read like `predict`.

    Rows: 2–6-digit strings on plain paper, then 4-digit strings on each other kind of paper;
    `per_row` strings each, made of the given digits (drawn with a fixed seed; 20% of neighbouring
    pairs touching, a quarter of the digits with a broken stroke). A digit counts as right when it
    is in its place in the reading (the longest in-order match against the truth: a lost or an
    extra digit costs only itself). A photo where no number is found counts as all wrong.
    plan: the rows as (paper kind, digits) pairs, when not the ones above; a third item, when
    given, is the share of digits with a broken stroke (instead of a quarter).
    """
    from mnist_cnn import number_photos
    from mnist_cnn.inference.image_decode import decode_gray
    from mnist_cnn.inference.segment import ImageError, read_number

    def classifier(batch: np.ndarray) -> np.ndarray:
        return classify(model, batch)

    rows = []
    if plan is None:
        plan = [("plain", n) for n in NUMBER_LENGTHS] + [(k, 4) for k in number_photos.KINDS if k != "plain"]
    for row_index, (kind, length, *rest) in enumerate(plan):
        broken = float(rest[0]) if rest else number_photos.BROKEN
        shots = number_row(images, labels, row_index, kind, length, per_row, broken)
        right = digits_right = missed = 0
        times = []
        for shot in shots:
            started = time.perf_counter()
            try:
                text = read_number(decode_gray(shot.image)[0], classifier).text
            except ImageError:
                text, missed = "", missed + 1
            times.append(time.perf_counter() - started)
            right += text == shot.text
            digits_right += _digits_in_place(text, shot.text)
        rows.append({"paper": kind, "digits": length, "broken_strokes": broken, "strings": per_row,
                     "string_accuracy": right / per_row,
                     "digit_accuracy": digits_right / (length * per_row), "no_number_found": missed,
                     "median_read_ms": 1000 * float(np.median(times))})  # fmt: skip
    return {"rows": rows}


def number_row(
    images: np.ndarray, labels: np.ndarray, row_index: int, kind: str, length: int, per_row: int, broken: float
):
    """The photos of one row of the numbers section, one at a time: its strings and photos are seeded by the
    row's index, so a script that asks for the same row gets the same photos."""
    from mnist_cnn import number_photos

    strings = number_photos.draw_strings(per_row, labels, seed=row_index, lengths=(length,))
    for i, chosen in enumerate(strings):
        yield number_photos.number_photo(images[chosen], labels[chosen], kind, seed=1000 * row_index + i, broken=broken)


def _digits_in_place(read: str, truth: str) -> int:
    """How many of the true digits the reading has, in order (difflib's matching blocks)."""
    import difflib

    return sum(block.size for block in difflib.SequenceMatcher(None, read, truth, autojunk=False).get_matching_blocks())


def measure(model, images: np.ndarray, labels: np.ndarray, log=print) -> dict:
    """The robustness table for `model` on (images float (N, 28, 28) in [0, 1], labels) as JSON-able data.

    Each row has the model's accuracy on the distorted images as they are (the whole test set) and,
    on the first PREPROCESS_IMAGES, after predict's preprocessing (what `mnist-cnn predict` would
    see for such a picture); losses are against the undistorted images in the same way.
    """
    few = min(PREPROCESS_IMAGES, len(images))
    clean = accuracy(model, images, labels)
    clean_pre = accuracy(model, preprocessed(images[:few]), labels[:few])
    rows = []
    for t in TRANSFORMS:
        for strength in t.strengths:
            distorted = t.apply(images, strength)
            acc = accuracy(model, distorted, labels)
            pre = accuracy(model, preprocessed(distorted[:few]), labels[:few])
            row = {"transform": t.name, "unit": t.unit, "strength": strength, "accuracy": acc, "loss": clean - acc}
            rows.append({**row, "preprocessed_accuracy": pre, "preprocessed_loss": clean_pre - pre})
        log(f"  {t.name}: " + ", ".join(f"{r['strength']} → {r['accuracy']:.2%}" for r in rows[-len(t.strengths) :]))
    sheets = min(PAPER_IMAGES, max(1, few // 10))
    on_paper = paper(model, images[:sheets], labels[:sheets])
    log("  paper: " + ", ".join(f"{r['paper']} → {r['accuracy']:.2%}" for r in on_paper["rows"]))
    # As many strings per row as the preprocessed column has fifties of images (none for a handful).
    written = numbers(model, images, labels, per_row=min(NUMBER_STRINGS, few // 50)) if few >= 50 else {"rows": []}
    log("  numbers: " + ", ".join(f"{r['digits']} digits on {r['paper']} → {r['string_accuracy']:.0%}"
                                  for r in written["rows"]))  # fmt: skip
    return {
        "test_images": len(images),
        "clean_accuracy": clean,
        "preprocessed_images": few,
        "preprocessed_clean_accuracy": clean_pre,
        "rows": rows,
        "paper": on_paper,
        "numbers": written,
    }


def format_table(report: dict) -> str:
    """The report as an aligned text table: accuracy and loss against undistorted, as is and preprocessed."""
    lines = [
        f"Robustness: test accuracy {report['clean_accuracy']:.2%} on {report['test_images']} images as they are; "
        f"{report['preprocessed_clean_accuracy']:.2%} on the first {report['preprocessed_images']} "
        "through predict's preprocessing",
        f"{'transform':<16}{'strength':>28}{'accuracy':>10}{'loss':>10}{'preprocessed':>14}{'loss':>10}",
    ]
    for r in report["rows"]:
        strength = f"{r['strength']} {r['unit']}".strip()
        lines.append(
            f"{r['transform']:<16}{strength:>28}{r['accuracy']:>10.2%}{r['loss'] * 100:>7.2f} pp"
            f"{r['preprocessed_accuracy']:>14.2%}{r['preprocessed_loss'] * 100:>7.2f} pp"
        )
    if "paper" in report:
        lines.append(f"Paper: photos of the first {report['paper']['images']} test digits on each kind of paper, "
                     "through predict's preprocessing; loss against the same digits on plain paper")  # fmt: skip
        lines.append(f"{'paper':<16}{'accuracy':>10}{'loss':>10}{'no digit found':>16}")
        for r in report["paper"]["rows"]:
            lines.append(f"{r['paper']:<16}{r['accuracy']:>10.2%}{r['loss'] * 100:>7.2f} pp{r['no_digit_found']:>16}")
    if "numbers" in report:
        lines.append("Numbers: photos of 2-6 written test digits (20% of pairs touching), read like predict")
        lines.append(f"{'paper':<16}{'digits':>8}{'strings':>9}{'string acc.':>13}{'digit acc.':>12}")
        for r in report["numbers"]["rows"]:
            lines.append(f"{r['paper']:<16}{r['digits']:>8}{r['strings']:>9}{r['string_accuracy']:>13.2%}"
                         f"{r['digit_accuracy']:>12.2%}")  # fmt: skip
    return "\n".join(lines)
