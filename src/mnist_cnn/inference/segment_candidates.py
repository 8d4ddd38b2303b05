"""Candidate readings of one group of ink: read whole, or cut into 2..MAX_PARTS touching digits.

`segment_layout` finds the groups; here each group's candidates and their shape features are
listed, every part already normalised like a single digit (imaging.digit_field). Which candidate
holds is decided in `segment.choose` (the classifier, the segment verifier and these features).
Hand-written: a few boxes and masks per group, in no library's shape.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass, field

import numpy as np

from mnist_cnn.inference import imaging
from mnist_cnn.inference.image_decode import ImageError
from mnist_cnn.inference.segment_cuts import find_cuts

# A group wider than this share of its height may be touching digits: two 1s side by side are ~0.5,
# two 1s touching at the foot (a V) ~0.4 (at 0.45 one such "11" in 1,000 strings was read "1").
MAY_TOUCH = 0.35
MIN_PART = 0.12  # a cut never leaves a part narrower than this share of the height (a 1 is ~0.15)
# Cut paths per family (segment_cuts). With the first weights, 5, 7, 10, 14, 20 read 86.9, 89.5, 90.9,
# 91.4, 91.5% of the benchmark's 1,000 four-digit strings right (20: twice 14's time).
MAX_CUTS = 12
WHOLE_WIDE = 1.2  # a group read as one digit is "wide" by the share of its height it is wider than this
PART_WIDE = 1.1  # so is a part of a cut group
WIDER_THAN_OTHERS = 1.55  # and "wider than the others" by the line's typical digits it is wider than this many
FRAGMENT = 0.35  # a cut part shorter than this share of its group's height is never a digit
SHORT = 0.6  # a cut part shorter than this share of its group's height is likely a fragment
MIN_INK = 0.1  # a cut part holding less than this share of its group's ink is a sliver, not a digit
MAX_PARTS = 4  # at most this many touching digits in one group
# A candidate's shape, weighed in segment.choose.
FEATURES = ("cuts", "crossings", "short", "wide", "relative", "joined")

Box = tuple[int, int, int, int]  # left, top, right, bottom (right/bottom exclusive)


@dataclass
class Part:
    """One would-be digit: its box in the original image, the 28×28 the model sees, remarks, its shape.

    geometry: what the 28×28 no longer shows (normalising squeezes every part into the same box), as
    logs of shares of the writing's height: the part's height and width, and the line's typical
    digit width. The segment verifier reads it next to the image (two touching digits are wide).
    Left at zeros only where no verifier reads it (a one-digit layout has nothing to choose).
    """

    box: Box
    image: np.ndarray
    notes: list[str] = field(default_factory=list)
    geometry: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass
class Candidate:
    """One way to read a group: its parts left to right, and the shape features `segment.choose` weighs.

    features: cuts made, strokes crossed beyond the first per cut, how short the parts are (a share
    of SHORT, summed), how much wider than tall (past WHOLE_WIDE / PART_WIDE, summed), how much
    wider than the line's typical digit (past WIDER_THAN_OTHERS; the whole reading only), and
    whether separate marks were joined into one digit (1) or not (0).
    """

    parts: list[Part]
    features: dict[str, float] = field(default_factory=lambda: dict.fromkeys(FEATURES, 0.0))


def scaled(box: Box, scale: tuple[float, float]) -> Box:
    """A work-size box in original-image pixels."""
    sx, sy = scale
    return int(np.floor(box[0] * sx)), int(np.floor(box[1] * sy)), int(np.ceil(box[2] * sx)), int(np.ceil(box[3] * sy))


@dataclass(frozen=True)
class Line:
    """The writing a group stands in: its height and its typical digit's width (work-size pixels)."""

    height: float
    typical: float

    def geometry(self, width: float, height: float) -> tuple[float, float, float]:
        """A part's Part.geometry from its size in work-size pixels."""
        return (float(np.log(max(height, 1.0) / self.height)), float(np.log(max(width, 1.0) / self.height)),
                float(np.log(self.typical / self.height)))  # fmt: skip


def candidates(
    group_ink: np.ndarray, box: Box, scale: tuple[float, float], line: Line, whole_only: bool = False
) -> list[Candidate]:
    """The group read whole, and (if wide) cut into 2..MAX_PARTS digits along its cheapest ink paths.

    whole_only: the group is two neighbouring marks joined; only its reading as one digit is listed
    (cut apart, it would read as the marks themselves).
    """
    height, width = group_ink.shape
    everything = np.ones(group_ink.shape, dtype=bool)
    whole = _part(group_ink, box, everything, scale, line)
    if whole is None:
        raise ImageError("no digit found (only specks of ink)")
    # Wider than tall, or much wider than the line's other digits: likely several digits.
    wide, relative = max(0.0, width / height - WHOLE_WIDE), max(0.0, width / line.typical - WIDER_THAN_OTHERS)
    found = [Candidate([whole], {**dict.fromkeys(FEATURES, 0.0), "wide": wide, "relative": relative,
                                 "joined": float(whole_only)})]  # fmt: skip
    if whole_only or width <= MAY_TOUCH * height:
        return found
    cuts = find_cuts(group_ink, max(2, int(MIN_PART * height)), MAX_CUTS)
    lefts = [c.left_of(group_ink.shape) for c in cuts]
    most = min(MAX_PARTS, max(2, int(width / (0.45 * height)) + 1))
    total_ink, seen = float(group_ink.sum()), set()
    # A part lies between two cuts (None: the group's edge). Many candidates share a part, so its
    # mask, ink share and normalised 28×28 are each made once.

    @functools.cache
    def mask_between(ends: tuple) -> np.ndarray:
        left, right = ends
        left_of_left = ~everything if left is None else lefts[left]
        return (everything if right is None else lefts[right]) & ~left_of_left

    @functools.cache
    def share_of(ends: tuple) -> float:
        return float(group_ink[mask_between(ends)].sum()) / total_ink

    @functools.cache
    def part_of(ends: tuple) -> Part | None:
        return _part(group_ink, box, mask_between(ends), scale, line)

    for parts in range(2, most + 1):
        for chosen in itertools.combinations(range(len(cuts)), parts - 1):
            if any(np.any(cuts[a].columns >= cuts[b].columns) for a, b in itertools.pairwise(chosen)):
                continue  # paths that meet or cross do not make separate digits
            between = list(itertools.pairwise([None, *chosen, None]))
            if min(share_of(ends) for ends in between) < MIN_INK:
                continue  # a sliver of a stroke beside a whole digit
            if (same := tuple(round(share_of(ends), 6) for ends in between)) in seen:
                continue  # cut paths apart only on paper share the ink alike: the same digits
            seen.add(same)
            pieces = [part_of(ends) for ends in between]
            if any(p is None or p.box[3] - p.box[1] < FRAGMENT * (box[3] - box[1]) * scale[1] for p in pieces):
                continue  # a sliver or a fragment of a stroke, not a digit
            shapes = [_part_shape(p.box, box, scale) for p in pieces]  # type: ignore[union-attr]
            features = dict.fromkeys(FEATURES, 0.0) | {
                "cuts": len(chosen),
                "crossings": sum(max(0, cuts[i].crossings - 1) for i in chosen),
                "short": sum(s[0] for s in shapes),
                "wide": sum(s[1] for s in shapes),
            }
            found.append(Candidate(pieces, features))  # type: ignore[arg-type]
    return found


def _part_shape(part: Box, group: Box, scale: tuple[float, float]) -> tuple[float, float]:
    """A cut part's (shortness, wideness): below SHORT of its group's height, past PART_WIDE of its own."""
    width, height = (part[2] - part[0]) / scale[0], (part[3] - part[1]) / scale[1]
    short = max(0.0, SHORT - height / max(group[3] - group[1], 1)) / SHORT
    return short, max(0.0, width / max(height, 1.0) - PART_WIDE)


def _part(group_ink: np.ndarray, box: Box, mask: np.ndarray, scale: tuple[float, float], line: Line) -> Part | None:
    """The group's ink under `mask` as one digit (None when it holds too little ink)."""
    piece = np.where(mask, group_ink, 0.0)
    rows, cols = np.nonzero(piece.any(axis=1))[0], np.nonzero(piece.any(axis=0))[0]
    if rows.size == 0:
        return None
    try:
        image, notes = imaging.digit_field(piece)
    except ImageError:
        return None
    part_box = (box[0] + int(cols[0]), box[1] + int(rows[0]), box[0] + int(cols[-1]) + 1, box[1] + int(rows[-1]) + 1)
    geometry = line.geometry(float(cols[-1] - cols[0] + 1), float(rows[-1] - rows[0] + 1))
    return Part(scaled(part_box, scale), image, notes, geometry)
