"""Read a written number: the ink split into digits left to right, each read like a single digit.

`read_number(gray, classify)` is the one entry point (predict, serve and the API share it). The
geometry (page cleaning keeping all writing, components, merged pieces, candidate cuts of touching
digits) is `segment_layout`; here each group keeps its best-scoring candidate. A candidate's score
adds, over its parts, the log of the classifier's probability for the digit it reads and the
segment verifier's weighted log-probabilities that the part is one digit, several touching digits
or a piece of one (`segment_verifier`), and the weighted shape features of the cut (strokes
crossed, short or wide parts); the weights were fitted by scripts/train_segment_verifier.py. A
picture with one digit gives exactly today's single-digit result (imaging.preprocess_array) and
numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mnist_cnn.inference import segment_verifier
from mnist_cnn.inference.image_decode import ImageError
from mnist_cnn.inference.segment_candidates import FEATURES, Candidate
from mnist_cnn.inference.segment_layout import Box, Layout, layout

__all__ = ["DigitReading", "ImageError", "NumberReading", "choose", "layout", "read_number"]

UNCERTAIN_BELOW = 0.8  # a reading whose least sure digit is below this is marked uncertain
NOT_DIGITS_SHARE = 0.5  # when at least this share of the digits is uncertain, the writing may not be digits
TOP_K = 3


@dataclass
class DigitReading:
    """One digit of a number (`image` and `probabilities` stay in memory: not in JSON)."""

    box: Box  # (left, top, right, bottom) in the original image's pixels
    digit: int
    probability: float
    top_k: list[dict]
    notes: list[str]
    image: np.ndarray = field(repr=False)  # the 28×28 float image the model saw
    probabilities: np.ndarray = field(repr=False)  # all ten, float32

    def to_json(self) -> dict:
        """The digit as strict JSON: box, digit, probability, top_k, notes."""
        return {"box": list(self.box), "digit": self.digit, "probability": self.probability,
                "top_k": self.top_k, "notes": self.notes}  # fmt: skip


@dataclass
class NumberReading:
    """A number read left to right; `confidence` is its least sure digit's probability."""

    text: str
    digits: list[DigitReading]
    confidence: float
    uncertain: bool
    notes: list[str]

    def to_json(self) -> dict:
        """The number as strict JSON: text, confidence, uncertain, notes and each digit."""
        return {"text": self.text, "confidence": self.confidence, "uncertain": self.uncertain,
                "notes": self.notes, "digits": [d.to_json() for d in self.digits]}  # fmt: skip


def read_number(
    gray: np.ndarray,
    classify: Callable[[np.ndarray], np.ndarray],
    *,
    max_digits: int = 12,
    uncertain_below: float = UNCERTAIN_BELOW,
    top_k: int = TOP_K,
) -> NumberReading:
    """The number written in `gray` (2-D float in [0, 1], 1 = white).

    classify: (N, 28, 28, 1) float32 → (N, 10) probabilities (e.g. a Runtime's `probabilities`).
    Raises ImageError for unusable input (blank, several lines, more than `max_digits` digits).
    """
    found = layout(gray, max_digits=max_digits)
    return choose(found, classify(found.images()), max_digits=max_digits, uncertain_below=uncertain_below,
                  top_k=top_k)  # fmt: skip


def _best_line(apart: list, joined: list) -> list:
    """The line's best readings: each group apart (its best candidate), or a pair joined where it may be.

    apart[i] and joined[i] are (candidate, score, rows); joined[i] (groups i and i+1) has candidate None
    where they cannot be one digit. Scores add along the line.
    """
    total, back = [0.0], [0]
    for i in range(len(apart)):
        options = [(total[i] + apart[i][1], 1)]
        if i >= 1 and i - 1 < len(joined) and joined[i - 1][0] is not None:
            options.append((total[i - 1] + joined[i - 1][1], 2))
        score, step = max(options, key=lambda option: option[0])
        total.append(score)
        back.append(step)
    picked, i = [], len(apart)
    while i > 0:
        picked.append(apart[i - 1] if back[i] == 1 else joined[i - 2])
        i -= back[i]
    return picked[::-1]


def score_of(candidate: Candidate, rows: np.ndarray, verdicts: np.ndarray | None) -> float:
    """How well a candidate reads: the classifier's log-probabilities, the verifier's, the cut's shape."""
    score = float(np.sum(np.log(np.maximum(rows.max(axis=1), 1e-12))))
    if verdicts is None:
        return score
    weights = segment_verifier.weights()
    for index, name in enumerate(segment_verifier.CLASSES):
        score += weights.get(name, 0.0) * float(np.sum(verdicts[:, index]))
    return score + sum(weights[name] * float(candidate.features[name]) for name in FEATURES)


def choose(
    found: Layout,
    probabilities: np.ndarray,
    *,
    max_digits: int = 12,
    uncertain_below: float = UNCERTAIN_BELOW,
    top_k: int = TOP_K,
) -> NumberReading:
    """Pick each group's best candidate given the classifier's rows for `found.images()`, in that order.

    Where two neighbouring groups may be one digit (`found.joined`), reading them together competes
    with reading them apart: the line's readings add up, so the best joins are found left to right
    (dynamic programming over the groups).
    """
    probs = np.asarray(probabilities, dtype=np.float32)
    if not np.all(np.isfinite(probs)):
        raise ImageError("the model returned non-finite probabilities for this picture")
    lists = found.candidate_lists()
    # The verifier only matters where there is a choice; a lone candidate needs no second opinion.
    choice = found.joined or any(len(g) > 1 for g in lists)
    verdicts = segment_verifier.log_probabilities(found.images(), found.geometry()) if choice else None
    best: list[tuple[Candidate, float, np.ndarray]] = []
    row = 0
    for group in lists:
        scored = []
        for candidate in group:
            rows = probs[row : row + len(candidate.parts)]
            score = score_of(candidate, rows, None if verdicts is None else verdicts[row : row + len(candidate.parts)])
            row += len(candidate.parts)
            scored.append((candidate, score, rows))
        best.append(max(scored, key=lambda item: item[1]) if scored else (None, -np.inf, probs[:0]))  # type: ignore[arg-type]
    chosen = _best_line(best[: len(found.groups)], best[len(found.groups) :])
    digits: list[DigitReading] = []
    for candidate, _, rows in chosen:
        for part, p in zip(candidate.parts, rows, strict=True):
            order = np.argsort(-p, kind="stable")[:top_k]
            top = [{"digit": int(d), "probability": float(p[d])} for d in order]
            digits.append(DigitReading(part.box, int(order[0]), float(p[order[0]]), top, list(part.notes),
                                       part.image, p))  # fmt: skip
    if len(digits) > max_digits:
        raise ImageError(f"more than {max_digits} digits ({len(digits)}): crop the picture to one number")
    confidence = min(d.probability for d in digits)
    notes = list(found.notes)
    unsure = [d for d in digits if d.probability < uncertain_below]
    if len(digits) >= 2 and len(unsure) >= NOT_DIGITS_SHARE * len(digits):
        notes.append("many digits are uncertain: this may not be digits (or not one number)")
    elif unsure and len(digits) > 1:  # one digit shows its own probability, as it always has
        places = ", ".join(str(digits.index(d) + 1) for d in unsure)
        notes.append(f"uncertain: digit {places} below {uncertain_below:.0%}")
    text = "".join(str(d.digit) for d in digits)
    return NumberReading(text, digits, confidence, bool(unsure), notes)
