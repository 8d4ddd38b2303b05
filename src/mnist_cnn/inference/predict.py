"""Prediction for image files: collect inputs, preprocess them like MNIST, classify in batches."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mnist_cnn.inference import imaging

PARALLEL_MIN = 64  # fewer files than this are preprocessed in-process
MAX_WORKERS = 8


@dataclass
class Prediction:
    """One image's answer."""

    path: str
    digit: int
    probability: float
    top_k: list[dict]
    notes: list[str] = field(default_factory=list)
    preprocessed: str | None = None


@dataclass
class Report:
    """Everything `predict` found: answers and per-file failures."""

    predictions: list[Prediction] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)

    def fail(self, path: str | Path, message: str) -> None:
        """Record that one input could not be used."""
        self.errors.append({"path": str(path), "error": message})


def collect(inputs: Iterable[str], report: Report) -> list[Path]:
    """Files given directly, plus every image file inside given folders (recursively, sorted)."""
    files: list[Path] = []
    for text in inputs:
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
    files: list[Path],
    report: Report,
    meanwhile: Callable[[], object] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[Path], list, np.ndarray, object]:
    """Preprocess each file (failures go to the report) into a (N, 28, 28, 1) batch.

    Many files are spread over worker processes, one per core, and `meanwhile()` (loading the
    model, which means importing TensorFlow: seconds) runs in this process while they work.
    Processes rather than threads: the per-image work is many small NumPy calls that hold the
    GIL, and threads measured no faster. Workers are spawned (not forked, which is unsafe once
    TensorFlow's threads exist) and cost ~0.2 s to start, so small batches stay in-process.
    `progress(done, total)` is told as files finish.
    Returns the kept paths, their results, the batch and what `meanwhile` returned (or None).
    """
    workers = min(os.cpu_count() or 1, MAX_WORKERS)
    extra = None
    if len(files) < PARALLEL_MIN or workers < 2:
        outcomes = [_preprocess_one(path) for path in files]
    else:
        chunk = max(8, len(files) // (workers * 4))
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            pending = pool.map(_preprocess_one, files, chunksize=chunk)  # submitted now, collected below
            extra = meanwhile() if meanwhile else None
            outcomes = []
            for outcome in pending:
                outcomes.append(outcome)
                if progress:
                    progress(len(outcomes), len(files))
    kept, results = [], []
    for path, outcome in zip(files, outcomes, strict=True):
        if isinstance(outcome, imaging.ImageError):
            report.fail(path, str(outcome))
        else:
            kept.append(path)
            results.append(outcome)
    images = np.stack([r.image for r in results])[..., np.newaxis] if results else np.zeros((0, 28, 28, 1), np.float32)
    return kept, results, images, extra


def _preprocess_one(path: Path) -> imaging.Preprocessed | imaging.ImageError:
    try:
        return imaging.preprocess_file(path)
    except imaging.ImageError as exc:
        return exc


def classify(model, images: np.ndarray) -> np.ndarray:
    """Probabilities (N, 10) float32 for float images (N, 28, 28, 1) from a Runtime or a Keras model."""
    from mnist_cnn.inference.runtimes import as_runtime

    return as_runtime(model).probabilities(images)


def _saved_name(save_dir: Path, path: Path, used: set[str]) -> Path:
    """A unique PNG name in save_dir for `path` (two inputs may share a stem)."""
    name, counter = f"{path.stem}.png", 2
    while name in used:
        name, counter = f"{path.stem}-{counter}.png", counter + 1
    used.add(name)
    return save_dir / name


def run(
    model_loader: Callable[[], object],  # returns a Runtime (or a Keras model)
    inputs: Iterable[str],
    top_k: int = 3,
    save_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Report:
    """Predict every input. For a few files the model is loaded only if one of them preprocessed
    cleanly; for many, it is loaded while worker processes preprocess them (`progress` follows them)."""
    report = Report()
    files = collect(inputs, report)
    kept, results, images, model = preprocess_all(files, report, meanwhile=model_loader, progress=progress)
    if not kept:
        return report
    from mnist_cnn.inference.runtimes import NONFINITE, finite_rows

    probs = classify(model if model is not None else model_loader(), images)
    finite = finite_rows(probs)
    used: set[str] = set()
    for path, result, row, ok in zip(kept, results, probs, finite, strict=True):
        if not ok:  # never a "nan%" answer: the input failed
            report.fail(path, NONFINITE)
            continue
        order = np.argsort(-row, kind="stable")[:top_k]
        saved = None
        if save_dir is not None:
            target = _saved_name(save_dir, path, used)
            imaging.save_preprocessed(result.image, target)
            saved = str(target)
        report.predictions.append(
            Prediction(
                path=str(path),
                digit=int(order[0]),
                probability=float(row[order[0]]),
                top_k=[{"digit": int(d), "probability": float(row[d])} for d in order],
                notes=list(result.notes),
                preprocessed=saved,
            )
        )
    return report
