"""Reading a predict request: JSON or multipart form, options checked, images not yet decoded.

Decoding is left to the caller's worker thread (`Parsed.digits` / `Parsed.pictures`), so the event
loop only reads bytes; every mistake a client can make is an InputError with its 4xx status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from mnist_cnn.inference import imaging
from mnist_cnn.serve import inputs
from mnist_cnn.serve.inputs import InputError, PredictRequest

FORM_FIELDS = ("file", "include_image", "mode")


@dataclass(frozen=True)
class Parsed:
    """A predict request read but not yet decoded: decoding runs in a worker thread, as digits or as pictures."""

    count: int
    include_image: bool
    mode: str
    digits: Callable[[], list[tuple[str, imaging.Preprocessed]]]  # decoded and preprocessed as one digit each
    pictures: Callable[[], list[tuple[str, inputs.Picture]]]  # decoded only, for number mode


async def read_request(request: Request, max_pixels: int) -> Parsed:
    """The images of a predict request (not decoded yet) and its options; unknown options are refused."""
    if request.query_params:
        name = next(iter(request.query_params))
        raise InputError(f"unknown query parameter '{name}' (options go in the body)")
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json":
        body = _parse_json(await request.body())
        return Parsed(
            len(body.images),
            body.include_image,
            body.mode,
            lambda: inputs.from_json(body, max_pixels),
            lambda: inputs.pictures_from_json(body, max_pixels),
        )
    if media == "multipart/form-data":
        uploads, options = await _read_form(request)

        def digits() -> list[tuple[str, imaging.Preprocessed]]:
            return [(name, inputs.from_bytes(data, max_pixels)) for name, data in uploads]

        def pictures() -> list[tuple[str, inputs.Picture]]:
            return [(name, inputs.picture_from_bytes(data, max_pixels)) for name, data in uploads]

        return Parsed(len(uploads), options["include_image"], options["mode"], digits, pictures)
    raise InputError(
        f"unsupported content type '{media or 'none'}': send multipart/form-data (image files) or application/json",
        415,
    )


def _parse_json(body: bytes) -> PredictRequest:
    if not body.strip():
        raise InputError('request body is empty: send JSON like {"images": [{"pixels": [...]}]}', 400)
    try:
        return PredictRequest.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        status = 400 if errors and errors[0].get("type") == "json_invalid" else 422
        raise InputError(inputs.validation_message(errors), status) from None


async def _read_form(request: Request) -> tuple[list[tuple[str, bytes]], dict[str, Any]]:
    """The uploaded files (name, bytes) and the options (include_image, mode); unknown fields are refused."""
    uploads: list[tuple[str, bytes]] = []
    options: dict[str, Any] = {"include_image": False, "mode": "digit"}
    async with request.form(max_files=inputs.MAX_IMAGES, max_fields=len(FORM_FIELDS)) as form:
        for key, value in form.multi_items():
            if key not in FORM_FIELDS:
                raise InputError(
                    f"unknown form field '{key}' (expected 'file', repeatable, 'include_image' and 'mode')"
                )
            if key == "include_image":
                if not isinstance(value, str) or value.lower() not in ("true", "false", "1", "0"):
                    raise InputError("'include_image' must be true or false")
                options["include_image"] = value.lower() in ("true", "1")
            elif key == "mode":
                if value not in ("digit", "number"):
                    raise InputError("'mode' must be 'digit' or 'number'")
                options["mode"] = value
            elif not isinstance(value, UploadFile):
                raise InputError("'file' must be a file upload, not a text field")
            else:
                name = inputs.upload_name(value.filename, len(uploads))
                uploads.append((name, await value.read()))
    if not uploads:
        raise InputError("no image: send one or more files in the multipart field 'file'")
    return uploads, options
