"""The service's OpenAPI: every status each operation gives, with the JSON shape of each, and the request bodies.

schemathesis (tests/test_serve_schema.py) checks the running app against them: a status missing here
is a test failure, not a surprise for a client.
"""

from __future__ import annotations

from typing import Any

from mnist_cnn.serve import inputs

ERROR = {"type": "object", "properties": {"error": {"type": "string"}}, "required": ["error"]}
OBJECT = {"type": "object"}
HEALTH = {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]}
PROBABILITIES = {"type": "array", "items": {"type": "number"}, "minItems": 10, "maxItems": 10}
PROBABILITY = {"type": "number", "minimum": 0, "maximum": 1}
DIGIT = {"type": "integer", "minimum": 0, "maximum": 9}
NOTES = {"type": "array", "items": {"type": "string"}}
IMAGE = {
    "type": "array",
    "items": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 255}},
    "description": "The 28×28 image the model saw, 0–255 rows (only with include_image).",
}
DIGIT_ROW = {
    "title": "DigitPrediction",
    "description": "mode 'digit' (the default): the one digit read in the image.",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "digit": DIGIT,
        "probability": PROBABILITY,
        "probabilities": PROBABILITIES,
        "notes": NOTES,
        "image": IMAGE,
    },
    "required": ["name", "digit", "probability", "probabilities", "notes"],
}
NUMBER_DIGIT = {
    "title": "NumberDigit",
    "description": "One digit of a number, left to right.",
    "type": "object",
    "properties": {
        "box": {
            "type": "array",
            "items": {"type": "integer"},
            "minItems": 4,
            "maxItems": 4,
            "description": "[left, top, right, bottom] of the digit's ink in the image as sent, in its pixels "
            "(right and bottom exclusive).",
        },
        "digit": DIGIT,
        "probability": PROBABILITY,
        "probabilities": PROBABILITIES,
        "top_k": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"digit": DIGIT, "probability": PROBABILITY},
                "required": ["digit", "probability"],
            },
            "description": "The likeliest digits, most likely first, each with its probability.",
        },
        "notes": NOTES,
        "image": IMAGE,
    },
    "required": ["box", "digit", "probability", "probabilities", "top_k", "notes"],
}
NUMBER_ROW = {
    "title": "NumberPrediction",
    "description": "mode 'number': the string of digits read in the image, left to right.",
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "text": {"type": "string", "description": 'The digits read, left to right (e.g. "2026").'},
        "confidence": {
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "The lowest of the digits' probabilities: the answer is as sure as its least sure digit.",
        },
        "uncertain": {"type": "boolean", "description": "True when the confidence is below the threshold."},
        "notes": NOTES,
        "digits": {"type": "array", "items": NUMBER_DIGIT},
    },
    "required": ["name", "text", "confidence", "uncertain", "notes", "digits"],
}
PREDICTIONS = {
    "type": "object",
    "properties": {
        "model": {"type": ["string", "null"]},
        "mode": {"type": "string", "enum": ["digit", "number"]},
        "predictions": {"type": "array", "items": {"anyOf": [DIGIT_ROW, NUMBER_ROW]}},
    },
    "required": ["model", "mode", "predictions"],
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
EXPLAINED = {**PREDICTIONS, "properties": {**PREDICTIONS["properties"], "mode": {"type": "string", "enum": ["digit"]},
                                           "predictions": {"type": "array", "items": DIGIT_ROW}}}  # fmt: skip
PREDICT_RESPONSES = answers(
    {200: ("The digit (mode 'digit') or the number (mode 'number') read in each image, in order", PREDICTIONS)},
    INPUT_ERRORS,
)
EXPLAIN_RESPONSES = answers({200: ("Each image's digit with its `explanation`", EXPLAINED)}, INPUT_ERRORS)


def predict_openapi(description: str | None = None) -> dict[str, Any]:
    """Both request bodies for the OpenAPI page (the route reads the body itself), and a description."""
    schema = inputs.PredictRequest.model_json_schema()
    defs = schema.pop("$defs", {})

    def inline(node):
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    multipart = {
        "type": "object",
        "properties": {
            "file": {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "minItems": 1,
                "maxItems": inputs.MAX_IMAGES,
            },
            "include_image": {"type": "boolean", "default": False},
            "mode": schema["properties"]["mode"],
        },
        "required": ["file"],
    }
    extra: dict[str, Any] = {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": inline(schema)}, "multipart/form-data": {"schema": multipart}},
        }
    }
    if description:
        extra["description"] = description
    return extra
