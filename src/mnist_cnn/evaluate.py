"""Test metrics for a model: probabilities, loss, accuracy, per-class scores, confusion matrix, plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mnist_cnn import plots, scores
from mnist_cnn.inference.predict import classify
from mnist_cnn.runs.rundir import RunDir

EPSILON = 1e-7  # Keras' clipping of probabilities inside cross-entropy


def cross_entropy(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean categorical cross-entropy, computed in float64 so every caller gets the same number."""
    picked = probs.astype(np.float64)[np.arange(len(labels)), labels.astype(np.int64)]
    return float(-np.mean(np.log(np.clip(picked, EPSILON, 1.0 - EPSILON))))


def summarize(labels: np.ndarray, probs: np.ndarray) -> dict:
    """Loss, accuracy, per-class scores and confusion matrix as plain JSON-able data."""
    summary = scores.summarize(labels, probs)
    return {"loss": cross_entropy(labels, probs), **summary}


def score(model, images: np.ndarray, labels: np.ndarray) -> tuple[dict, np.ndarray]:
    """Score `model` (a Runtime or a Keras model) on (images, labels); returns the summary and the probabilities."""
    from mnist_cnn.inference.modelfiles import ModelError
    from mnist_cnn.inference.runtimes import finite_rows

    probs = classify(model, images)
    broken = int((~finite_rows(probs)).sum())
    if broken:  # a score over NaN is no score: say so instead of writing one
        raise ModelError(f"the model's output is not a number (NaN or infinity) for {broken} of {len(probs)} images")
    return summarize(labels, probs), probs


def write_plots(run: RunDir, images: np.ndarray, labels: np.ndarray, probs: np.ndarray, summary: dict) -> None:
    """Confusion matrix and the most confident errors (images uint8 N×28×28), into the run's plots folder."""
    plots.plot_confusion_matrix(np.asarray(summary["confusion_matrix"]), run.plot("confusion_matrix"))
    wrong = scores.most_confident_errors(labels, probs, limit=25)
    predicted = probs.argmax(axis=1)
    plots.plot_misclassified(
        images[wrong],
        labels[wrong],
        predicted[wrong],
        probs[wrong, predicted[wrong]],
        run.plot("misclassified"),
    )


def evaluate(
    run_dir: str | None,
    model_file: str | None,
    checkpoint: str | None,
    data_path: str | None,
    log=print,
    robustness: bool = False,
) -> dict:
    """Score a run's model (on the run's own test subset) or a model file (on the full test set).

    A run's verified ONNX export is used when it has one and no checkpoint is asked for (no
    TensorFlow import); .keras, .onnx and .tflite files each go through their own runtime.
    For a run, also writes evaluation.json and the confusion-matrix and misclassified plots into it;
    with `robustness`, also the robustness table (robustness.json, plots/robustness.png).
    """
    from mnist_cnn import atomic, config
    from mnist_cnn.data import acquire, preparation
    from mnist_cnn.inference import modelfiles
    from mnist_cnn.inference.runtimes import load_runtime

    if run_dir:
        from mnist_cnn.runs.rundir import check_own_folders

        run = RunDir(Path(run_dir))
        check_own_folders(run)  # evaluate writes plots into the run: never through a link it did not make
        source = modelfiles.from_run(run, checkpoint, prefer_export=True)
        data_cfg = config.load(run.config).data  # the run's own test subset, if it used one
    else:
        run, source = None, modelfiles.resolve(model_file)
        data_cfg = config.Config().data
    model = load_runtime(source)
    prepared = preparation.prepare(acquire.load_mnist(data_path or data_cfg.path, log=log), data_cfg)
    summary, probs = score(model, preparation.scale(prepared.x_test), prepared.y_test)
    result = {
        "model": source.describe(),
        "runtime": model.name,
        "checkpoint": source.checkpoint,
        "export": source.export,
        "sha256": source.expected_sha256,
        "test": summary,
    }
    if robustness:
        from mnist_cnn import robustness as robust

        result["robustness"] = robust.measure(model, preparation.scale(prepared.x_test)[..., 0], prepared.y_test, log)
    if run is not None:
        try:
            atomic.write_json(run.evaluation, result)
            write_plots(run, prepared.x_test, prepared.y_test, probs, summary)
            if robustness:
                atomic.write_json(run.robustness, result["robustness"])
                plots.plot_robustness({run.root.name: result["robustness"]}, run.plot("robustness"))
        except OSError as exc:  # a read-only or full run folder: the results are still worth showing
            log(f"Warning: could not write evaluation.json and plots into {run.root} ({exc.strerror or exc})")
    return result
