"""The segment verifier (one digit / several touching digits / a piece of one) and how choose() weighs it.

Fast tier: font digits (tests/segment_ink.py), the shipped ONNX verifier, no dataset. The verifier
was trained on photographed MNIST digits, so font digits are also a check that it generalises.
"""

from __future__ import annotations

import numpy as np
from segment_ink import glyph

from mnist_cnn.inference import imaging, segment, segment_verifier
from mnist_cnn.inference.segment_candidates import FEATURES, Candidate, Line, Part
from mnist_cnn.inference.segment_layout import Layout

ONE, SEVERAL, PIECE = range(3)


# The font's line: its digits' height, and a typical digit's width (a 4's).
LINE = Line(float(glyph("4").shape[0]), float(glyph("4").shape[1]))


def part(ink: np.ndarray, line: Line = LINE) -> Part:
    """The ink as a candidate part on a line (the font's): its 28×28 and its geometry, as segment_layout makes them."""
    rows, cols = np.nonzero(ink > 0)
    shape = line.geometry(float(cols.max() - cols.min() + 1), float(rows.max() - rows.min() + 1))
    return Part((0, 0, 10, 10), imaging.digit_field(ink)[0].astype(np.float32), [], shape)


def touching(left: str, right: str, overlap: int = 2) -> np.ndarray:
    """Two font digits side by side, their ink overlapping by `overlap` columns."""
    a, b = glyph(left), glyph(right)
    ink = np.zeros((max(a.shape[0], b.shape[0]), a.shape[1] + b.shape[1] - overlap), np.float32)
    ink[: a.shape[0], : a.shape[1]] = a
    ink[: b.shape[0], -b.shape[1] :] = np.maximum(ink[: b.shape[0], -b.shape[1] :], b)
    return ink


def verdicts(inks: list[np.ndarray], line: Line = LINE) -> np.ndarray:
    parts = [part(ink, line) for ink in inks]
    images = np.stack([p.image for p in parts])[..., np.newaxis]
    return segment_verifier.log_probabilities(images, np.array([p.geometry for p in parts])).argmax(axis=1)


def test_every_font_digit_alone_is_one_digit():
    assert verdicts([glyph(d) for d in "0123456789"]).tolist() == [ONE] * 10


def test_a_wide_digit_alone_in_its_picture_is_one_digit():
    """A lone group is its line's only digit: its typical width is its own, as for a lone touching pair.

    Font digits stretched 1.2 times wider than tall (no 1: a 1 that wide is no 1)."""
    from PIL import Image

    wide = []
    for digit in "023456789":
        ink = glyph(digit)
        stretched = Image.fromarray(ink).resize((int(ink.shape[0] * 1.2), ink.shape[0]), Image.BILINEAR)
        wide.append(np.asarray(stretched, np.float32))
    called = [int(verdicts([ink], Line(float(ink.shape[0]), float(ink.shape[1])))[0]) for ink in wide]
    assert called == [ONE] * len(wide)


def test_nearly_every_touching_pair_is_several_digits():
    """At most 2 of 20 missed: a pair with a 1 is the verifier's closest call (a font "17" squeezed is 0.54 "one")."""
    pairs = ["44", "17", "38", "95", "20", "61", "77", "59", "08", "11",
             "14", "71", "13", "31", "41", "19", "21", "12", "10", "16"]  # fmt: skip
    called = verdicts([touching(p[0], p[1]) for p in pairs]).tolist()
    assert called.count(SEVERAL) >= 18, dict(zip(pairs, called, strict=True))
    assert PIECE not in called  # two whole digits are never "a piece of one"


def test_halves_of_round_digits_are_pieces():
    halves = []
    # Digits whose halves are no digit: half a 4 or a 7 can look like a 1, an 8's right half like a 3.
    for digit in "0236":
        ink = glyph(digit)
        halves += [ink[:, : ink.shape[1] // 2], ink[:, ink.shape[1] // 2 :]]
    assert verdicts(halves).tolist() == [PIECE] * 8


def sure_of_everything(images: np.ndarray) -> np.ndarray:
    """A classifier as overconfident as a real one on a squeezed pair: 0.99 for some digit, always."""
    probs = np.full((len(images), 10), 0.01 / 9, np.float32)
    probs[np.arange(len(images)), np.arange(len(images)) % 10] = 0.99
    return probs


def group(whole: np.ndarray, pieces: list[np.ndarray]) -> list[Candidate]:
    return [Candidate([part(whole)]),
            Candidate([part(p) for p in pieces], dict.fromkeys(FEATURES, 0.0) | {"cuts": 1})]  # fmt: skip


def test_a_pair_the_classifier_reads_whole_with_certainty_is_still_split():
    pair = touching("4", "4")
    found = Layout([group(pair, [glyph("4"), glyph("4")])], [])
    reading = segment.choose(found, sure_of_everything(found.images()))
    assert len(reading.digits) == 2


def test_a_digit_the_classifier_reads_in_halves_with_certainty_stays_whole():
    zero = glyph("0")
    found = Layout([group(zero, [zero[:, : zero.shape[1] // 2], zero[:, zero.shape[1] // 2 :]])], [])
    reading = segment.choose(found, sure_of_everything(found.images()))
    assert len(reading.digits) == 1


def test_the_weights_cover_every_shape_feature_and_the_verifier():
    weights = segment_verifier.weights()
    assert set(FEATURES) <= set(weights) and weights["one"] > 0  # "one digit" must count for a candidate
