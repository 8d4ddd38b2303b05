"""Scores checked against small examples worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mnist_cnn.scores import (
    confusion_matrix,
    format_report,
    most_confident_errors,
    per_class_scores,
    summarize,
)


def one_hot_probabilities(predicted: list[int], num_classes: int, confidence: float = 0.9):
    """Probabilities whose argmax is `predicted`, with `confidence` on the predicted class."""
    rest = (1.0 - confidence) / (num_classes - 1)
    probs = np.full((len(predicted), num_classes), rest)
    probs[np.arange(len(predicted)), predicted] = confidence
    return probs


def test_confusion_matrix_counts_true_rows_predicted_columns():
    y_true = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    y_pred = np.array([0, 0, 1, 1, 1, 2, 0, 1])
    matrix = confusion_matrix(y_true, y_pred, num_classes=3)
    assert matrix.dtype == np.int64
    assert matrix.tolist() == [[2, 1, 0], [0, 2, 0], [1, 1, 1]]


def test_confusion_matrix_rejects_out_of_range_and_mismatched_labels():
    with pytest.raises(ValueError):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), num_classes=3)
    with pytest.raises(ValueError):
        confusion_matrix(np.array([0, -1]), np.array([0, 1]), num_classes=3)
    with pytest.raises(ValueError):
        confusion_matrix(np.array([0, 1]), np.array([0]), num_classes=3)


def test_per_class_scores_hand_computed():
    # Same matrix as above: [[2,1,0],[0,2,0],[1,1,1]].
    matrix = np.array([[2, 1, 0], [0, 2, 0], [1, 1, 1]])
    rows = per_class_scores(matrix)
    assert [row["class"] for row in rows] == [0, 1, 2]
    assert [row["support"] for row in rows] == [3, 2, 3]
    # class 0: tp=2, predicted 3, true 3 -> p=2/3, r=2/3, f1=2/3
    assert rows[0]["precision"] == pytest.approx(2 / 3)
    assert rows[0]["recall"] == pytest.approx(2 / 3)
    assert rows[0]["f1"] == pytest.approx(2 / 3)
    # class 1: tp=2, predicted 4, true 2 -> p=1/2, r=1, f1=2*0.5*1/1.5=2/3
    assert rows[1]["precision"] == pytest.approx(0.5)
    assert rows[1]["recall"] == pytest.approx(1.0)
    assert rows[1]["f1"] == pytest.approx(2 / 3)
    # class 2: tp=1, predicted 1, true 3 -> p=1, r=1/3, f1=2*(1/3)/(4/3)=1/2
    assert rows[2]["precision"] == pytest.approx(1.0)
    assert rows[2]["recall"] == pytest.approx(1 / 3)
    assert rows[2]["f1"] == pytest.approx(0.5)


def test_class_never_predicted_gets_zero_precision_and_f1():
    # Class 2 is never predicted (column of zeros) and class 1 never occurs (row of zeros).
    matrix = np.array([[3, 0, 0], [0, 0, 0], [2, 0, 0]])
    rows = per_class_scores(matrix)
    assert rows[2]["precision"] == 0.0
    assert rows[2]["recall"] == 0.0
    assert rows[2]["f1"] == 0.0
    assert rows[1] == {"class": 1, "precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert rows[0]["precision"] == pytest.approx(3 / 5)
    assert rows[0]["recall"] == 1.0


def test_perfect_classifier_scores_one_everywhere():
    y = np.arange(10).repeat(4)
    summary = summarize(y, one_hot_probabilities(list(y), 10))
    assert summary["accuracy"] == 1.0
    assert summary["macro_f1"] == 1.0
    for row in summary["per_class"]:
        assert row["precision"] == row["recall"] == row["f1"] == 1.0
        assert row["support"] == 4


def test_summarize_accuracy_is_trace_over_total_and_json_serialisable():
    rng = np.random.default_rng(1)
    y_true = rng.integers(0, 10, 500)
    probabilities = rng.dirichlet(np.ones(10), size=500)
    summary = summarize(y_true, probabilities)
    matrix = np.array(summary["confusion_matrix"])
    assert matrix.shape == (10, 10)
    assert summary["num_examples"] == 500 == matrix.sum()
    assert summary["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert summary["accuracy"] == pytest.approx(np.mean(probabilities.argmax(1) == y_true))
    assert summary["macro_f1"] == pytest.approx(np.mean([r["f1"] for r in summary["per_class"]]))
    text = json.dumps(summary)  # raises on NumPy scalars or arrays
    assert json.loads(text) == summary
    assert type(summary["accuracy"]) is float
    assert type(summary["num_examples"]) is int
    assert type(summary["confusion_matrix"][0][0]) is int


def test_summarize_rejects_mismatched_lengths():
    with pytest.raises(ValueError):
        summarize(np.array([0, 1, 2]), one_hot_probabilities([0, 1], 10))


def test_most_confident_errors_orders_by_confidence_then_index():
    y_true = np.array([0, 1, 2, 0, 1, 2, 0])
    probs = np.array(
        [
            [0.9, 0.05, 0.05],  # 0: correct
            [0.7, 0.2, 0.1],  # 1: wrong, 0.7
            [0.1, 0.8, 0.1],  # 2: wrong, 0.8
            [0.2, 0.7, 0.1],  # 3: wrong, 0.7 (ties with 1)
            [0.05, 0.9, 0.05],  # 4: correct
            [0.95, 0.03, 0.02],  # 5: wrong, 0.95
            [0.1, 0.1, 0.8],  # 6: wrong, 0.8 (ties with 2)
        ]
    )
    order = most_confident_errors(y_true, probs, limit=25)
    assert order.tolist() == [5, 2, 6, 1, 3]
    assert most_confident_errors(y_true, probs, limit=3).tolist() == [5, 2, 6]
    assert most_confident_errors(y_true, probs, limit=0).tolist() == []


def test_most_confident_errors_empty_when_all_correct():
    y = np.array([0, 1, 2])
    assert most_confident_errors(y, one_hot_probabilities([0, 1, 2], 3)).size == 0


def test_format_report_contains_accuracy_table_and_matrix():
    rng = np.random.default_rng(2)
    y_true = np.arange(10).repeat(100)
    predicted = np.where(rng.random(1000) < 0.95, y_true, rng.integers(0, 10, 1000))
    summary = summarize(y_true, one_hot_probabilities(list(predicted), 10))
    report = format_report(summary)
    assert f"{summary['accuracy']:.4f}" in report
    lines = report.splitlines()
    for row in summary["per_class"]:
        expected = f"{row['precision']:.4f}"
        assert any(line.split()[:2] == [str(row["class"]), expected] for line in lines), (
            f"no table row for class {row['class']}"
        )
    matrix = summary["confusion_matrix"]
    header = next(line for line in lines if line.startswith("true\\pred"))
    assert header.split()[1:] == [str(k) for k in range(10)]
    matrix_lines = lines[lines.index(header) + 1 :]
    assert [[int(v) for v in line.split()[1:]] for line in matrix_lines] == matrix
    # Aligned: every matrix row has the same length as the header.
    assert {len(line) for line in matrix_lines} == {len(header)}
