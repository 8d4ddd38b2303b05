"""`predict` on pictures of numbers: JSON shape, --single, per-digit --save-preprocessed, the CLI's line.

Fast tier: font digits (tests/segment_ink.py) and the template classifier behind predict's Runtime interface.
"""

from __future__ import annotations

import json

import numpy as np
from PIL import Image
from segment_ink import TemplateRuntime, write

from mnist_cnn.inference import imaging, predict

TODAY_FIELDS = {"path", "digit", "probability", "top_k", "notes", "preprocessed"}
NUMBER_FIELDS = {"text", "confidence", "uncertain", "digits"}


def save(gray: np.ndarray, path) -> str:
    Image.fromarray(np.round(gray * 255).astype(np.uint8)).save(path)
    return str(path)


def test_a_number_and_a_digit_in_one_call(tmp_path):
    number, digit = save(write("2026"), tmp_path / "year.png"), save(write("7"), tmp_path / "seven.png")
    report = predict.run(TemplateRuntime, [number, digit], top_k=3, save_dir=tmp_path / "seen")
    assert not report.errors
    year, seven = report.predictions
    data = json.loads(json.dumps(year.to_json(), allow_nan=False))
    assert set(data) == TODAY_FIELDS | NUMBER_FIELDS
    assert data["text"] == "2026" and data["digit"] is None and data["top_k"] == []
    assert data["confidence"] == data["probability"] == min(d["probability"] for d in data["digits"])
    assert [d["digit"] for d in data["digits"]] == [2, 0, 2, 6]
    for entry in data["digits"]:
        assert set(entry) == {"box", "digit", "probability", "top_k", "notes", "preprocessed"}
        saved = np.asarray(Image.open(entry["preprocessed"]))
        assert saved.shape == (28, 28) and saved.max() == 255  # each digit's 28×28, as the model saw it
    assert sorted(p.name for p in (tmp_path / "seen").iterdir()) == [
        "seven.png", "year-digit1.png", "year-digit2.png", "year-digit3.png", "year-digit4.png"
    ]  # fmt: skip
    # A single digit keeps today's fields and values, and gains the number's.
    today = imaging.preprocess_file(digit)
    single = seven.to_json()
    assert single["digit"] == 7 and single["text"] == "7" and len(single["digits"]) == 1
    assert single["top_k"][0]["digit"] == 7 and single["notes"] == list(today.notes)
    assert np.array_equal(seven.image, today.image)


def test_single_reads_the_whole_picture_as_one_digit(tmp_path):
    number = save(write("2026"), tmp_path / "year.png")
    (reading,) = predict.run(TemplateRuntime, [number], single=True).predictions
    assert reading.digit is not None and len(reading.text) == 1
    assert np.array_equal(reading.image, imaging.preprocess_file(number).image)


def test_unreadable_numbers_are_errors_the_others_still_read(tmp_path):
    long = save(write("1234567890123", gaps=10), tmp_path / "long.png")
    fine = save(write("42", gaps=20), tmp_path / "fine.png")
    report = predict.run(TemplateRuntime, [long, fine])
    assert [p.text for p in report.predictions] == ["42"]
    assert len(report.errors) == 1 and "more than 12 digits" in report.errors[0]["error"]


def test_cli_prints_the_number_with_its_digits(run_cli, tmp_path, monkeypatch):
    from mnist_cnn.inference import modelfiles, runtimes

    number = save(write("2026"), tmp_path / "street-number.png")
    model = tmp_path / "model.onnx"
    model.write_bytes(b"stand-in")  # never opened: the runtime is the template classifier
    monkeypatch.setattr(modelfiles, "resolve", lambda *a, **k: modelfiles.ModelSource(model))
    monkeypatch.setattr(runtimes, "load_runtime", lambda source: TemplateRuntime())
    result = run_cli("predict", number, "--model", str(model))
    assert result.code == 0, result.err
    line = next(line for line in result.out.splitlines() if line.startswith(number))
    assert line.startswith(f"{number}: 2026  (digits 2 0 2 6; lowest confidence 0.")
