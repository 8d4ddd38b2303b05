"""Is a would-be digit one digit, several touching digits, or a piece of one? A small network's answer.

An MNIST classifier reads two touching digits squeezed into one 28×28 confidently as one digit
("17" as 0, "44" as 4), and reads the halves of a 0 confidently too: its own probabilities cannot
say whether a cut was right. A second, small network can (two convolutions for the 28×28,
a small dense layer for the part's geometry: its height and width against the writing's, which
the 28×28 no longer shows). Two such networks answer here, their probabilities averaged (115k
weights in all): one never saw a piece of a digit drawn like a 1 (a 4's upright, half a 0), the
other learnt those as pieces, so a 1-like part comes out as "maybe a piece". Both were trained by
`scripts/train_segment_verifier.py` on the candidate parts that `segment_layout` makes of
photographed strings of MNIST *training* digits (never the test digits the benchmarks read),
each labelled by where the true digits lay.
It ships in the package as ONNX, runs in ONNX Runtime (no TensorFlow), and is the same whatever
model reads the digits. `segment.choose` weighs its answers with the fitted weights in
segment_verifier.json (written by the same script).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
MODEL_FILE = HERE / "segment_verifier.onnx"
WEIGHTS_FILE = HERE / "segment_verifier.json"
CLASSES = ("one", "several", "piece")  # one digit; two or more touching digits; a piece of a digit
FLOOR = 1e-6  # log-probabilities are floored here: one part cannot outvote everything else alone


@functools.lru_cache(maxsize=1)
def _session():
    from mnist_cnn.inference.runtimes import onnx_session

    return onnx_session(MODEL_FILE.read_bytes(), MODEL_FILE)


@functools.lru_cache(maxsize=1)
def weights() -> dict[str, float]:
    """The score's weights per feature (see segment.choose), as fitted by the training script."""
    return dict(json.loads(WEIGHTS_FILE.read_text())["weights"])


def log_probabilities(images: np.ndarray, geometry: np.ndarray) -> np.ndarray:
    """(N, 28, 28, 1) float32 digit fields and their (N, 3) Part.geometry → (N, 3) log-probabilities of CLASSES."""
    if len(images) == 0:
        return np.zeros((0, len(CLASSES)), np.float32)
    session, run_options = _session()
    feed = {"image": np.ascontiguousarray(images, dtype=np.float32).reshape(len(images), 28, 28, 1),
            "geometry": np.ascontiguousarray(geometry, dtype=np.float32).reshape(len(images), 3)}  # fmt: skip
    probs = session.run(None, feed, run_options)[0]
    return np.log(np.maximum(np.asarray(probs, np.float32), FLOOR))
