"""The robustness report: each distortion does what its name says, and the table adds up."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mnist_cnn import robustness


def _bar() -> np.ndarray:
    """Two images of an L-shaped stroke, 3 px wide, centred."""
    x = np.zeros((2, 28, 28), np.float32)
    x[:, 5:23, 12:15] = 1.0
    x[:, 20:23, 12:20] = 1.0
    return x


def _centre(im: np.ndarray) -> np.ndarray:
    rows, cols = np.indices(im.shape)
    return np.array([(rows * im).sum(), (cols * im).sum()]) / im.sum()


def test_shift_moves_the_centre_of_mass_by_that_many_pixels():
    x = _bar()
    moved = robustness.shift(x, 3)
    assert np.linalg.norm(_centre(moved[0]) - _centre(x[0])) == pytest.approx(3, abs=0.05)
    assert not np.allclose(_centre(moved[0]), _centre(moved[1])), "images move in different directions"


def test_rotation_alternates_direction_and_keeps_ink():
    x = _bar()
    turned = robustness.rotate(x, 30)
    assert not np.allclose(turned[0], turned[1])
    assert turned.sum() == pytest.approx(x.sum(), rel=0.05)


def test_scale_changes_the_ink_extent():
    x = _bar()
    assert robustness.scale(x, 0.7).sum() == pytest.approx(x.sum() * 0.49, rel=0.15)
    assert robustness.scale(x, 1.2).sum() > x.sum() * 1.3


def test_thickness_adds_or_removes_stroke_pixels():
    x = _bar()
    thin, thick, thicker = (robustness.thickness(x, p).sum() for p in (-1, 1, 2))
    assert thin < x.sum() < thick < thicker


def test_blur_and_low_resolution_keep_ink_but_soften_it():
    x = _bar()
    for out in (robustness.blur(x, 1.0), robustness.low_resolution(x, 10)):
        assert out.shape == x.shape and out.max() < 1.0
        assert out.sum() == pytest.approx(x.sum(), rel=0.1)
    assert np.allclose(robustness.low_resolution(x, 28), x, atol=1e-6)


class _Reader:
    """A stand-in model that reads the digit from ink mass: right on clean images, wrong on thin ones."""

    def __call__(self, images, training=False):
        mass = np.asarray(images).sum(axis=(1, 2, 3))
        out = np.zeros((len(mass), 10), np.float32)
        out[np.arange(len(mass)), (mass > 55).astype(int)] = 1.0
        return out


def test_table_losses_are_against_the_undistorted_accuracy(monkeypatch):
    monkeypatch.setattr(robustness, "PREPROCESS_IMAGES", 2)
    x = np.concatenate([_bar(), _bar()])
    labels = np.array([1, 1, 1, 1])
    report = robustness.measure(_Reader(), x, labels, log=lambda _: None)
    assert report["clean_accuracy"] == 1.0 and report["test_images"] == 4 and report["preprocessed_images"] == 2
    thin = next(r for r in report["rows"] if r["transform"] == "thickness" and r["strength"] == -1)
    assert thin["accuracy"] == 0.0 and thin["loss"] == 1.0
    names = {r["transform"] for r in report["rows"]}
    assert names == {"rotation", "shift", "scale", "thickness", "blur", "low resolution", "inverted"}
    json.dumps(report, allow_nan=False)
    table = robustness.format_table(report)
    assert "thickness" in table and "100.00 pp" in table


@pytest.mark.smoke
def test_evaluate_robustness_writes_table_json_and_plot(tmp_path, mnist, smoke_run, run_cli, monkeypatch):
    import shutil

    monkeypatch.setattr(robustness, "PREPROCESS_IMAGES", 50)
    run = tmp_path / smoke_run.root.name  # a copy of the shared smoke run: evaluate writes into it
    shutil.copytree(smoke_run.root, run)
    result = run_cli("evaluate", str(run), "--robustness", "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    table = report["robustness"]
    assert table["clean_accuracy"] == pytest.approx(report["test"]["accuracy"])
    assert table["test_images"] == 1000 and len(table["rows"]) == 19
    rotation = [r["accuracy"] for r in table["rows"] if r["transform"] == "rotation"]
    assert rotation[0] > rotation[-1], "a stronger rotation costs more accuracy"
    assert json.loads((run / "robustness.json").read_text()) == table
    assert (run / "plots" / "robustness.png").stat().st_size > 10_000
    # Without --json the same report is printed as a table: the report just measured is handed back
    # instead of measuring its 19 distortions again (that part is the call above).
    from mnist_cnn import evaluate

    monkeypatch.setattr(evaluate, "evaluate", lambda *_args, **_kwargs: report)
    text = run_cli("evaluate", str(run), "--robustness")
    assert text.code == 0, text.err
    assert "low resolution" in text.out and "preprocessed" in text.out and "inverted" in text.out
