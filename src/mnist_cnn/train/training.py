"""One training session: seeding, precision, compile, the input pipeline, fit, commit and resume."""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mnist_cnn import atomic, interrupts
from mnist_cnn.config import Config
from mnist_cnn.data.pipeline import training_dataset, validation_dataset
from mnist_cnn.data.preparation import Prepared
from mnist_cnn.errors import first_line
from mnist_cnn.runs.rundir import RunDir, RunError, file_sha256, write_history

Log = Callable[[str], None]
VALIDATION_BATCH = 1024  # inference only: large batches are cheaper and change no weights


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


def weights_sha256(model) -> str:
    """SHA-256 over the model's weights and the optimizer's state, in order.

    A .keras file embeds the save date, so two bit-identical models give different file
    hashes; this digest is what to compare across runs (the file hash guards integrity).
    """
    import hashlib

    digest = hashlib.sha256()
    variables = list(model.weights) + list(getattr(model.optimizer, "variables", []) or [])
    for variable in variables:
        # Not the variable's path: Keras names variables differently after loading a file.
        value = np.ascontiguousarray(variable.numpy())
        digest.update(f"{value.dtype}:{value.shape};".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


@dataclass
class Session:
    """What a finished (or stopped) fit leaves behind."""

    rows: list[dict]
    stop_reason: str | None
    fit_seconds: float
    epoch_seconds: list[float]


class CheckpointStore:
    """Writes the end-of-epoch state of a run: last/previous/best checkpoints, history, manifest.

    Two recent checkpoints are kept so that a torn or corrupt `last.keras` (disk full, SIGKILL in
    an unlucky place on a filesystem without atomic rename) can fall back to `previous.keras`.
    """

    def __init__(self, run: RunDir, cfg: Config, manifest: dict, epoch_seconds: list[float]):
        self.run, self.cfg, self.manifest, self.epoch_seconds = run, cfg, manifest, epoch_seconds

    def commit(self, rows: list[dict], model, elapsed: Callable[[], float]) -> None:
        """Save the checkpoint(s) then history then manifest, each atomically, in that order."""
        from mnist_cnn.train.callbacks import best_epoch

        run, epoch = self.run, rows[-1]["epoch"]
        incoming = run.checkpoints / "incoming.keras"
        with atomic.atomic_path(incoming) as tmp:
            model.save(tmp)
        digest = file_sha256(incoming)
        # Rotate: a crash between these renames leaves the recorded checkpoint in previous.keras.
        if run.last_checkpoint.exists():
            os.replace(run.last_checkpoint, run.previous_checkpoint)
        os.replace(incoming, run.last_checkpoint)
        checkpoints = self.manifest.setdefault("checkpoints", {})
        if "last" in checkpoints:
            checkpoints["previous"] = checkpoints["last"]
        checkpoints["last"] = {"epoch": epoch, "sha256": digest, "weights_sha256": weights_sha256(model)}
        if best_epoch(rows, self.cfg.train.checkpoint.monitor) == epoch:
            with atomic.atomic_path(run.best_checkpoint) as tmp:
                shutil.copyfile(run.last_checkpoint, tmp)
            checkpoints["best"] = {**checkpoints["last"], "monitor": self.cfg.train.checkpoint.monitor}
        write_history(run, rows)
        self.epoch_seconds.append(round(elapsed(), 3))
        self.manifest["epochs_completed"] = epoch
        self.manifest["epoch_seconds"] = self.epoch_seconds
        run.write_manifest(self.manifest)


def fit(model, cfg: Config, data: Prepared, run: RunDir, manifest: dict, rows: list[dict], log: Log) -> Session:
    """Train from len(rows) epochs done to cfg.train.epochs, committing every epoch to `run`."""
    import keras

    from mnist_cnn.train.callbacks import EpochCommit, EpochSeeding, stop_reason

    first_epoch = len(rows)
    epoch_seconds = list(manifest.get("epoch_seconds", []))[:first_epoch]
    already = stop_reason(rows, cfg) if rows else None
    if already:  # a resumed run whose stop rule had fired: nothing left to train
        return Session(rows, already, 0.0, epoch_seconds)
    store = CheckpointStore(run, cfg, manifest, epoch_seconds)
    commit = EpochCommit(cfg, rows, store.commit, log)
    callbacks = [EpochSeeding(cfg.seed), commit]
    if cfg.output.tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run.tensorboard)))
    started = time.perf_counter()
    if first_epoch < cfg.train.epochs:
        with interrupts.raising_on_signals():
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
    return Session(rows, commit.stop_reason, time.perf_counter() - started, epoch_seconds)


# ---------------------------------------------------------------------------- resume


def restore_for_resume(run: RunDir, manifest: dict, log: Log):
    """The model of the last good checkpoint and the epoch it ends; falls back to previous.keras."""
    from mnist_cnn.inference.modelfiles import ModelSource, load

    recorded = manifest.get("checkpoints", {})
    candidates = [
        (path, entry)
        for entry in (recorded.get("last"), recorded.get("previous"))
        if entry
        for path in (run.last_checkpoint, run.previous_checkpoint)
    ]
    problems = []
    for path, entry in candidates:
        if not path.exists():
            continue
        try:
            # compile=True restores the optimizer's state along with the weights.
            model = load(ModelSource(path, expected_sha256=entry["sha256"]), compile=True)
        except Exception as exc:  # any damage in the archive surfaces as some exception
            problems.append(f"{path.name}: {first_line(exc)}")
            continue
        if entry is not recorded.get("last"):
            log(f"Warning: the last checkpoint is unusable; resuming from epoch {entry['epoch']} instead")
        return model, entry["epoch"]
    detail = "; ".join(dict.fromkeys(problems)) or "no checkpoint files"
    raise RunError(f"{run.root}: no usable checkpoint to resume from ({detail}); start a new run instead")
