"""The keras-io "Simple MNIST convnet" recipe exactly as published, timed, as a standalone job.

https://keras.io/examples/vision/mnist_convnet/ : the same model, optimizer, loss, batch size,
`validation_split=0.1`, `model.fit` on NumPy arrays and `evaluate` on the test set. The only
differences are where the data comes from (the project's verified MNIST arrays instead of
`keras.datasets.mnist.load_data()`, which are the same bytes) and the timing added around it.

It runs in its own process so that `benchmark.py` can measure its peak RSS on its own. The last
line of stdout is one JSON object with the timings and accuracies; Keras' progress output comes
before it, as in the tutorial.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

# Same quieting as the project's CLI: TensorFlow's C++ start-up notices are not part of the recipe.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

from mnist_cnn.data.acquire import load_mnist  # noqa: E402

NUM_CLASSES = 10
INPUT_SHAPE = (28, 28, 1)
BATCH_SIZE = 128
EPOCHS = 15
VALIDATION_SPLIT = 0.1


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch (training plus validation), as the project's runs record it."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.seconds.append(round(time.perf_counter() - self._started, 3))


def build_model() -> keras.Sequential:
    """The tutorial's convnet, layer for layer."""
    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(NUM_CLASSES, activation="softmax"),
        ]
    )


def prepare(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tutorial's preprocessing: scale to [0, 1], add the channel axis, one-hot labels."""
    x = np.expand_dims(images.astype("float32") / 255, -1)
    return x, keras.utils.to_categorical(labels, NUM_CLASSES)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS, help="default: 15, as published")
    parser.add_argument(
        "--train-subset",
        type=int,
        default=None,
        help="use only the first N training images (quick checks; matches the CLI's data.subset.method=first)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=None,
        help="seed Keras' initialisers and dropout (default: unseeded, as published)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.seed is not None:
        keras.utils.set_random_seed(args.seed)
    mnist = load_mnist(allow_download=False)
    count = args.train_subset or len(mnist.y_train)
    x_train, y_train = prepare(mnist.x_train[:count], mnist.y_train[:count])
    x_test, y_test = prepare(mnist.x_test, mnist.y_test)

    model = build_model()
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    timer = EpochTimer()
    started = time.perf_counter()
    history = model.fit(
        x_train,
        y_train,
        batch_size=BATCH_SIZE,
        epochs=args.epochs,
        validation_split=VALIDATION_SPLIT,
        callbacks=[timer],
    )
    fit_call_seconds = time.perf_counter() - started
    started = time.perf_counter()
    test_loss, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    evaluate_seconds = time.perf_counter() - started

    result = {
        "recipe": "reference",
        "precision": keras.mixed_precision.global_policy().name,
        "batch_size": BATCH_SIZE,
        # Keras' validation_split trains on the first int(n * (1 - split)) images.
        "train_images": int(len(x_train) * (1.0 - VALIDATION_SPLIT)),
        "epochs": len(timer.seconds),
        "epoch_seconds": timer.seconds,
        "fit_seconds": round(sum(timer.seconds), 3),
        "fit_call_seconds": round(fit_call_seconds, 3),
        "evaluate_seconds": round(evaluate_seconds, 3),
        "val_accuracy": float(history.history["val_accuracy"][-1]),
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        # Linux reports ru_maxrss in KiB.
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    sys.stdout.flush()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
