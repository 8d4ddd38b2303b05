"""Number mode of POST /v1/predict in-process: the string, each digit's box and probabilities, its errors.

Fast tier: no TensorFlow, no dataset. The model is a NumPy template matcher over the synthetic
digits' glyphs, good enough to read well-spaced synthetic digits, so "42" must come back as "42".
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import ROOT
from mnist_cnn.inference import imaging
from mnist_cnn.inference.segment import UNCERTAIN_BELOW, read_number
from mnist_cnn.serve.app import Limits, create_app
from mnist_cnn.serve.model import ServedModel
from synthetic import _glyphs

FACTS = {"run": None, "name": "templates", "kind": "file", "runtime": "numpy", "test_accuracy": None}


class TemplateRuntime:
    """Probabilities from the cosine similarity to each synthetic glyph as preprocessing leaves it."""

    name = "numpy"

    def __init__(self):
        templates = np.stack([imaging.preprocess_array(glyph / 255).image for glyph in _glyphs()]).reshape(10, -1)
        self.templates = templates / np.linalg.norm(templates, axis=1, keepdims=True)
        self.batches: list[np.ndarray] = []

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        assert images.dtype == np.float32 and images.shape[1:] == (28, 28, 1)
        self.batches.append(images.copy())
        flat = images.reshape(len(images), -1)
        flat = flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-6)
        logits = 40 * flat @ self.templates.T
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


class NanRuntime(TemplateRuntime):
    """A broken model: every output is NaN."""

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return np.full((len(images), 10), np.nan, np.float32)


@pytest.fixture
def runtime() -> TemplateRuntime:
    return TemplateRuntime()


@pytest.fixture
def client(runtime) -> TestClient:
    app = create_app(ServedModel(runtime, FACTS), Limits(max_request_bytes=2_000_000, max_pixels=1_000_000))
    return TestClient(app, raise_server_exceptions=False)


def number_image(text: str, gap: int = 30, scale: int = 3) -> np.ndarray:
    """`text` in the synthetic glyphs, enlarged like a drawing on the pad: white ink on black, in [0, 1]."""
    tiles = []
    for char in text:
        glyph = Image.fromarray(_glyphs()[int(char)].astype(np.uint8)).resize((28 * scale,) * 2, Image.BILINEAR)
        tile = np.asarray(glyph, np.float32) / 255
        columns = np.flatnonzero(tile.max(axis=0) > 0.1)
        tiles.append(tile[:, columns[0] : columns[-1] + 1])
    width = sum(tile.shape[1] for tile in tiles) + gap * (len(tiles) - 1) + 40
    image = np.zeros((28 * scale + 40, width), np.float32)
    left = 20
    for tile in tiles:
        image[20 : 20 + tile.shape[0], left : left + tile.shape[1]] = tile
        left += tile.shape[1] + gap
    return image


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.round(image * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def read(client: TestClient, *images: dict, **extra):
    return client.post("/v1/predict", json={"images": list(images), "mode": "number", **extra})


def test_number_mode_reads_42_left_to_right_with_boxes_and_probabilities(client, runtime):
    image = number_image("42")
    response = read(client, {"pixels": image.tolist(), "name": "pad"}, include_image=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model"], body["mode"]) == ("templates", "number")
    (row,) = body["predictions"]
    assert (row["name"], row["text"]) == ("pad", "42")
    four, two = row["digits"]
    assert (four["digit"], two["digit"]) == (4, 2)
    height, width = image.shape
    for digit in row["digits"]:
        left, top, right, bottom = digit["box"]
        assert 0 <= left < right <= width and 0 <= top < bottom <= height
        assert image[top:bottom, left:right].max() > 0.5  # the box holds ink
        assert digit["probability"] == digit["probabilities"][digit["digit"]] == max(digit["probabilities"])
        assert digit["top_k"][0] == {"digit": digit["digit"], "probability": digit["probability"]}
        assert np.array(digit["image"]).shape == (28, 28)
    assert four["box"][2] <= two["box"][0]  # left to right, apart
    assert four["box"][2] < width / 2 < two["box"][0]
    assert row["confidence"] == min(four["probability"], two["probability"])
    assert row["uncertain"] == (row["confidence"] < UNCERTAIN_BELOW)

    # The answer is the inference layer's reading of the same picture, with the same model: nothing re-done.
    expected = read_number(image, runtime.probabilities)
    assert row["text"] == expected.text and row["notes"] == expected.notes
    for shown, digit in zip(row["digits"], expected.digits, strict=True):
        assert {k: shown[k] for k in ("box", "digit", "probability", "top_k", "notes")} == digit.to_json()
        assert shown["probabilities"] == [float(p) for p in digit.probabilities]
        assert np.array_equal(shown["image"], np.round(digit.image * 255))


def test_upload_data_url_and_pixels_read_the_same_number(client):
    image = number_image("42")
    data = png_bytes(image)
    upload = client.post("/v1/predict", files={"file": ("42.png", data, "image/png")}, data={"mode": "number"})
    url = read(client, {"data_url": "data:image/png;base64," + base64.b64encode(data).decode()})
    pixels = read(client, {"pixels": np.round(image * 255).tolist(), "scale": 255})
    assert upload.status_code == url.status_code == pixels.status_code == 200
    by_file, by_url, by_pixels = (r.json()["predictions"][0] for r in (upload, url, pixels))
    assert by_file["name"] == "42.png"
    assert by_file["digits"] == by_url["digits"]
    assert by_file["text"] == by_pixels["text"] == "42"
    assert [d["box"] for d in by_file["digits"]] == [d["box"] for d in by_pixels["digits"]]
    for a, b in zip(by_file["digits"], by_pixels["digits"], strict=True):
        np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-5)


def test_one_digit_photo_reads_as_in_digit_mode(client):
    """One digit in number mode: the model sees digit mode's 28×28 image, so the same digit and probabilities."""
    photo = ROOT / "samples" / "seven-photo.jpg"
    answers = [
        client.post("/v1/predict", files={"file": (photo.name, photo.read_bytes())}, data=options).json()
        for options in ({"include_image": "true"}, {"include_image": "true", "mode": "number"})
    ]
    (digit,), (number,) = (a["predictions"] for a in answers)
    assert [answer["mode"] for answer in answers] == ["digit", "number"]
    (only,) = number["digits"]
    assert number["text"] == str(digit["digit"]) == str(only["digit"])
    assert only["image"] == digit["image"]
    # Equal up to float rounding: number mode asks the model about several candidate readings in one batch.
    np.testing.assert_allclose(only["probabilities"], digit["probabilities"], rtol=1e-5, atol=1e-7)


def test_digit_mode_stays_the_default(client):
    pixels = _glyphs()[7] / 255  # 28×28
    default = client.post("/v1/predict", json={"images": [{"pixels": pixels.tolist()}]})
    explicit = client.post("/v1/predict", json={"images": [{"pixels": pixels.tolist()}], "mode": "digit"})
    assert default.status_code == explicit.status_code == 200
    assert default.json() == explicit.json()
    (row,) = default.json()["predictions"]
    assert default.json()["mode"] == "digit" and row["digit"] == 7 and "text" not in row


BLANK = np.zeros((60, 200)).tolist()
BAD = {
    "unknown mode": ({"json": {"images": [{"pixels": BLANK}], "mode": "numbers"}}, "mode: Input should be 'digit'"),
    "unknown form mode": (
        {"files": {"file": ("a.png", png_bytes(number_image("4")))}, "data": {"mode": "string"}},
        "'mode' must be 'digit' or 'number'",
    ),
    "mode sent as a file": (
        {"files": {"file": ("a.png", png_bytes(number_image("4"))), "mode": ("mode.txt", b"number")}},
        "'mode' must be 'digit' or 'number'",
    ),
    "blank picture": ({"json": {"images": [{"pixels": BLANK}], "mode": "number"}}, "images[0]: "),
    "3-D pixels": ({"json": {"images": [{"pixels": [BLANK]}], "mode": "number"}}, "expected a 2-D H×W array"),
    "sliver": ({"json": {"images": [{"pixels": [[0.5] * 400] * 4}], "mode": "number"}}, "too thin to hold a digit"),
    "over the pixel limit": (
        {"files": {"file": ("big.png", png_bytes(np.zeros((1001, 1000), np.float32)))}, "data": {"mode": "number"}},
        "more than the 1,000,000-pixel limit",
    ),
    "more than 12 digits": (
        {"json": {"images": [{"pixels": number_image("4" * 13, scale=1, gap=8).tolist()}], "mode": "number"}},
        "more than 12 digits",
    ),
}


@pytest.mark.parametrize("request_kwargs, fragment", BAD.values(), ids=BAD.keys())
def test_bad_number_requests_are_one_422_line_and_the_server_keeps_serving(client, request_kwargs, fragment):
    response = client.post("/v1/predict", **request_kwargs)
    assert response.status_code == 422, response.text
    assert list(response.json()) == ["error"] and fragment in response.json()["error"], response.json()
    assert "\n" not in response.json()["error"]
    assert read(client, {"pixels": number_image("42").tolist()}).json()["predictions"][0]["text"] == "42"


def test_explain_refuses_number_mode_with_one_line(client):
    response = client.post("/v1/explain", json={"images": [{"pixels": number_image("42").tolist()}], "mode": "number"})
    assert response.status_code == 422
    assert response.json() == {
        "error": "mode 'number' is for /v1/predict: /v1/explain looks inside one digit at a time"
    }


def test_a_model_answering_nan_is_a_500_naming_the_picture():
    client = TestClient(create_app(ServedModel(NanRuntime(), FACTS)), raise_server_exceptions=False)
    response = read(client, {"pixels": number_image("42").tolist(), "name": "pad"})
    assert response.status_code == 500
    assert response.json()["error"].startswith("pad: the model's output for this input is not a number")


def test_several_pictures_are_read_in_order_and_every_answer_matches_the_documented_schema(client):
    import jsonschema

    pictures = [{"pixels": number_image(text).tolist(), "name": text} for text in ("42", "7", "24")]
    response = read(client, *pictures, include_image=True)
    assert response.status_code == 200
    rows = response.json()["predictions"]
    assert [(row["name"], row["text"]) for row in rows] == [("42", "42"), ("7", "7"), ("24", "24")]
    operation = client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    jsonschema.validate(response.json(), schema)
    digit_mode = client.post("/v1/predict", json={"images": [{"pixels": (_glyphs()[4] / 255).tolist()}]}).json()
    jsonschema.validate(digit_mode, schema)
    with pytest.raises(jsonschema.ValidationError):  # the schema can fail: a row without its digits does
        jsonschema.validate({**response.json(), "predictions": [{**rows[0], "digits": None}]}, schema)


def test_openapi_documents_the_mode_and_the_number_answer(client):
    operation = client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]
    bodies = operation["requestBody"]["content"]
    for media in ("application/json", "multipart/form-data"):
        mode = bodies[media]["schema"]["properties"]["mode"]
        assert mode["enum"] == ["digit", "number"] and mode["default"] == "digit"
    rows = operation["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["predictions"]
    number = next(row for row in rows["items"]["anyOf"] if row["title"] == "NumberPrediction")
    assert set(number["required"]) == {"name", "text", "confidence", "uncertain", "notes", "digits"}
    assert set(number["properties"]["digits"]["items"]["required"]) == {
        "box", "digit", "probability", "probabilities", "top_k", "notes"
    }  # fmt: skip
