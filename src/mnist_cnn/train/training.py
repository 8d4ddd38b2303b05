"""One training session: seeding, precision, compile and fit (commits go through train/checkpoints)."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from mnist_cnn.config import Config
from mnist_cnn.data.pipeline import training_dataset, validation_dataset
from mnist_cnn.data.preparation import Prepared
from mnist_cnn.train.checkpoints import EpochCommitter
from mnist_cnn.train.stop_rules import stop_reason

Log = Callable[[str], None]
VALIDATION_BATCH = 256  # inference only: larger than training batches, yet activations stay under memory.MMAP_THRESHOLD


# ---------------------------------------------------------------------------- process setup


def cpu_has_fast_bf16() -> bool:
    """True if this CPU has AMX-BF16 tiles.

    AVX512-BF16 alone is not enough: on such a CPU oneDNN's bfloat16 convolutions measured
    1.3-1.4x slower per image than float32 for the Chollet convnet (docs/benchmarks.md).
    """
    from mnist_cnn.runs.environment import cpu_model_and_flags

    return "amx_bf16" in cpu_model_and_flags()[1]


def resolve_precision(requested: str) -> str:
    """Map 'auto' to a Keras dtype policy this hardware runs fast and accurately."""
    if requested != "auto":
        return requested
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        major = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability", (0, 0))[0]
        return "mixed_bfloat16" if major >= 8 else "mixed_float16" if major >= 7 else "float32"
    return "mixed_bfloat16" if cpu_has_fast_bf16() else "float32"


def configure_process(cfg: Config) -> dict:
    """Seed everything from cfg.seed, apply thread and determinism settings; return what was set.

    Must run before TensorFlow executes its first op (thread pools are fixed from then on).
    """
    import keras
    import tensorflow as tf

    from mnist_cnn.train.memory import keep_freed_memory

    malloc_tuned = keep_freed_memory()
    repro = cfg.reproducibility
    if repro.intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(repro.intra_op_threads)
    if repro.inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(repro.inter_op_threads)
    keras.utils.set_random_seed(cfg.seed)  # Python, NumPy and TensorFlow in one call
    if repro.deterministic:
        tf.config.experimental.enable_op_determinism()
    precision = resolve_precision(cfg.train.precision)
    keras.mixed_precision.set_global_policy(precision)
    return {
        "seed": cfg.seed,
        "op_determinism": repro.deterministic,
        "precision": precision,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "malloc_keeps_freed_memory": malloc_tuned,
    }


# ---------------------------------------------------------------------------- model and data


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Batches per epoch; the last one may be partial, as in Keras."""
    return math.ceil(num_examples / batch_size)


def make_optimizer(cfg: Config, num_examples: int):
    """The configured optimizer, with its learning-rate schedule."""
    import keras

    opt = cfg.train.optimizer
    defaults = {"adam": 1e-3, "sgd": 1e-2, "rmsprop": 1e-3, "adadelta": 1e-3}
    rate = opt.learning_rate if opt.learning_rate is not None else defaults[opt.name]
    if opt.schedule == "cosine":
        steps = steps_per_epoch(num_examples, cfg.train.batch_size)
        warmup = int(round(opt.warmup_epochs * steps))
        total = cfg.train.epochs * steps
        rate = keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else rate,
            decay_steps=total - warmup,
            alpha=0.0,
            warmup_target=rate if warmup else None,
            warmup_steps=warmup,
        )
    if opt.name == "adam":
        return keras.optimizers.Adam(learning_rate=rate)
    if opt.name == "sgd":
        return keras.optimizers.SGD(learning_rate=rate, momentum=opt.momentum)
    if opt.name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate=rate, momentum=opt.momentum)
    return keras.optimizers.Adadelta(learning_rate=rate)


def compile_model(model, cfg: Config, num_examples: int) -> None:
    """Compile with the configured optimizer, cross-entropy loss and accuracy."""
    import keras

    model.compile(
        optimizer=make_optimizer(cfg, num_examples),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.train.label_smoothing),
        metrics=["accuracy"],
    )


# ---------------------------------------------------------------------------- the session


@dataclass
class Session:
    """What a finished (or stopped) fit leaves behind."""

    rows: list[dict]
    stop_reason: str | None
    fit_seconds: float


def fit(model, cfg: Config, data: Prepared, committer: EpochCommitter, rows: list[dict], log: Log) -> Session:
    """Train from len(rows) epochs done to cfg.train.epochs, committing every epoch through `committer`."""
    import keras

    from mnist_cnn.train.callbacks import EpochCommit, EpochSeeding, added_callbacks, progress_callbacks

    first_epoch = len(rows)
    already = stop_reason(rows, cfg) if rows else None
    if already:  # a resumed run whose stop rule had fired: nothing left to train
        return Session(rows, already, 0.0)
    commit = EpochCommit(cfg, rows, committer.commit, log)
    callbacks = [EpochSeeding(cfg.seed), commit, *progress_callbacks(log)]
    if cfg.output.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(committer.run.tensorboard)))
    added = added_callbacks()  # after the commit: an epoch they stop at is kept
    callbacks += added
    started = time.perf_counter()
    if first_epoch < cfg.train.epochs:
        model.fit(
            training_dataset(data.x_train, data.y_train, cfg, first_epoch),
            epochs=cfg.train.epochs,
            initial_epoch=first_epoch,
            steps_per_epoch=steps_per_epoch(len(data.x_train), cfg.train.batch_size),
            validation_data=validation_dataset(data, max(cfg.train.batch_size, VALIDATION_BATCH)),
            callbacks=callbacks,
            shuffle=False,  # the dataset is already shuffled per (seed, epoch)
            verbose=0,
        )
    stopped = commit.stop_reason or next((c.stop_reason for c in added if getattr(c, "stop_reason", None)), None)
    return Session(rows, stopped, time.perf_counter() - started)
