"""schemathesis (a third-party OpenAPI fuzzer) against the in-process app: every answer is documented.

Every generated request, valid or not, gets a 2xx or a 4xx the schema lists: never a 5xx, never a
status the schema does not name, always JSON of the documented shape. Bounded: a fixed number of
generated cases per operation, derandomized so a failure reproduces.

One schemathesis check is left out, on purpose: "schema-valid request rejected". A schema can say
"a file" or "a data URL" but not "bytes that decode to an image", so random bytes are schema-valid
and get the documented 422 naming the input; that answer is the contract, not a defect.
"""

from __future__ import annotations

import numpy as np
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from mnist_cnn.serve.app import Limits, create_app
from mnist_cnn.serve.model import ServedModel

FACTS = {"run": None, "name": "linear", "kind": "file", "runtime": "numpy", "test_accuracy": None}


class LinearRuntime:
    """A fixed random linear model with softmax: no TensorFlow, no model file."""

    name = "numpy"

    def __init__(self):
        self.weights = np.random.default_rng(0).normal(size=(784, 10)).astype(np.float32)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        logits = images.reshape(len(images), 784) @ self.weights
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


APP = create_app(ServedModel(LinearRuntime(), FACTS), Limits(max_request_bytes=200_000, max_pixels=100_000, threads=2))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)


@schema.parametrize()
@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_schema_valid_request_gets_a_documented_answer(case):
    case.call_and_validate(excluded_checks=[positive_data_acceptance])


class NanRuntime(LinearRuntime):
    """A broken model: every output is NaN."""

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        return np.full((len(images), 10), np.nan, np.float32)


def test_a_model_answering_nan_is_a_documented_500_in_strict_json():
    from fastapi.testclient import TestClient

    client = TestClient(create_app(ServedModel(NanRuntime(), FACTS)), raise_server_exceptions=False)
    pixels = np.zeros((28, 28))
    pixels[5:23, 13:15] = 1.0
    response = client.post("/v1/predict", json={"images": [{"pixels": pixels.tolist(), "name": "bar"}]})
    assert response.status_code == 500
    body = response.json()  # strict JSON: no NaN anywhere
    assert body == {"error": "bar: the model's output for this input is not a number (NaN or infinity); "
                             "the model file is broken"}  # fmt: skip
    documented = client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]["responses"]
    assert {"200", "400", "413", "415", "422", "500"} <= set(documented)
