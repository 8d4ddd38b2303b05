"""The HTTP API in-process (the framework's test client) with a small NumPy model: no TensorFlow, no server."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from conftest import ROOT
from mnist_cnn.inference import imaging
from mnist_cnn.serve.app import STATIC, Limits, create_app
from mnist_cnn.serve.inputs import MAX_IMAGES
from mnist_cnn.serve.model import ServedModel
from mnist_cnn.serve.server import is_loopback

SAMPLES = ROOT / "samples"
FACTS = {"run": "runs/demo", "name": "demo", "kind": "checkpoint", "runtime": "numpy", "test_accuracy": 0.99}


class LinearRuntime:
    """A fixed random linear model with softmax: deterministic, and it records every batch it saw."""

    name = "numpy"

    def __init__(self):
        self.weights = np.random.default_rng(0).normal(size=(784, 10)).astype(np.float32)
        self.batches: list[np.ndarray] = []

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        assert images.dtype == np.float32 and images.shape[1:] == (28, 28, 1)
        self.batches.append(images.copy())
        logits = images.reshape(len(images), 784) @ self.weights
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def runtime() -> LinearRuntime:
    return LinearRuntime()


@pytest.fixture
def client(runtime) -> TestClient:
    app = create_app(ServedModel(runtime, FACTS), Limits(max_request_bytes=2_000_000, max_pixels=1_000_000))
    return TestClient(app, raise_server_exceptions=False)


def digit_pixels() -> np.ndarray:
    """A bar-and-hook "7"-ish stroke, white on black, in [0, 1]."""
    pixels = np.zeros((28, 28), np.float32)
    pixels[6:8, 8:20] = 1.0
    for row in range(8, 24):
        pixels[row, 19 - (row - 8) // 2 : 21 - (row - 8) // 2] = 1.0
    return pixels


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.round(array * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


def predict_json(client: TestClient, *images: dict, **extra):
    return client.post("/v1/predict", json={"images": list(images), **extra})


def test_health_and_model_facts(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/v1/model").json() == FACTS


def test_pixel_array_answers_digit_and_ten_probabilities(client, runtime):
    pixels = digit_pixels()
    response = predict_json(client, {"pixels": pixels.tolist()}, include_image=True)
    assert response.status_code == 200
    (row,) = response.json()["predictions"]
    assert row["name"] == "images[0]" and len(row["probabilities"]) == 10
    assert sum(row["probabilities"]) == pytest.approx(1.0, abs=1e-5)
    assert row["digit"] == int(np.argmax(row["probabilities"])) and row["probability"] == max(row["probabilities"])
    seen = np.array(row["image"])
    assert seen.shape == (28, 28) and seen.min() >= 0 and seen.max() == 255
    expected = imaging.preprocess_array(pixels).image
    np.testing.assert_array_equal(runtime.batches[-1][0, ..., 0], expected)
    assert np.array_equal(seen, np.round(expected * 255))


def test_flat_784_and_0_255_scale_give_the_same_answer(client):
    pixels = digit_pixels()
    square = predict_json(client, {"pixels": pixels.tolist()}).json()["predictions"][0]
    flat = predict_json(client, {"pixels": pixels.ravel().tolist()}).json()["predictions"][0]
    bytes_scale = predict_json(client, {"pixels": (pixels * 255).tolist(), "scale": 255}).json()["predictions"][0]
    assert square["probabilities"] == flat["probabilities"] == bytes_scale["probabilities"]
    assert "image" not in square


def test_upload_data_url_and_predict_preprocessing_agree(client, runtime):
    """A file uploaded, the same file as a data URL, and `predict`'s preprocessing of it: one image, one answer."""
    path = SAMPLES / "two-photo.png"
    upload = client.post("/v1/predict", files={"file": (path.name, path.read_bytes(), "image/png")})
    as_url = predict_json(client, {"data_url": data_url(path.read_bytes()), "name": "two"})
    assert upload.status_code == as_url.status_code == 200
    by_file, by_url = upload.json()["predictions"][0], as_url.json()["predictions"][0]
    assert (by_file["name"], by_url["name"]) == ("two-photo.png", "two")
    assert by_file["probabilities"] == by_url["probabilities"]
    expected = imaging.preprocess_file(path)
    assert by_file["notes"] == list(expected.notes)
    for batch in runtime.batches:
        np.testing.assert_array_equal(batch[0, ..., 0], expected.image)


def test_several_files_keep_their_order_and_names(client):
    paths = sorted(SAMPLES.glob("*-photo.*"))[:4]
    files = [("file", (p.name, p.read_bytes(), "application/octet-stream")) for p in paths]
    response = client.post("/v1/predict", files=files, data={"include_image": "true"})
    assert response.status_code == 200
    rows = response.json()["predictions"]
    assert [r["name"] for r in rows] == [p.name for p in paths]
    assert all(np.array(r["image"]).shape == (28, 28) for r in rows)


def bomb_png() -> bytes:
    """A few kilobytes of PNG that would decode to 4 megapixels (over the test's 1-megapixel limit)."""
    buffer = io.BytesIO()
    Image.new("1", (2000, 2000)).save(buffer, format="PNG")
    return buffer.getvalue()


def truncated_png() -> bytes:
    data = png_bytes(np.tile(np.linspace(0, 1, 200, dtype=np.float32), (200, 1)))
    return data[: len(data) // 2]


BAD_JSON = {
    "unknown top-level field": ({"images": [{"pixels": [0] * 784}], "colour": 1}, 422, "colour: unknown field"),
    "unknown image field": ({"images": [{"pixels": [0] * 784, "dpi": 72}]}, 422, "images[0].dpi: unknown field"),
    "no images": ({"images": []}, 422, "images: List should have at least 1 item"),
    "not an object": ([1, 2], 422, "request body: Input should be an object"),
    "wrong shape": ({"images": [{"pixels": [[0.0] * 27] * 28}]}, 422, "shape 28×27; expected 28×28"),
    "ragged rows": ({"images": [{"pixels": [[0.0] * 28, [0.0]]}]}, 422, "array of numbers"),
    "text pixels": ({"images": [{"pixels": ["white"] * 784}]}, 422, "array of numbers"),
    "over range": ({"images": [{"pixels": [2.0] * 784}]}, 422, 'in [0, 1] (send "scale": 255'),
    "negative": ({"images": [{"pixels": [-1] * 784, "scale": 255}]}, 422, "in [0, 255]"),
    "bad scale": ({"images": [{"pixels": [0] * 784, "scale": 100}]}, 422, "'scale' must be 1"),
    "both kinds": ({"images": [{"pixels": [0] * 784, "data_url": "data:,"}]}, 422, "exactly one of"),
    "blank canvas": ({"images": [{"pixels": [0] * 784}]}, 422, "images[0]: no digit found"),
    "not a data URL": ({"images": [{"data_url": "http://example.invalid/x.png"}]}, 422, "must look like data:image"),
    "bad base64": ({"images": [{"data_url": "data:image/png;base64,@@@"}]}, 422, "invalid base64"),
    "data URL not an image": (
        {"images": [{"data_url": "data:image/png;base64," + base64.b64encode(b"hello").decode()}]},
        422,
        "not an image file",
    ),
    "data URL bomb": ({"images": [{"data_url": data_url(bomb_png())}]}, 422, "more than the 1,000,000-pixel limit"),
    "too many images": ({"images": [{"pixels": [0] * 784}] * (MAX_IMAGES + 1)}, 422, "at most 64 items"),
    "include_image not a flag": ({"images": [{"pixels": [0] * 784}], "include_image": "maybe"}, 422, "include_image"),
}


def assert_one_line_error(response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"] and "\n" not in body["error"] and "Traceback" not in body["error"]
    assert fragment in body["error"], body["error"]


@pytest.mark.parametrize("payload, status, fragment", BAD_JSON.values(), ids=BAD_JSON.keys())
def test_bad_json_is_one_4xx_json_error_and_the_server_keeps_serving(client, payload, status, fragment):
    assert_one_line_error(client.post("/v1/predict", json=payload), status, fragment)
    assert predict_json(client, {"pixels": digit_pixels().tolist()}).status_code == 200


JSON = {"content-type": "application/json"}
NAN_PIXELS = b'{"images": [{"pixels": [%s]}]}' % b",".join([b"NaN"] * 784)  # Python's JSON extension
BAD_REQUESTS = {
    "not an image": ({"files": {"file": ("notes.txt", b"just some text", "text/plain")}}, 422, "not an image file"),
    "empty file": ({"files": {"file": ("empty.png", b"", "image/png")}}, 422, "file is empty"),
    "truncated": ({"files": {"file": ("cut.png", truncated_png(), "image/png")}}, 422, "truncated or corrupt"),
    "decompression bomb": ({"files": {"file": ("bomb.png", bomb_png(), "image/png")}}, 422, "pixel limit"),
    "unknown form field": (
        {"files": {"file": ("a.png", b"x", "image/png")}, "data": {"colour": "red"}},
        422,
        "unknown form field 'colour'",
    ),
    "text instead of file": ({"files": {"x": (None, "y")}, "data": {"file": "a.png"}}, 422, "must be a file upload"),
    "multipart without files": ({"files": {"include_image": (None, "true")}}, 422, "no image: send one or more"),
    "url-encoded form": ({"data": {"include_image": "true"}}, 415, "unsupported content type"),
    "empty body": ({"content": b"", "headers": JSON}, 400, "request body is empty"),
    "invalid JSON": ({"content": b'{"images": [', "headers": JSON}, 400, "not valid JSON"),
    "NaN pixels": ({"content": NAN_PIXELS, "headers": JSON}, 422, "finite numbers"),
    "wrong content type": ({"content": b"7", "headers": {"content-type": "text/plain"}}, 415, "'text/plain'"),
    "unknown query parameter": ({"params": {"top_k": "3"}, "json": {"images": []}}, 422, "unknown query parameter"),
    "over the size limit": ({"files": {"file": ("big.png", b"\0" * 2_100_000, "image/png")}}, 413, "2,000,000-byte"),
}


@pytest.mark.parametrize("kwargs, status, fragment", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_requests_are_one_4xx_json_error(client, kwargs, status, fragment):
    assert_one_line_error(client.post("/v1/predict", **kwargs), status, fragment)
    assert client.get("/healthz").status_code == 200


def test_streamed_body_over_the_limit_is_cut_off(client):
    """No Content-Length (chunked upload): the limit is counted as the body arrives."""

    def chunks():
        for _ in range(40):
            yield b"{" * 100_000

    response = client.post("/v1/predict", content=chunks(), headers={"content-type": "application/json"})
    assert_one_line_error(response, 413, "byte limit")


def test_unknown_pages_and_methods_are_json_errors(client):
    assert_one_line_error(client.get("/nope"), 404, "no such page: /nope")
    assert_one_line_error(client.get("/v1/predict"), 405, "GET is not allowed")


def test_unexpected_failure_is_a_json_500_without_traceback():
    class Broken:
        name = "broken"

        def probabilities(self, images):
            raise RuntimeError("secret internals")

    client = TestClient(create_app(ServedModel(Broken(), FACTS)), raise_server_exceptions=False)
    response = predict_json(client, {"pixels": digit_pixels().tolist()})
    assert response.status_code == 500
    assert response.json() == {"error": "internal error (RuntimeError); the server log has details"}


def test_openapi_describes_both_request_bodies(client):
    spec = client.get("/openapi.json").json()
    body = spec["paths"]["/v1/predict"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}
    image = body["application/json"]["schema"]["properties"]["images"]["items"]
    assert {"pixels", "data_url", "scale", "name"} <= set(image["properties"])
    assert "$ref" not in json.dumps(body)
    assert {"/v1/model", "/healthz"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200


def test_page_and_its_assets_ship_in_the_package_and_need_no_network(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    for asset in ("/static/app.js", "/static/number.js", "/static/explain.js", "/static/style.css"):
        assert asset in page.text and client.get(asset).status_code == 200
    for path in Path(STATIC).iterdir():
        text = path.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path.name
    assert '<button type="button" id="clear">Clear</button>' in page.text


@pytest.mark.parametrize(
    "host, loopback", [("127.0.0.1", True), ("localhost", True), ("::1", True), ("0.0.0.0", False), ("10.0.0.5", False)]
)
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback
