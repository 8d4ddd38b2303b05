"""Turn what a client sent (uploaded files, pixel arrays, canvas data URLs) into preprocessed digits.

Uploads go through the same decoding and MNIST-style preprocessing as `mnist-cnn predict`, so a
file gets the same numbers either way. In number mode the decoded gray image itself is kept
(`Picture`): segmentation into digits needs the whole of it. Every problem is an `InputError` with
one message that names the input it concerns.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from mnist_cnn.inference import imaging
from mnist_cnn.inference.image_decode import ImageError, check_shape, decode_gray, open_bytes

MAX_IMAGES = 64  # per request: enough for a page of digits, small enough to bound one request's work
MAX_NAME = 120  # characters of a client's file name echoed back
MODE_DESCRIPTION = (
    "'digit' (the default): each image holds one digit. 'number': each image holds a number written left to "
    "right (at most 12 digits); the answer gives the string and each digit's box, digit and probabilities."
)


class InputError(ValueError):
    """A request the server cannot use; `status` is the HTTP status, the message says why."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


class ImageInput(BaseModel):
    """One image in a JSON request: a pixel array or a data URL (exactly one of them)."""

    model_config = ConfigDict(extra="forbid")

    pixels: list[Any] | None = Field(
        None,
        description="28×28 nested list (or 784 flat) of numbers in [0, 1], or 0–255 with scale 255; "
        "either polarity (the background is detected), MNIST's own is white ink on black. "
        "In mode 'number', any H×W nested list (e.g. 28×112 for four digits side by side).",
    )
    scale: float = Field(1, description="1 for values in [0, 1], 255 for 0–255.")
    data_url: str | None = Field(None, description="An image as a data URL, e.g. canvas.toDataURL('image/png').")
    name: str | None = Field(None, max_length=MAX_NAME, description="Echoed back in the answer.")

    @model_validator(mode="after")
    def _exactly_one(self) -> ImageInput:
        if (self.pixels is None) == (self.data_url is None):
            raise ValueError("give exactly one of 'pixels' or 'data_url'")
        if self.scale not in (1, 255):
            raise ValueError("'scale' must be 1 (values in [0, 1]) or 255 (values 0–255)")
        return self


class PredictRequest(BaseModel):
    """The JSON body of POST /v1/predict."""

    model_config = ConfigDict(extra="forbid")

    images: list[ImageInput] = Field(..., min_length=1, max_length=MAX_IMAGES)
    include_image: bool = Field(False, description="Also return the 28×28 image the model saw (0–255 rows).")
    mode: Literal["digit", "number"] = Field("digit", description=MODE_DESCRIPTION)


@dataclass(frozen=True)
class Picture:
    """A decoded image, gray in [0, 1] (1 = white), as number mode reads it, with decoding's remarks."""

    gray: np.ndarray
    notes: tuple[str, ...] = ()


def pictures_from_json(request: PredictRequest, max_pixels: int) -> list[tuple[str, Picture]]:
    """Decode every image of a JSON request for number mode, in order (no digit preprocessing)."""
    out = []
    for index, item in enumerate(request.images):
        label = f"images[{index}]"
        try:
            if item.pixels is not None:
                picture = Picture(_pixel_array(item.pixels, item.scale, max_pixels, any_shape=True))
            else:
                picture = picture_from_bytes(_data_url_bytes(item.data_url or ""), max_pixels)
        except InputError as exc:
            raise InputError(f"{label}: {exc}", exc.status) from None
        out.append((item.name or label, picture))
    return out


def picture_from_bytes(data: bytes, max_pixels: int) -> Picture:
    """Image file bytes → the gray picture, decoded exactly as `predict` decodes the same file."""
    try:
        with open_bytes(data, max_pixels) as img:
            gray, notes = decode_gray(img)
    except ImageError as exc:
        raise InputError(str(exc)) from None
    return Picture(gray, tuple(notes))


def from_json(request: PredictRequest, max_pixels: int) -> list[tuple[str, imaging.Preprocessed]]:
    """Preprocess every image of a JSON request, in order."""
    out = []
    for index, item in enumerate(request.images):
        label = f"images[{index}]"
        try:
            if item.pixels is not None:
                result = from_pixels(item.pixels, item.scale)
            else:
                result = from_data_url(item.data_url or "", max_pixels)
        except InputError as exc:
            raise InputError(f"{label}: {exc}", exc.status) from None
        out.append((item.name or label, result))
    return out


def from_pixels(values: list[Any], scale: float = 1) -> imaging.Preprocessed:
    """A 28×28 (or 784) array of numbers in [0, scale] → the digit the model sees."""
    array = _pixel_array(values, scale)
    try:
        return imaging.preprocess_array(array)
    except ImageError as exc:
        raise InputError(str(exc)) from None


def _pixel_array(values: list[Any], scale: float, max_pixels: int = 0, any_shape: bool = False) -> np.ndarray:
    """Pixel values in [0, scale] → a gray array in [0, 1]: 28×28 (or 784), or any H×W with `any_shape`."""
    expected = "an H×W" if any_shape else "a 28×28 (or 784-long)"
    try:
        array = np.asarray(values, dtype=np.float32)
    except (ValueError, TypeError):
        raise InputError(f"'pixels' must be {expected} array of numbers") from None
    if array.shape == (784,):
        array = array.reshape(28, 28)
    if any_shape and array.ndim == 2:
        try:
            check_shape(array.shape[1], array.shape[0], max_pixels)
        except ImageError as exc:
            raise InputError(f"'pixels': {exc}") from None
    elif array.shape != (28, 28):
        wanted = "a 2-D H×W array" if any_shape else "28×28 (or 784 values)"
        raise InputError(f"'pixels' has shape {_shape(array)}; expected {wanted}")
    if not np.isfinite(array).all() or array.min() < 0 or array.max() > scale:
        hint = "" if scale == 255 else ' (send "scale": 255 for 0–255 values)'
        raise InputError(f"pixel values must be finite numbers in [0, {scale:g}]{hint}")
    return array / np.float32(scale)


def from_data_url(url: str, max_pixels: int) -> imaging.Preprocessed:
    """A `data:image/...;base64,...` URL (what a canvas gives) → the digit the model sees."""
    return from_bytes(_data_url_bytes(url), max_pixels)


def _data_url_bytes(url: str) -> bytes:
    """The image file bytes a data URL holds."""
    head, comma, payload = url.partition(",")
    if not comma or not head.startswith("data:image/") or not head.endswith(";base64"):
        raise InputError("'data_url' must look like data:image/png;base64,… (a base64 image data URL)")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise InputError("'data_url' holds invalid base64") from None


def from_bytes(data: bytes, max_pixels: int) -> imaging.Preprocessed:
    """Image file bytes → the digit the model sees, exactly as `predict` treats the same file."""
    try:
        with open_bytes(data, max_pixels) as img:
            return imaging.preprocess_image(img)
    except ImageError as exc:
        raise InputError(str(exc)) from None


def upload_name(filename: str | None, index: int) -> str:
    """How an uploaded file is named in answers and errors."""
    return (filename or "")[:MAX_NAME] or f"file[{index}]"


def _shape(array: np.ndarray) -> str:
    return "×".join(str(n) for n in array.shape) if array.ndim else "a single number"


def validation_message(errors: list[dict[str, Any]]) -> str:
    """One line from pydantic's error list: where, and what is wrong (the first problem)."""
    error = errors[0]
    where = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in error.get("loc", ()))
    where = where.replace(".[", "[")
    kind, message = error.get("type", ""), error.get("msg", "invalid")
    if kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "json_invalid":
        return f"request body is not valid JSON ({error.get('ctx', {}).get('error', message)})"
    message = message.removeprefix("Value error, ")
    return f"{where or 'request body'}: {message}"
