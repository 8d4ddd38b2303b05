"""Preparation of the verified dataset for a run: subset and validation split (images stay uint8)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mnist_cnn.data.acquire import DataError, Mnist


@dataclass(frozen=True)
class Prepared:
    """The splits as uint8 images (N, 28, 28) and uint8 labels; `scale` makes model inputs of them.

    Images stay 8-bit until they reach the model (scaled per batch in the input pipeline, or by
    `scale` for evaluation): a float32 copy of the training set would cost 170 MB of memory.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    validation_is_test: bool = False


def scale(images: np.ndarray) -> np.ndarray:
    """uint8 images (N, 28, 28) to the model's input: float32 (N, 28, 28, 1) in [0, 1], i.e. x / 255."""
    return (images.astype(np.float32) / np.float32(255.0))[..., np.newaxis]


def _subset_indices(labels: np.ndarray, size: int | None, method: str) -> np.ndarray:
    """First-N, or stratified: each class's first images in dataset order, shares as in the full set.

    Both are independent of the seed, so a smoke run always sees the same images.
    """
    if size is None or size >= len(labels):
        return np.arange(len(labels))
    if method == "first":
        return np.arange(size)
    counts = np.bincount(labels, minlength=10)
    quota = np.floor(counts / counts.sum() * size).astype(int)
    # Hand the remainder to the classes with the largest fractional parts, lowest class first.
    remainder = counts / counts.sum() * size - quota
    for k in np.argsort(-remainder, kind="stable")[: size - quota.sum()]:
        quota[k] += 1
    picked = [np.flatnonzero(labels == k)[: quota[k]] for k in range(10)]
    return np.sort(np.concatenate(picked))


def prepare(mnist: Mnist, data_cfg) -> Prepared:
    """Subset and split off validation (before any shuffling, like Keras' validation_split)."""
    sub = data_cfg.subset
    train_idx = _subset_indices(mnist.y_train, sub.train, sub.method)
    test_idx = _subset_indices(mnist.y_test, sub.test, sub.method)
    x, y = mnist.x_train[train_idx], mnist.y_train[train_idx]
    x_test, y_test = mnist.x_test[test_idx], mnist.y_test[test_idx]
    split = data_cfg.validation
    n = len(y)
    if split.mode == "none":
        return Prepared(x, y, None, None, x_test, y_test)
    if split.mode == "test":
        return Prepared(x, y, x_test, y_test, x_test, y_test, validation_is_test=True)
    if split.mode == "fraction":
        # Keras' validation_split: int(n * (1 - fraction)) images train, the rest validate.
        cut = int(n * (1.0 - split.fraction))
        train, val = slice(0, cut), slice(cut, n)
    else:
        if split.count >= n:
            raise DataError(f"data.validation.count {split.count} leaves no training images (only {n})")
        if split.mode == "first":
            train, val = slice(split.count, n), slice(0, split.count)
        else:
            train, val = slice(0, n - split.count), slice(n - split.count, n)
    return Prepared(x[train], y[train], x[val], y[val], x_test, y_test)
