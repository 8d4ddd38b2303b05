"""Prediction for image files and in-memory pictures: collect, preprocess like MNIST, classify in batches."""

from __future__ import annotations

import multiprocessing
import os
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mnist_cnn.inference import imaging, segment, segment_layout
from mnist_cnn.inference.segment import DigitReading

PARALLEL_MIN = 64  # fewer files than this are preprocessed in-process
MAX_WORKERS = 8


@dataclass
class Prediction:
    """One image's answer (`image` and `probabilities` stay in memory: `to_json` leaves them out)."""

    path: str
    digit: int | None  # None for a number of several digits (see `text` and `digits`)
    probability: float  # for a number: its least sure digit's probability
    top_k: list[dict]
    notes: list[str] = field(default_factory=list)
    preprocessed: str | None = None
    image: np.ndarray | None = field(default=None, repr=False)  # the 28×28 float image the model saw
    probabilities: np.ndarray | None = field(default=None, repr=False)  # all ten, float32
    text: str = ""  # what is written: "7", or "2026"
    uncertain: bool = False  # the least sure digit is below the uncertainty threshold
    digits: list[DigitReading] = field(default_factory=list, repr=False)  # each digit, left to right, with its box
    digit_files: list[str] = field(default_factory=list, repr=False)  # --save-preprocessed: each digit's 28×28

    def _repr_html_(self) -> str:
        """Jupyter's card: the 28×28 image the model saw beside the ten probability bars."""
        from mnist_cnn.results import prediction_html

        return prediction_html(self)

    @property
    def is_number(self) -> bool:
        """True when several digits were read (then `digit` is None and `text` holds them)."""
        return len(self.digits) > 1

    def to_json(self) -> dict:
        """The JSON record `predict --json` prints: today's one-digit fields, then the number's."""
        digits = [d.to_json() for d in self.digits]
        for entry, saved in zip(digits, self.digit_files, strict=False):
            entry["preprocessed"] = saved
        return {"path": self.path, "digit": self.digit, "probability": self.probability, "top_k": self.top_k,
                "notes": self.notes, "preprocessed": self.preprocessed, "text": self.text,
                "confidence": self.probability, "uncertain": self.uncertain, "digits": digits}  # fmt: skip


@dataclass(frozen=True)
class Picture:
    """An in-memory input: a NumPy array (2-D gray, uint8 0-255 or float 0-1) or a Pillow image."""

    name: str
    pixels: object


@dataclass
class Report:
    """Everything `predict` found: answers and per-file failures."""

    predictions: list[Prediction] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)

    def fail(self, path: str | Path, message: str) -> None:
        """Record that one input could not be used."""
        self.errors.append({"path": str(path), "error": message})


def collect(inputs: Iterable, report: Report) -> list[Path | Picture]:
    """Files given directly, every image file inside given folders (recursively, sorted), and in-memory
    pictures (an array of shape (N, H, W) is N pictures)."""
    files: list[Path | Picture] = []
    for number, text in enumerate(inputs):
        if not isinstance(text, (str, os.PathLike)):
            files.extend(_pictures(text, number))
            continue
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in imaging.IMAGE_SUFFIXES)
            if not found:
                suffixes = ", ".join(sorted(imaging.IMAGE_SUFFIXES))
                report.fail(path, f"no image files in this folder (looked for {suffixes})")
            files.extend(found)
        elif path.exists() or path.is_symlink():
            files.append(path)
        else:
            report.fail(path, "no such file or folder")
    return files


def preprocess_all(
    files: list[Path | Picture],
    report: Report,
    meanwhile: Callable[[], object] | None = None,
    progress: Callable[[int, int], None] | None = None,
    single: bool = False,
) -> tuple[list[Path], list[segment_layout.Layout], np.ndarray, object]:
    """Lay out each file's digits (failures go to the report); every candidate's 28×28 in one (N, 28, 28, 1) batch.

    single: every picture is one digit (today's reading, no segmentation).

    Many files are spread over worker processes, one per core, and `meanwhile()` (loading the
    model, which means importing TensorFlow: seconds) runs in this process while they work.
    Processes rather than threads: the per-image work is many small NumPy calls that hold the
    GIL, and threads measured no faster. Workers are spawned (not forked, which is unsafe once
    TensorFlow's threads exist) and cost ~0.2 s to start, so small batches stay in-process.
    `progress(done, total)` is told as files finish.
    Returns the kept paths, their layouts, the batch and what `meanwhile` returned (or None).
    """
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    extra = None
    # In-memory pictures are small and cheap: workers (and pickling them across) would only cost.
    if len(files) < PARALLEL_MIN or workers < 2 or any(isinstance(f, Picture) for f in files):
        outcomes = [_preprocess_one(path, single) for path in files]
    else:
        chunk = max(8, len(files) // (workers * 4))
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            pending = pool.map(_preprocess_one, files, [single] * len(files), chunksize=chunk)  # collected below
            extra = meanwhile() if meanwhile else None
            outcomes = []
            for outcome in pending:
                outcomes.append(outcome)
                if progress:
                    progress(len(outcomes), len(files))
    kept, results = [], []
    for path, outcome in zip(files, outcomes, strict=True):
        if isinstance(outcome, imaging.ImageError):
            report.fail(path.name if isinstance(path, Picture) else path, str(outcome))
        else:
            kept.append(path)
            results.append(outcome)
    images = np.concatenate([r.images() for r in results]) if results else np.zeros((0, 28, 28, 1), np.float32)
    return kept, results, images, extra


def _pictures(item, number: int) -> list[Picture]:
    """An in-memory input as named pictures; a 3-D array (N, H, W) or (N, H, W, 1) is a batch."""
    if isinstance(item, Picture):
        return [item]
    if hasattr(item, "getbands"):  # a Pillow image
        return [Picture(f"image {number}", item)]
    array = np.asarray(item)
    if array.ndim == 4 and array.shape[-1] == 1 or array.ndim == 3 and array.shape[-1] == 1 and array.shape[0] != 1:
        array = array[..., 0]
    if array.ndim == 3:
        return [Picture(f"array {number}[{i}]", a) for i, a in enumerate(array)]
    return [Picture(f"array {number}", array)]


def gray_from_array(pixels) -> np.ndarray:
    """A 2-D array as gray in [0, 1]: integers are read as 0-255, floats as 0-1 (a float array above 1 as 0-255)."""
    array = np.asarray(pixels)
    if array.dtype == bool:
        return array.astype(np.float32)
    if not np.issubdtype(array.dtype, np.number):
        raise imaging.ImageError(f"expected a numeric array, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.integer) or (array.size and np.nanmax(array) > 1.0):
        return array.astype(np.float32) / 255.0
    return array.astype(np.float32)


def _preprocess_one(item: Path | Picture, single: bool = False) -> segment_layout.Layout | imaging.ImageError:
    """The picture's digits laid out (one digit, exactly as today, where it holds one), or why not."""
    try:
        gray, notes = _gray(item)
        found = segment_layout.single(gray) if single else segment_layout.layout(gray)
        found.source_notes = notes  # first in the answer's notes, as today: decoding's, then preprocessing's
        return found
    except imaging.ImageError as exc:
        return exc


def _gray(item: Path | Picture) -> tuple[np.ndarray, list[str]]:
    """The picture as gray in [0, 1] (1 = white) and what decoding it noted."""
    if isinstance(item, Picture):
        if hasattr(item.pixels, "getbands"):
            return imaging.decode_gray(item.pixels)
        return gray_from_array(item.pixels), []
    with imaging.open_checked(Path(item)) as img:
        return imaging.decode_gray(img)


def classify(model, images: np.ndarray) -> np.ndarray:
    """Probabilities (N, 10) float32 for float images (N, 28, 28, 1) from a Runtime or a Keras model."""
    from mnist_cnn.inference.runtimes import as_runtime

    return as_runtime(model).probabilities(images)


def _saved_name(save_dir: Path, path: Path | Picture, used: set[str], place: int | None = None) -> Path:
    """A unique PNG name in save_dir for `path` (two inputs may share a stem); `place`: a number's digit, from 1."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", path.name).strip("-") if isinstance(path, Picture) else path.stem
    if place is not None:
        stem = f"{stem}-digit{place}"
    name, counter = f"{stem}.png", 2
    while name in used:
        name, counter = f"{stem}-{counter}.png", counter + 1
    used.add(name)
    return save_dir / name


def run(
    model_loader: Callable[[], object],  # returns a Runtime (or a Keras model)
    inputs: Iterable,  # file and folder paths, in-memory pictures (arrays, Pillow images)
    top_k: int = 3,
    save_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
    single: bool = False,
) -> Report:
    """Predict every input: the number written in it, or with `single` one digit per picture, as ever.

    For a few files the model is loaded only if one of them preprocessed cleanly; for many, it is
    loaded while worker processes preprocess them (`progress` follows them)."""
    report = Report()
    files = collect(inputs, report)
    kept, layouts, images, model = preprocess_all(
        files, report, meanwhile=model_loader, progress=progress, single=single
    )
    if not kept:
        return report
    from mnist_cnn.inference.runtimes import NONFINITE, finite_rows

    probs = classify(model if model is not None else model_loader(), images)
    finite = finite_rows(probs)
    used: set[str] = set()
    start = 0
    for path, found in zip(kept, layouts, strict=True):
        stop = start + len(found.parts())  # its rows in the batch (counted, not stacked again)
        rows, ok, start = probs[start:stop], bool(finite[start:stop].all()), stop
        if not ok:  # never a "nan%" answer: the input failed
            report.fail(path, NONFINITE)
            continue
        try:
            reading = segment.choose(found, rows, top_k=top_k)
        except imaging.ImageError as exc:  # more digits than a number may hold, once touching ones are split
            report.fail(path.name if isinstance(path, Picture) else path, str(exc))
            continue
        report.predictions.append(_prediction(path, reading, found.source_notes, save_dir, used))
    return report


def _prediction(
    path: Path | Picture, reading: segment.NumberReading, source_notes: list[str], save_dir: Path | None, used: set[str]
) -> Prediction:
    """One input's answer: a single digit exactly as ever, a number with its digits besides."""
    name = path.name if isinstance(path, Picture) else str(path)
    saved: list[str] = []
    if save_dir is not None:
        for index, d in enumerate(reading.digits):
            target = _saved_name(save_dir, path, used, None if len(reading.digits) == 1 else index + 1)
            imaging.save_preprocessed(d.image, target)
            saved.append(str(target))
    common = {"path": name, "text": reading.text, "uncertain": reading.uncertain, "digits": reading.digits,
              "digit_files": saved}  # fmt: skip
    if len(reading.digits) == 1:
        d = reading.digits[0]
        return Prediction(digit=d.digit, probability=d.probability, top_k=d.top_k, notes=source_notes + d.notes,
                          preprocessed=saved[0] if saved else None, image=d.image, probabilities=d.probabilities,
                          **common)  # fmt: skip
    notes = source_notes + reading.notes
    return Prediction(digit=None, probability=reading.confidence, top_k=[], notes=notes, **common)
