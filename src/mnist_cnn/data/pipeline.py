"""The input pipeline: tf.data batches for training (shuffled per (seed, epoch)) and validation."""

from __future__ import annotations

import numpy as np

from mnist_cnn.config import Config
from mnist_cnn.data.preparation import Prepared


def epoch_permutation(seed: int, epoch: int, size: int) -> np.ndarray:
    """The shuffle order of one epoch, a function of (seed, epoch) only."""
    return np.random.default_rng([seed, epoch]).permutation(size).astype(np.int32)


def _fixed_pipeline():
    """tf.data options for a pipeline whose parallelism is set by hand: no autotuning thread.

    With autotuning on, deleting the training iterator at the end of `fit` waited ~30 s for tf.data's
    background model thread in most 3-epoch runs on this project's 2-core VM (GAP measured from the
    last epoch's commit to `fit` returning). The batches are the same either way.
    """
    import tensorflow as tf

    options = tf.data.Options()
    options.autotune.enabled = False
    return options


def _to_model_input(images, labels):
    """uint8 batch to float32 (B, 28, 28, 1) in [0, 1] and one-hot labels: the same values as preparation.scale."""
    import tensorflow as tf

    return tf.cast(images, tf.float32)[..., tf.newaxis] / 255.0, tf.one_hot(tf.cast(labels, tf.int32), 10)


def batch_seed(seed: int, epoch, batch):
    """The stateless seed of one training batch's augmentation: a function of (seed, epoch, batch) only."""
    import tensorflow as tf

    base = tf.constant([seed & 0x7FFFFFFF, 0x6175676D], dtype=tf.int64)  # second word: "augm"
    return tf.random.experimental.stateless_fold_in(tf.random.experimental.stateless_fold_in(base, epoch), batch)


def training_dataset(x: np.ndarray, y: np.ndarray, cfg: Config, first_epoch: int):
    """Batches for epochs first_epoch..epochs-1, each epoch shuffled by epoch_permutation.

    Gathering batches by index from uint8 tensors that live once in memory avoids Keras copying
    float arrays every epoch, and makes the order reproducible from any starting epoch. With
    data.augmentation set, each batch is distorted with draws seeded by (seed, epoch, batch), so
    the batches are the same whichever epoch a run starts (or resumes) from.
    """
    import tensorflow as tf

    epochs = np.arange(first_epoch, cfg.train.epochs, dtype=np.int64)
    perms = np.stack([epoch_permutation(cfg.seed, int(e), len(x)) for e in epochs])
    images, labels = tf.constant(x), tf.constant(y)
    batch = cfg.train.batch_size
    ds = tf.data.Dataset.from_tensor_slices((perms, epochs)).flat_map(
        lambda perm, epoch: (
            tf.data.Dataset.from_tensor_slices(perm)
            .batch(batch)
            .enumerate()
            .map(lambda index, idx: (idx, epoch, index))
        )
    )
    aug = cfg.data.augmentation

    def load(idx, epoch, index):
        inputs, targets = _to_model_input(tf.gather(images, idx), tf.gather(labels, idx))
        if aug is not None:
            from mnist_cnn.data.augmentation import augment_batch

            inputs = augment_batch(inputs, batch_seed(cfg.seed, epoch, index), aug)
        return inputs, targets

    return ds.map(load).prefetch(2).with_options(_fixed_pipeline())


def validation_dataset(data: Prepared, batch_size: int):
    """Validation batches as a tf.data pipeline (no parallel map, so no thread-pool surprises), or None."""
    import tensorflow as tf

    if data.x_val is None:
        return None
    batches = tf.data.Dataset.from_tensor_slices((data.x_val, data.y_val)).batch(batch_size)
    return batches.map(_to_model_input).with_options(_fixed_pipeline())
