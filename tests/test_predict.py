"""`predict` and `evaluate` end to end on a smoke-trained run, including every kind of bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, checkpoint_path
from mnist_cnn.runs import rundir

pytestmark = pytest.mark.smoke
SAMPLES = ROOT / "samples"


@pytest.fixture
def trained(smoke_run) -> rundir.RunDir:
    return smoke_run


def test_evaluate_reproduces_metrics_json(run_cli, trained):
    result = run_cli("evaluate", str(trained.root), "--json")
    assert result.code == 0, result.err
    got = json.loads(result.out)["test"]
    recorded = json.loads(trained.metrics.read_text())["test"]
    assert got["accuracy"] == pytest.approx(recorded["accuracy"], abs=1e-6)
    assert got["loss"] == pytest.approx(recorded["loss"], abs=1e-6)
    assert got["confusion_matrix"] == recorded["confusion_matrix"]
    assert (trained.root / "evaluation.json").is_file()
    text = run_cli("evaluate", str(trained.root), "--checkpoint", "best")
    assert text.code == 0 and "Accuracy:" in text.out and "true\\pred" in text.out


def test_evaluate_refuses_a_tampered_checkpoint(run_cli, trained, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(trained.root, copy)
    last = checkpoint_path(rundir.RunDir(copy), "last")
    last.write_bytes(last.read_bytes() + b"\0")
    result = run_cli("evaluate", str(copy), "--checkpoint", "last")
    assert result.code == 1
    assert "SHA-256 differs from the one recorded in the run's manifest" in result.err


def test_predict_samples_reads_at_least_nine_of_the_ten_photos(run_cli, trained):
    result = run_cli("predict", str(SAMPLES), "--model", str(trained.root), "--json")
    assert result.code == 0, result.err
    report = json.loads(result.out)
    names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    assert len(report["predictions"]) == 10 and report["errors"] == []
    correct = sum(names[p["digit"]] == Path(p["path"]).name.split("-")[0] for p in report["predictions"])
    assert correct >= 9, report["predictions"]  # a 3-epoch smoke model; the full recipe gets all 10
    first = report["predictions"][0]
    assert set(first) >= {"path", "digit", "probability", "top_k", "notes"}
    assert len(first["top_k"]) == 3 and first["top_k"][0]["digit"] == first["digit"]


def test_mnist_test_images_as_png_keep_their_label(trained, mnist, tmp_path):
    """MNIST test digits saved as PNG and run through predict get the raw arrays' label (≥ 99.5%)."""
    from mnist_cnn.inference import modelfiles, predict

    count = 1000
    for i in range(count):
        Image.fromarray(mnist.x_test[i]).save(tmp_path / f"{i:05d}.png")
    model = modelfiles.load(modelfiles.from_run(trained))
    report = predict.run(lambda: model, [str(tmp_path)], top_k=1)
    assert not report.errors and len(report.predictions) == count
    from_png = np.array([p.digit for p in report.predictions])
    raw = predict.classify(model, mnist.x_test[:count, ..., None].astype(np.float32) / 255).argmax(axis=1)
    assert np.mean(from_png == raw) >= 0.995


def test_latest_run_is_used_by_default_and_named(run_cli, trained):
    result = run_cli("predict", str(SAMPLES / "seven-photo.jpg"), "--runs-dir", str(trained.root.parent))
    assert result.code == 0, result.err
    assert f"Model: {trained.root}" in result.out
    assert "seven-photo.jpg: " in result.out


def test_save_preprocessed_writes_what_the_model_saw(run_cli, trained, tmp_path):
    out = tmp_path / "seen"
    result = run_cli(
        "predict", str(SAMPLES / "two-photo.png"), "--model", str(trained.root), "--save-preprocessed", str(out)
    )
    assert result.code == 0
    with Image.open(out / "two-photo.png") as image:
        assert image.size == (28, 28) and image.mode == "L"
        pixels = np.asarray(image)
    assert pixels[0].max() == 0 and pixels.max() == 255  # black border, white ink


def _bad_inputs(folder: Path) -> dict[str, str]:
    """Every kind of bad input, keyed by file name, with the message expected for it."""
    (folder / "empty.png").write_bytes(b"")
    (folder / "text.png").write_text("this is not an image")
    good = SAMPLES / "eight-photo.png"
    (folder / "truncated.png").write_bytes(good.read_bytes()[:2000])
    Image.new("L", (1, 20000), 255).save(folder / "sliver.png")
    Image.new("L", (300, 200), 245).save(folder / "blank.png")
    (folder / "unknown.xyz").write_bytes(b"\x00\x01garbage" * 20)
    _bomb(folder / "bomb.png")
    return {
        "empty.png": "empty",
        "text.png": "not an image",
        "truncated.png": "truncated",
        "sliver.png": "1×20000",
        "blank.png": "no digit found",
        "unknown.xyz": "not an image",
        "bomb.png": "pixel",
        "missing.png": "no such file or folder",
    }


def _bomb(path: Path) -> None:
    """A small PNG whose header claims 30000×30000 pixels."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 30000, 30000, 1, 0, 0, 0, 0)
    body = zlib.compress(b"\0" * 4000)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def test_bad_inputs_get_one_line_each_and_the_rest_still_work(run_cli, trained, tmp_path):
    expected = _bad_inputs(tmp_path)
    empty_folder = tmp_path / "nothing-here"
    empty_folder.mkdir()
    args = [str(tmp_path / name) for name in expected] + [str(empty_folder), str(SAMPLES / "four-photo.gif")]
    result = run_cli("predict", *args, "--model", str(trained.root), "--json")
    assert result.code == 1
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == len(expected) + 1
    for name, fragment in expected.items():
        (line,) = [line for line in lines if line.startswith(str(tmp_path / name) + ":")]
        assert fragment in line, line
    assert any(line.startswith(f"{empty_folder}: no image files in this folder") for line in lines)
    report = json.loads(result.out)
    assert [Path(p["path"]).name for p in report["predictions"]] == ["four-photo.gif"]
    assert len(report["errors"]) == len(expected) + 1


def test_animated_image_uses_first_frame_and_says_so(run_cli, trained, tmp_path):
    frames = [Image.open(SAMPLES / "seven-photo.jpg").convert("L"), Image.new("L", (360, 360), 255)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    result = run_cli("predict", str(tmp_path / "anim.gif"), "--model", str(trained.root))
    assert result.code == 0
    assert "animated image" in result.out and "first frame" in result.out


def _h5_file(folder: Path) -> Path:
    (folder / "model.h5").write_bytes(b"x")
    return folder / "model.h5"


def _not_a_zip(folder: Path) -> Path:
    (folder / "model.keras").write_bytes(b"not a zip")
    return folder / "model.keras"


@pytest.mark.parametrize(
    "make,message",
    [
        (_h5_file, "only .keras, .onnx and .tflite model files are accepted"),
        (_not_a_zip, "not a valid .keras archive"),
        (lambda folder: folder / "missing.keras", "no such model file or run directory"),
    ],
)
def test_bad_model_files(run_cli, tmp_path, make, message):
    result = run_cli("predict", str(SAMPLES / "one-photo.png"), "--model", str(make(tmp_path)))
    assert result.code == 1
    assert message in result.err and "Traceback" not in result.err


def test_model_with_wrong_input_shape_is_refused(run_cli, tmp_path):
    import keras

    model = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")]
    )
    model.save(tmp_path / "cifar.keras")
    result = run_cli("predict", str(SAMPLES / "one-photo.png"), "--model", str(tmp_path / "cifar.keras"))
    assert result.code == 1
    assert "model input is (None, 32, 32, 3), expected (None, 28, 28, 1)" in result.err


def test_usage_errors_exit_2(run_cli):
    assert run_cli("predict").code == 2
    assert run_cli("predict", "x.png", "--top-k", "0").code == 2
    assert run_cli("evaluate").code == 2


def test_evaluate_prints_its_results_even_where_it_cannot_write(run_cli, trained, tmp_path, monkeypatch):
    import errno

    from mnist_cnn import atomic

    copy = tmp_path / "run"
    shutil.copytree(trained.root, copy)
    (copy / "evaluation.json").unlink(missing_ok=True)  # an earlier test may have evaluated the shared run

    def read_only(path, payload):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic, "write_json", read_only)
    result = run_cli("evaluate", str(copy), "--json")
    assert result.code == 0
    assert json.loads(result.out)["test"]["num_examples"] == 1000
    assert "could not write evaluation.json" in result.err
    assert not (copy / "evaluation.json").exists()
