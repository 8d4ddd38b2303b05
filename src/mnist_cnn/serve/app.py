"""The HTTP app: prediction API, model facts, health check and the draw-a-digit page.

Every error a client can cause is answered as `{"error": "<one line>"}` with a 4xx status; a
request body over the limit is refused before it is read: from its Content-Length header by
`DeclaredSizeLimit`, and a streamed (chunked) body by FastAPI's `max_body_size` as it arrives.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from mnist_cnn.explain.explainer import Explainer, for_file
from mnist_cnn.inference import imaging
from mnist_cnn.inference.runtimes import NONFINITE, finite_rows
from mnist_cnn.serve import inputs
from mnist_cnn.serve.inputs import InputError
from mnist_cnn.serve.model import ServedModel
from mnist_cnn.serve.numbers import read_numbers
from mnist_cnn.serve.openapi import EXPLAIN_RESPONSES, HEALTH, OBJECT, PREDICT_RESPONSES, answers, predict_openapi
from mnist_cnn.serve.request_reading import Parsed, read_request

STATIC = Path(__file__).with_name("static")
MAX_REQUEST_BYTES = 10_000_000
MAX_PIXELS = 25_000_000  # per image; lower than predict's 40 M: a server decodes several at once
# The page uses only its own files; data:/blob: images are the preview and uploaded photos.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
MAX_EXPLAIN_IMAGES = 8  # each costs a batch of occluded copies and ~50 KB of feature maps
EXPLAIN_DESCRIPTION = (
    f"Same inputs as /v1/predict (at most {MAX_EXPLAIN_IMAGES} images). Each prediction gains `explanation`: "
    "`saliency` (a 28×28 grid: "
    "how much hiding the pixel's patches lowers the log-odds of the answer), `layers` (each convolution and pooling "
    "layer: name, kind, shape [H, W, C], max_activation, channel_max, and `maps`: base64 of uint8 C×H×W, 255 = the "
    "layer's maximum) and `feature_maps_missing` (null, or why there are none and what command makes them)."
)


@dataclass(frozen=True)
class Limits:
    """What one request may cost."""

    max_request_bytes: int = MAX_REQUEST_BYTES
    max_pixels: int = MAX_PIXELS
    threads: int = max(2, os.cpu_count() or 1)  # images decoded at once: bounds memory and CPU


def create_app(served: ServedModel, limits: Limits = Limits(), explainer: Explainer | None = None) -> DeclaredSizeLimit:
    """The ASGI app serving `served` (`explainer`: what /v1/explain uses; default: found from the served model)."""
    app = FastAPI(
        max_body_size=limits.max_request_bytes,
        title="mnist-cnn serve",
        summary="Read handwritten digits with a trained MNIST model.",
        version="1",
        openapi_tags=[{"name": "predict"}, {"name": "model"}],
    )
    limiter: list[anyio.CapacityLimiter] = []  # made on first use: it needs the running event loop

    def answer(items: list[tuple[str, imaging.Preprocessed]], include_image: bool) -> dict[str, Any]:
        batch = np.stack([result.image for _, result in items])[..., np.newaxis]
        probs = served.runtime.probabilities(batch)
        broken = [name for (name, _), ok in zip(items, finite_rows(probs), strict=True) if not ok]
        if broken:  # never a NaN (or a non-JSON answer): the model is at fault, so a 5xx naming the input
            raise InputError(f"{broken[0]}: {NONFINITE}", 500)
        rows = [_row(name, result, p, include_image) for (name, result), p in zip(items, probs, strict=True)]
        return {"model": served.facts.get("name"), "mode": "digit", "predictions": rows}

    def answer_numbers(parsed: Parsed) -> dict[str, Any]:
        rows = read_numbers(parsed.pictures(), served.runtime, parsed.include_image)
        return {"model": served.facts.get("name"), "mode": "number", "predictions": rows}

    async def in_thread(func, *args):
        if not limiter:
            limiter.append(anyio.CapacityLimiter(limits.threads))
        return await anyio.to_thread.run_sync(func, *args, limiter=limiter[0])

    @app.post("/v1/predict", tags=["predict"], openapi_extra=predict_openapi(), responses=PREDICT_RESPONSES)
    async def predict(request: Request) -> JSONResponse:
        """Read the digit (mode 'number': the number) in each image: files (multipart field `file`) or JSON."""
        parsed = await read_request(request, limits.max_pixels)
        if parsed.mode == "number":
            return JSONResponse(await in_thread(answer_numbers, parsed))
        return JSONResponse(await in_thread(lambda: answer(parsed.digits(), parsed.include_image)))

    explainers: list = []  # the Explainer, made on first use (finding and checking features.onnx)

    def explained(items: list[tuple[str, imaging.Preprocessed]], include_image: bool) -> dict[str, Any]:
        if not explainers:
            explainers.append(explainer if explainer is not None else _explainer_for(served))
        result = answer(items, include_image)
        for row, (_, prepared) in zip(result["predictions"], items, strict=True):
            probabilities = np.asarray(row["probabilities"], np.float32)  # the same numbers /v1/predict gives
            row["explanation"] = explainers[0].explain(prepared.image, probabilities).with_maps()
        return result

    explain_openapi = predict_openapi(EXPLAIN_DESCRIPTION)

    @app.post("/v1/explain", tags=["predict"], openapi_extra=explain_openapi, responses=EXPLAIN_RESPONSES)
    async def explain(request: Request) -> JSONResponse:
        """Predict and explain each image: saliency and every conv/pooling layer's feature maps."""
        parsed = await read_request(request, limits.max_pixels)
        if parsed.mode != "digit":
            raise InputError("mode 'number' is for /v1/predict: /v1/explain looks inside one digit at a time")
        if parsed.count > MAX_EXPLAIN_IMAGES:
            raise InputError(f"{parsed.count} images: /v1/explain takes at most {MAX_EXPLAIN_IMAGES} per request")
        return JSONResponse(await in_thread(lambda: explained(parsed.digits(), parsed.include_image)))

    @app.get("/v1/model", tags=["model"], responses=answers({200: ("The served model's facts", OBJECT)}))
    async def model() -> JSONResponse:
        """The model being served: run, checkpoint or export, runtime, file hash, test accuracy."""
        return JSONResponse(served.facts)

    @app.get("/healthz", tags=["model"], responses=answers({200: ("The server answers", HEALTH)}))
    async def healthz() -> JSONResponse:
        """Liveness: the model is loaded and the server answers."""
        return JSONResponse({"status": "ok"})

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _install_error_handlers(app, limits)
    return DeclaredSizeLimit(app, limits.max_request_bytes)


class DeclaredSizeLimit:
    """Answer 413 in JSON from the Content-Length header alone, without reading the body.

    FastAPI's own limit answers a too-large declared length in plain text, so this is checked first.
    """

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            declared = Headers(scope=scope).get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                response = JSONResponse({"error": too_large(self.max_bytes)}, 413, headers={"Connection": "close"})
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def too_large(max_bytes: int) -> str:
    """The one line a client gets for a body over the limit."""
    return f"request body is larger than the {max_bytes:,}-byte limit (--max-request-bytes)"


def _explainer_for(served: ServedModel) -> Explainer:
    """The served model's Explainer: its runtime, plus feature maps where the model file has them."""
    if not served.facts.get("file"):
        return Explainer(served.runtime, None, "the served model's file is not known, so it has no feature maps")
    return for_file(served.facts["file"], served.runtime)


def _row(name: str, result: imaging.Preprocessed, probs: np.ndarray, include_image: bool) -> dict[str, Any]:
    digit = int(np.argmax(probs))
    row: dict[str, Any] = {
        "name": name,
        "digit": digit,
        "probability": float(probs[digit]),
        "probabilities": [float(p) for p in probs],
        "notes": list(result.notes),
    }
    if include_image:  # as --save-preprocessed writes it: round(x * 255), white ink on black
        row["image"] = np.round(np.clip(result.image, 0, 1) * 255).astype(np.uint8).tolist()
    return row


def _install_error_handlers(app: FastAPI, limits: Limits) -> None:
    """Every error as {"error": "<one line>"}; unexpected ones go to the server log, not to clients."""

    @app.exception_handler(InputError)
    async def input_error(_request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = {
            404: f"no such page: {request.url.path}",
            405: f"{request.method} is not allowed here",
            413: too_large(limits.max_request_bytes),
        }
        text = message.get(exc.status_code) or str(exc.detail)
        return JSONResponse({"error": text}, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": inputs.validation_message(list(exc.errors()))}, status_code=422)

    @app.exception_handler(Exception)
    async def internal_error(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error ({type(exc).__name__}); the server log has details"}, 500)
