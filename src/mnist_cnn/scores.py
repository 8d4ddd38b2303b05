"""Classification scores computed from label and probability arrays (pure NumPy)."""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int = 10) -> np.ndarray:
    """Return the int64 (C, C) confusion matrix: rows are true labels, columns predictions."""
    y_true = np.asarray(y_true).astype(np.int64, copy=False).ravel()
    y_pred = np.asarray(y_pred).astype(np.int64, copy=False).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has {y_true.size} labels but y_pred has {y_pred.size}")
    # bincount silently grows (or fails on negatives) with bad labels; fail with a clear message.
    for name, labels in (("y_true", y_true), ("y_pred", y_pred)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"{name} has labels outside [0, {num_classes})")
    # One bincount over the flattened (true, pred) pair index is O(N) and avoids a Python loop.
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64, copy=False)


def _ratio(numerator: float, denominator: float) -> float:
    # The documented 0/0 rule: an undefined score counts as 0.0 (sklearn's zero_division=0).
    return float(numerator / denominator) if denominator else 0.0


def per_class_scores(matrix: np.ndarray) -> list[dict[str, Any]]:
    """Return precision, recall, F1 and support per class; any 0/0 score is defined as 0.0."""
    matrix = np.asarray(matrix, dtype=np.int64)
    true_positive = np.diag(matrix)
    predicted = matrix.sum(axis=0)
    support = matrix.sum(axis=1)
    rows = []
    for k in range(matrix.shape[0]):
        precision = _ratio(true_positive[k], predicted[k])
        recall = _ratio(true_positive[k], support[k])
        f1 = _ratio(2 * precision * recall, precision + recall)
        rows.append(
            {
                "class": k,
                "precision": precision,
                "recall": recall,
                "f1": f1,
                "support": int(support[k]),
            }
        )
    return rows


def summarize(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, Any]:
    """Return accuracy, confusion matrix, per-class scores and macro F1 as JSON-ready types."""
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must be (N, C), got shape {probabilities.shape}")
    y_true = np.asarray(y_true).ravel()
    if y_true.shape[0] != probabilities.shape[0]:
        raise ValueError(f"{y_true.shape[0]} labels but {probabilities.shape[0]} probability rows")
    matrix = confusion_matrix(y_true, probabilities.argmax(axis=1), probabilities.shape[1])
    per_class = per_class_scores(matrix)
    total = int(matrix.sum())
    return {
        "accuracy": _ratio(np.trace(matrix), total),
        "num_examples": total,
        "confusion_matrix": matrix.tolist(),  # nested lists of Python ints
        "per_class": per_class,
        "macro_f1": float(np.mean([row["f1"] for row in per_class])) if per_class else 0.0,
    }


def most_confident_errors(y_true: np.ndarray, probabilities: np.ndarray, limit: int = 25) -> np.ndarray:
    """Return up to `limit` misclassified indices, most confident first, ties by index."""
    probabilities = np.asarray(probabilities)
    y_true = np.asarray(y_true).ravel()
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities[np.arange(len(predicted)), predicted]
    wrong = np.flatnonzero(predicted != y_true)
    # A stable sort on the negated confidence keeps equal confidences in index order.
    order = np.argsort(-confidence[wrong], kind="stable")
    return wrong[order][: max(int(limit), 0)].astype(np.int64)


def format_report(summary: dict[str, Any]) -> str:
    """Return the human-readable evaluation report printed by `mnist-cnn evaluate`."""
    matrix = np.asarray(summary["confusion_matrix"], dtype=np.int64)
    total = int(summary["num_examples"])
    correct = int(np.trace(matrix)) if matrix.size else 0
    lines = [
        f"Accuracy: {summary['accuracy']:.4f} ({correct}/{total} correct)",
        f"Macro F1: {summary['macro_f1']:.4f}",
        "",
        f"{'class':>5}  {'precision':>9}  {'recall':>9}  {'f1':>9}  {'support':>7}",
    ]
    for row in summary["per_class"]:
        lines.append(
            f"{row['class']:>5}  {row['precision']:>9.4f}  {row['recall']:>9.4f}"
            f"  {row['f1']:>9.4f}  {row['support']:>7d}"
        )
    # Width fits the largest count so columns stay aligned for any test-set size.
    width = max(len(str(int(matrix.max()))) if matrix.size else 1, 4)
    header = "true\\pred"
    lines += [
        "",
        "Confusion matrix (rows = true label, columns = predicted label):",
        header + "".join(f" {k:>{width}}" for k in range(matrix.shape[1] if matrix.ndim == 2 else 0)),
    ]
    for k, counts in enumerate(matrix):
        lines.append(f"{k:>{len(header)}}" + "".join(f" {int(c):>{width}}" for c in counts))
    return "\n".join(lines) + "\n"
