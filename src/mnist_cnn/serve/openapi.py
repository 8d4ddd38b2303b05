"""The service's OpenAPI answers: every status each operation gives, with the JSON shape of each.

schemathesis (tests/test_serve_schema.py) checks the running app against them: a status missing here
is a test failure, not a surprise for a client.
"""

from __future__ import annotations

from typing import Any

ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
OBJECT = {"type": "object"}
HEALTH = {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]}
PREDICTIONS = {
    "type": "object",
    "properties": {
        "model": {"type": ["string", "null"]},
        "predictions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "digit": {"type": "integer", "minimum": 0, "maximum": 9},
                    "probability": {"type": "number", "minimum": 0, "maximum": 1},
                    "probabilities": {"type": "array", "items": {"type": "number"}, "minItems": 10, "maxItems": 10},
                    "notes": {"type": "array", "items": {"type": "string"}},
                    "image": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
                },
                "required": ["name", "digit", "probability", "probabilities", "notes"],
            },
        },
    },
    "required": ["model", "predictions"],
}
_COMMON_ERRORS = {
    413: "The request body is over the size limit (--max-request-bytes)",
    500: "The server failed (e.g. the model's output is not a number); the server log has details",
}


def answers(ok: dict[int, tuple[str, dict]], errors: dict[int, str] | None = None) -> dict[int | str, Any]:
    """OpenAPI responses: the successful ones with their schemas, then every error as {"error": "<one line>"}."""
    out: dict[int | str, Any] = {
        code: {"description": text, "content": {"application/json": {"schema": schema}}}
        for code, (text, schema) in ok.items()
    }
    for code, text in {**(errors or {}), **_COMMON_ERRORS}.items():
        out[code] = {"description": text, "content": {"application/json": {"schema": ERROR}}}
    return out


INPUT_ERRORS = {
    400: "The body is empty or not valid JSON",
    415: "The content type is neither application/json nor multipart/form-data",
    422: "The body is well-formed but cannot be used (the message names the input and the problem)",
}
PREDICT_RESPONSES = answers({200: ("The digit read in each image, in order", PREDICTIONS)}, INPUT_ERRORS)
EXPLAIN_RESPONSES = answers({200: ("Each image's digit with its `explanation`", PREDICTIONS)}, INPUT_ERRORS)
