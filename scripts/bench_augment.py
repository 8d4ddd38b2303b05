"""What augmentation costs per epoch: the input pipeline alone, and a training epoch, with and without it.

Measured side by side in one process, repeat after repeat in a fixed order, so that only ratios
and medians taken in one invocation are compared (the machine this was written on is shared).

- pipeline: seconds to produce one epoch of batches (54,000 images, the recipe's batch size) with augmentation
  off, with each distortion of the recipe alone, and with the whole recipe;
- training: seconds of `model.fit` for one full epoch (54,000 images) of the recipe's network,
  with augmentation off and with the recipe's (the pipeline runs in tf.data's background
  thread, so this is what a user waits for).

    python scripts/bench_augment.py [--config configs/chollet-robust.yaml] [--repeats 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from mnist_cnn import config
from mnist_cnn.data.acquire import load_mnist
from mnist_cnn.data.pipeline import training_dataset

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "configs" / "chollet-robust.yaml"
PIPELINE_IMAGES = 54000
TRAIN_IMAGES = 54000


def variants(cfg: config.Config) -> dict[str, config.Config]:
    """Augmentation off, each distortion of the recipe alone, and the recipe."""
    aug = cfg.data.augmentation
    zero = config.Augmentation(probability=aug.probability)
    out = {"off": None}
    for name in config.Augmentation.distortions():
        out[name] = dataclasses.replace(zero, **{name: getattr(aug, name)})
    out["recipe"] = aug
    return {k: dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, augmentation=v)) for k, v in out.items()}


def pipeline_seconds(x, y, cfg: config.Config) -> float:
    """Seconds to draw one epoch of batches."""
    one = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=1))
    started = time.perf_counter()
    for _ in training_dataset(x, y, one, 0):
        pass
    return time.perf_counter() - started


def fit_seconds(x, y, cfg: config.Config) -> float:
    """Seconds of one training epoch of a fresh model of the recipe."""
    import keras

    from mnist_cnn.models import build_model
    from mnist_cnn.train.training import compile_model, steps_per_epoch

    one = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, epochs=1))
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(one.model)
    compile_model(model, one, len(x))
    data = training_dataset(x, y, one, 0)
    started = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=steps_per_epoch(len(x), one.train.batch_size), shuffle=False, verbose=0)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=RECIPE, help="a recipe with data.augmentation set")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write every raw number here")
    args = parser.parse_args()
    mnist = load_mnist(allow_download=False)
    cfg = config.load(args.config)
    runs = variants(cfg)
    x, y = mnist.x_train[:PIPELINE_IMAGES], mnist.y_train[:PIPELINE_IMAGES]
    pipeline = {name: [] for name in runs}
    training = {"off": [], "recipe": []}
    pipeline_seconds(x[:1024], y[:1024], runs["recipe"])  # trace the graphs once before timing
    for _ in range(args.repeats):
        for name, variant in runs.items():
            pipeline[name].append(pipeline_seconds(x, y, variant))
        for name in training:
            training[name].append(fit_seconds(x[:TRAIN_IMAGES], y[:TRAIN_IMAGES], runs[name]))
    median = {name: statistics.median(v) for name, v in pipeline.items()}
    print(f"Input pipeline, seconds per {PIPELINE_IMAGES:,}-image epoch (median of {args.repeats}):")
    for name, value in median.items():
        print(f"  {name:<10} {value:7.2f} s")
    ratios = [a / b for a, b in zip(training["recipe"], training["off"], strict=True)]
    print(f"Training epoch on {TRAIN_IMAGES:,} images (median of {args.repeats}):")
    print(f"  off {statistics.median(training['off']):.2f} s, recipe {statistics.median(training['recipe']):.2f} s,")
    print(f"  ratio recipe/off (median of per-repeat ratios) {statistics.median(ratios):.2f}")
    if args.json:
        record = {"pipeline_seconds": pipeline, "training_seconds": training, "ratios": ratios}
        record.update(pipeline_images=PIPELINE_IMAGES, train_images=TRAIN_IMAGES, repeats=args.repeats)
        record.update(config=os.path.relpath(args.config, ROOT), model=cfg.model.name)
        args.json.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
