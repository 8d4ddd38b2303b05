"""Each figure is a real PNG, written atomically, and edge cases do not crash."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from PIL import Image

from mnist_cnn import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path, min_width: int = 300) -> None:
    """The file is a PNG that Pillow opens, and it is the only file in its folder."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
    assert width > min_width
    assert height > 100
    # No temporary siblings left behind by atomic_path.
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def history_rows(epochs: int, with_validation: bool = True) -> list[dict[str, float]]:
    rows = []
    for epoch in range(1, epochs + 1):
        row = {"epoch": epoch, "loss": 0.5 / epoch, "accuracy": 1 - 0.1 / epoch}
        if with_validation:
            row |= {"val_loss": 0.6 / epoch, "val_accuracy": 1 - 0.12 / epoch}
            row["learning_rate"] = 1e-3
        rows.append(row)
    return rows


def fake_digits(count: int, dtype=np.uint8) -> np.ndarray:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(count, 28, 28)).astype(np.uint8)
    return images if dtype == np.uint8 else (images / 255.0).astype(dtype)


def test_plot_history_many_epochs(tmp_path):
    path = tmp_path / "history.png"
    plots.plot_history(history_rows(15), path)
    assert_png(path)


def test_plot_history_single_epoch(tmp_path):
    path = tmp_path / "history.png"
    plots.plot_history(history_rows(1), path)
    assert_png(path)


def test_plot_history_without_validation_keys(tmp_path):
    path = tmp_path / "history.png"
    plots.plot_history(history_rows(3, with_validation=False), str(path))
    assert_png(path)


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_plot_samples(tmp_path, dtype):
    path = tmp_path / "samples.png"
    plots.plot_samples(fake_digits(30, dtype), np.arange(30) % 10, path)
    assert_png(path)


def test_plot_samples_fewer_images_than_grid(tmp_path):
    path = tmp_path / "samples.png"
    plots.plot_samples(fake_digits(7)[..., None], np.arange(7), path, grid=4)
    assert_png(path)


def test_plot_confusion_matrix(tmp_path):
    rng = np.random.default_rng(3)
    matrix = rng.integers(0, 5, size=(10, 10))
    np.fill_diagonal(matrix, rng.integers(950, 1100, size=10))
    path = tmp_path / "confusion.png"
    plots.plot_confusion_matrix(matrix, path, title="Confusion matrix (validation)")
    assert_png(path)


def test_plot_confusion_matrix_all_zero(tmp_path):
    path = tmp_path / "confusion.png"
    plots.plot_confusion_matrix(np.zeros((10, 10), dtype=np.int64), path)
    assert_png(path)


def test_plot_misclassified(tmp_path):
    count = 12
    path = tmp_path / "misclassified.png"
    plots.plot_misclassified(
        fake_digits(count),
        np.arange(count) % 10,
        (np.arange(count) + 1) % 10,
        np.linspace(0.99, 0.5, count),
        path,
    )
    assert_png(path)


def test_plot_misclassified_respects_max_items(tmp_path, monkeypatch):
    drawn = []
    real_save = plots._save

    def keep_figure(fig, path):
        drawn.append(fig)
        real_save(fig, path)

    monkeypatch.setattr(plots, "_save", keep_figure)
    path = tmp_path / "misclassified.png"
    true, predicted = np.arange(40) % 10, (np.arange(40) + 1) % 10
    plots.plot_misclassified(fake_digits(40), true, predicted, np.full(40, 0.9), path, max_items=3)
    assert_png(path, min_width=200)
    (fig,) = drawn
    (montage,) = [ax for ax in fig.axes if ax.images]  # the digits are drawn as one image, a title each
    titles = [text.get_text().split("\n")[0] for text in montage.texts]
    assert titles == ["true 0 → pred 1", "true 1 → pred 2", "true 2 → pred 3"]  # the first 3 of 40 errors
    cells = ~np.isnan(np.asarray(montage.images[0].get_array(), dtype=np.float32))
    assert cells.sum() == 3 * 28 * 28  # three digits' pixels, no more


def test_plot_misclassified_with_no_errors(tmp_path):
    path = tmp_path / "misclassified.png"
    empty = np.zeros((0, 28, 28), dtype=np.uint8)
    plots.plot_misclassified(empty, np.array([]), np.array([]), np.array([]), path)
    assert_png(path)


def test_plot_replaces_existing_file(tmp_path):
    path = tmp_path / "history.png"
    path.write_bytes(b"old")
    plots.plot_history(history_rows(2), path)
    assert_png(path)


def test_failing_savefig_leaves_no_partial_file(tmp_path, monkeypatch):
    def broken_savefig(self, fname, *args, **kwargs):
        Path(fname).write_bytes(PNG_SIGNATURE + b"truncated")
        raise OSError("disk full")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    path = tmp_path / "history.png"
    with pytest.raises(OSError, match="disk full"):
        plots.plot_history(history_rows(3), path)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_failing_savefig_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "confusion.png"
    plots.plot_confusion_matrix(np.eye(10, dtype=np.int64) * 100, path)
    before = path.read_bytes()

    def broken_savefig(self, fname, *args, **kwargs):
        Path(fname).write_bytes(b"partial")
        raise RuntimeError("boom")

    monkeypatch.setattr(Figure, "savefig", broken_savefig)
    with pytest.raises(RuntimeError):
        plots.plot_confusion_matrix(np.eye(10, dtype=np.int64), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_plots_work_from_threads(tmp_path):
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            plots.plot_history(history_rows(5), tmp_path / f"h{index}" / "history.png")
        except BaseException as exc:  # surfaced to the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for index in range(4):
        assert_png(tmp_path / f"h{index}" / "history.png")
