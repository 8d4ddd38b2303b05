"""A small synthetic MNIST-shaped dataset: digits drawn with a font, jittered; no download, no files.

It stands in for MNIST wherever a test needs training to run end to end but not MNIST's numbers
(the fast tier: train, resume, commit faults, export). The images are uint8 28×28, white digits on
black like MNIST, ten classes a small convnet tells apart within an epoch or two, so "well above
chance" is a real check. The arrays are the same in every process (fixed seed), so a child process
(sitecustomize in tests/synthetic_site) sees exactly the data the test process sees.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

TRAIN_PER_CLASS = 40
TEST_PER_CLASS = 20
SEED = 20


@functools.cache
def _glyphs() -> np.ndarray:
    """The ten digits drawn once, each centred in a 28×28 field (float, 0-255)."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.load_default(size=22)  # Pillow's bundled scalable font
    except (TypeError, OSError):  # an old Pillow or one without FreeType: the small bitmap font
        font = ImageFont.load_default()
    glyphs = np.zeros((10, 28, 28), np.float32)
    for digit in range(10):
        image = Image.new("L", (56, 56), 0)
        ImageDraw.Draw(image).text((28, 28), str(digit), fill=255, font=font, anchor="mm")
        box = image.getbbox()
        crop = image.crop(box)
        scale = 20 / max(crop.size)  # MNIST's 20×20 box
        crop = crop.resize((max(1, round(crop.width * scale)), max(1, round(crop.height * scale))), Image.BILINEAR)
        field = Image.new("L", (28, 28), 0)
        field.paste(crop, ((28 - crop.width) // 2, (28 - crop.height) // 2))
        glyphs[digit] = np.asarray(field, np.float32)
    return glyphs


def _jittered(rng: np.random.Generator, per_class: int) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` variants of each digit (rotation, shift, stroke weight, noise), shuffled."""
    from scipy import ndimage

    images, labels = [], []
    for digit, glyph in enumerate(_glyphs()):
        for _ in range(per_class):
            image = ndimage.rotate(glyph, rng.uniform(-12, 12), reshape=False, order=1)
            image = ndimage.shift(image, rng.uniform(-2, 2, size=2), order=1)
            if rng.random() < 0.5:
                image = ndimage.grey_dilation(image, size=(2, 2))
            image = image * rng.uniform(0.7, 1.0) + rng.normal(0, 8, image.shape)
            images.append(np.clip(image, 0, 255).astype(np.uint8))
            labels.append(digit)
    order = rng.permutation(len(labels))
    return np.stack(images)[order], np.array(labels, np.uint8)[order]


@functools.cache
def arrays() -> dict[str, np.ndarray]:
    """x_train, y_train, x_test, y_test: 400 training and 200 test digits, the same on every call."""
    rng = np.random.default_rng(SEED)
    x_train, y_train = _jittered(rng, TRAIN_PER_CLASS)
    x_test, y_test = _jittered(rng, TEST_PER_CLASS)
    for array in (x_train, y_train, x_test, y_test):
        array.setflags(write=False)
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def dataset():
    """The synthetic set as the `Mnist` object `load_mnist` returns, with its own digests."""
    from mnist_cnn.data import acquire

    @dataclass(frozen=True)
    class SyntheticMnist(acquire.Mnist):
        @property
        def digests(self) -> dict[str, str]:
            return {name: acquire.array_digest(getattr(self, name)) for name in acquire.DIGESTS}

    return SyntheticMnist(**arrays(), source="synthetic", location="synthetic (tests/synthetic.py)")


def load_synthetic(*_args, **_kwargs):
    """Stands in for `acquire.load_mnist`: the synthetic set whatever path or option is asked for."""
    return dataset()


def install() -> None:
    """Make every later `load_mnist` in this process return the synthetic set (for child processes)."""
    from mnist_cnn.data import acquire

    acquire.load_mnist = load_synthetic
