"""Stop rules and best-epoch choice, computed from history so a resumed run decides the same."""

from __future__ import annotations

from mnist_cnn import config
from mnist_cnn.train.callbacks import epoch_seed
from mnist_cnn.train.stop_rules import best_epoch, stop_reason


def rows(values: list[float], key: str = "val_loss") -> list[dict]:
    return [{"epoch": i + 1, key: v, "accuracy": 0.5} for i, v in enumerate(values)]


def test_threshold_stop_fires_only_above_the_threshold():
    cfg = config.loads("train: {stop_at: {monitor: accuracy, threshold: 0.99}}")
    history = [{"epoch": 1, "accuracy": 0.99}, {"epoch": 2, "accuracy": 0.9901}]
    assert stop_reason(history[:1], cfg) is None
    assert stop_reason(history, cfg) == "accuracy 0.9901 > 0.99 at epoch 2"


def test_patience_counts_epochs_without_improvement_like_keras():
    cfg = config.loads("train: {early_stopping: {monitor: val_loss, patience: 2}}")
    assert stop_reason(rows([0.5, 0.4, 0.45]), cfg) is None
    assert stop_reason(rows([0.5, 0.4, 0.45, 0.41]), cfg) == "no val_loss improvement for 2 epochs (early stopping)"
    assert stop_reason(rows([0.5, 0.4, 0.45, 0.39]), cfg) is None


def test_min_delta_requires_a_real_improvement():
    cfg = config.loads("train: {early_stopping: {monitor: val_loss, patience: 1, min_delta: 0.05}}")
    assert stop_reason(rows([0.5, 0.47]), cfg) is not None
    assert stop_reason(rows([0.5, 0.44]), cfg) is None


def test_no_rule_never_stops():
    assert stop_reason(rows([0.1, 0.2, 0.3, 0.4]), config.Config()) is None


def test_best_epoch_direction_and_ties():
    assert best_epoch(rows([0.9, 0.95, 0.95, 0.93], "val_accuracy"), "val_accuracy") == 2
    assert best_epoch(rows([0.3, 0.2, 0.25]), "val_loss") == 2
    assert best_epoch(rows([0.3]), "val_accuracy") is None


def test_epoch_seeds_are_stable_and_distinct():
    assert epoch_seed(1337, 3, 1) == epoch_seed(1337, 3, 1)
    seeds = {epoch_seed(1337, e, s) for e in range(20) for s in range(3)}
    assert len(seeds) == 60 and all(0 <= s < 2**31 for s in seeds)
