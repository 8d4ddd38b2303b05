"""POST /v1/explain through FastAPI's test client, on NumPy models (fast tier, no TensorFlow)."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from fastapi.testclient import TestClient

from mnist_cnn.explain.explainer import Explainer
from mnist_cnn.explain.layers import FeatureLayer
from mnist_cnn.serve.app import MAX_EXPLAIN_IMAGES, create_app
from mnist_cnn.serve.model import ServedModel

FACTS = {"name": "demo", "kind": "checkpoint", "runtime": "numpy"}  # no "file": no feature maps to find


class BandRuntime:
    """Digit k's logit is the ink in rows 4 + 2k and 5 + 2k; it records every batch it saw."""

    name = "numpy"

    def __init__(self):
        self.batches: list[np.ndarray] = []

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        self.batches.append(images)
        logits = images[:, 4:24, :, 0].reshape(len(images), 10, 2 * 28).sum(axis=2)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def digit_pixels() -> np.ndarray:
    """A "T"-like digit, white on black, in [0, 1]: its bar lies in BandRuntime's band 2 (rows 8-9)."""
    pixels = np.zeros((28, 28), np.float32)
    pixels[8:10, 6:22] = 1.0
    pixels[10:22, 13:15] = 0.8
    return pixels


def assert_one_line_error(response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and "\n" not in body["error"] and fragment in body["error"], body


class PooledFeatures:
    """A fake feature source: one 'layer' that is the image max-pooled 7×7 into 4×4, twice (x and 1 - x)."""

    layers = [FeatureLayer("pool", "MaxPooling2D", (4, 4, 2))]

    def __init__(self, runtime):
        self.runtime = runtime

    def outputs(self, images):
        pooled = images[..., 0].reshape(len(images), 4, 7, 4, 7).max(axis=(2, 4))
        return self.runtime.probabilities(images), [np.stack([pooled, 1 - pooled], axis=-1)]


@pytest.fixture
def runtime():
    return BandRuntime()


def client_for(runtime, explainer=None) -> TestClient:
    return TestClient(create_app(ServedModel(runtime, FACTS), explainer=explainer), raise_server_exceptions=False)


def test_explain_answers_what_predict_answers_plus_saliency_and_feature_maps(runtime):
    client = client_for(runtime, Explainer(runtime, PooledFeatures(runtime)))
    body = {"images": [{"pixels": digit_pixels().tolist(), "name": "seven"}], "include_image": True}
    explained = client.post("/v1/explain", json=body)
    assert explained.status_code == 200, explained.text
    row = explained.json()["predictions"][0]
    predicted = client.post("/v1/predict", json=body).json()["predictions"][0]
    assert {k: v for k, v in row.items() if k != "explanation"} == predicted
    explanation = row["explanation"]
    grid = np.asarray(explanation["saliency"]["grid"])
    assert grid.shape == (28, 28) and np.abs(grid).max() > 0
    (layer,) = explanation["layers"]
    assert layer["name"] == "pool" and layer["shape"] == [4, 4, 2]
    tiles = np.frombuffer(base64.b64decode(layer["maps"]), np.uint8).reshape(2, 4, 4)
    _, (expected,) = PooledFeatures(runtime).outputs(np.asarray(row["image"], np.float32)[None, ..., None] / 255)
    assert tiles[0].max() == 255 and (tiles[0] > 0).sum() == (expected[0, ..., 0] > 0).sum()
    assert explanation["feature_maps_missing"] is None


def test_without_a_model_file_explain_still_gives_saliency_and_says_why_no_maps(runtime):
    row = client_for(runtime).post("/v1/explain", json={"images": [{"pixels": digit_pixels().tolist()}]}).json()
    explanation = row["predictions"][0]["explanation"]
    assert explanation["layers"] == [] and explanation["feature_maps"] is None
    assert "no feature maps" in explanation["feature_maps_missing"]
    assert np.abs(np.asarray(explanation["saliency"]["grid"])).max() > 0


def test_explain_refuses_more_images_than_it_explains_at_once(runtime):
    images = [{"pixels": digit_pixels().tolist()}] * (MAX_EXPLAIN_IMAGES + 1)
    response = client_for(runtime).post("/v1/explain", json={"images": images})
    assert_one_line_error(response, 422, f"at most {MAX_EXPLAIN_IMAGES}")
    assert not runtime.batches  # refused before any image was preprocessed or classified


@pytest.mark.parametrize(
    "kwargs, status, fragment",
    [
        ({"content": b'{"images": [', "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
        ({"files": {"file": ("notes.txt", b"just some text", "text/plain")}}, 422, "not an image file"),
        ({"content": b"7", "headers": {"content-type": "text/plain"}}, 415, "'text/plain'"),
        ({"params": {"top_k": "3"}, "json": {"images": []}}, 422, "unknown query parameter"),
    ],
    ids=["invalid JSON", "not an image", "wrong content type", "query parameter"],
)
def test_explain_gives_predicts_4xx_json_errors(runtime, kwargs, status, fragment):
    client = client_for(runtime)
    assert_one_line_error(client.post("/v1/explain", **kwargs), status, fragment)
    assert_one_line_error(client.post("/v1/predict", **kwargs), status, fragment)


def test_openapi_documents_explain_with_both_request_bodies(runtime):
    spec = client_for(runtime).get("/openapi.json").json()
    operation = spec["paths"]["/v1/explain"]["post"]
    assert set(operation["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert "saliency" in operation["description"] and "feature_maps_missing" in operation["description"]
