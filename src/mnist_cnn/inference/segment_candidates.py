"""Candidate readings of one group of ink: read whole, or cut into 2..MAX_PARTS touching digits.

`segment_layout` finds the groups; here each group's candidates and their shape priors (log-odds)
are listed, every part already normalised like a single digit (imaging.digit_field). Which
candidate holds is the classifier's choice (`segment.choose`). Hand-written: a few boxes and masks
per group, in no library's shape.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from mnist_cnn.inference import imaging
from mnist_cnn.inference.image_decode import ImageError
from mnist_cnn.inference.segment_cuts import find_cuts

MAY_TOUCH = 0.75  # a group wider than this share of its height may be touching digits
MIN_PART = 0.12  # a cut never leaves a part narrower than this share of the height (a 1 is ~0.15)
MAX_CUTS = 7
WHOLE_WIDE = 1.2  # a group read as one digit pays for every share of its height it is wider than this
PART_WIDE = 1.1  # so does a part of a cut group
WIDER_THAN_OTHERS = 1.55  # and one wider than this many times the line's typical digit
WIDE_COST = 4.0  # log-odds per unit of aspect ratio past those
RELATIVE_COST = 4.0  # log-odds per typical digit's width past WIDER_THAN_OTHERS
CUT_COST = 0.3  # log-odds every cut pays: the model reads fragments of a digit confidently too
CROSS_COST = 1.0  # and per stroke it cuts beyond the first (touching digits meet in one stroke)
FRAGMENT = 0.35  # a cut part shorter than this share of its group's height is never a digit
SHORT = 0.6  # a cut part shorter than this share of its group's height is likely a fragment
SHORT_COST = 3.0  # log-odds for a part of no height at all, less for taller ones
MIN_INK = 0.1  # a cut part holding less than this share of its group's ink is a sliver, not a digit
MAX_PARTS = 4  # at most this many touching digits in one group


Box = tuple[int, int, int, int]  # left, top, right, bottom (right/bottom exclusive)


@dataclass
class Part:
    """One would-be digit: its box in the original image, the 28×28 the model sees, remarks."""

    box: Box
    image: np.ndarray
    notes: list[str] = field(default_factory=list)


@dataclass
class Candidate:
    """One way to read a group: its parts left to right, and a prior (log-odds) from their shapes."""

    parts: list[Part]
    prior: float = 0.0


def scaled(box: Box, scale: tuple[float, float]) -> Box:
    """A work-size box in original-image pixels."""
    sx, sy = scale
    return int(np.floor(box[0] * sx)), int(np.floor(box[1] * sy)), int(np.ceil(box[2] * sx)), int(np.ceil(box[3] * sy))


def candidates(group_ink: np.ndarray, box: Box, scale: tuple[float, float], typical: float) -> list[Candidate]:
    """The group read whole, and (if wide) cut into 2..MAX_PARTS digits along its cheapest ink paths."""
    height, width = group_ink.shape
    everything = np.ones(group_ink.shape, dtype=bool)
    whole = _part(group_ink, box, everything, scale)
    if whole is None:
        raise ImageError("no digit found (only specks of ink)")
    # Wider than tall, or much wider than the line's other digits: likely several digits.
    prior = _width_prior(width / height, WHOLE_WIDE) - RELATIVE_COST * max(0.0, width / typical - WIDER_THAN_OTHERS)
    found = [Candidate([whole], prior)]
    if width <= MAY_TOUCH * height:
        return found
    cuts = find_cuts(group_ink, max(2, int(MIN_PART * height)), MAX_CUTS)
    lefts = [c.left_of(group_ink.shape) for c in cuts]
    most = min(MAX_PARTS, max(2, int(width / (0.45 * height)) + 1))
    total_ink, seen = float(group_ink.sum()), set()
    for parts in range(2, most + 1):
        for chosen in itertools.combinations(range(len(cuts)), parts - 1):
            if any(np.any(cuts[a].columns >= cuts[b].columns) for a, b in itertools.pairwise(chosen)):
                continue  # paths that meet or cross do not make separate digits
            masks = [everything & ~everything, *(lefts[i] for i in chosen), everything]
            shares = [float(group_ink[right & ~left].sum()) / total_ink for left, right in itertools.pairwise(masks)]
            if min(shares) < MIN_INK:
                continue  # a sliver of a stroke beside a whole digit
            if (same := tuple(round(share, 6) for share in shares)) in seen:
                continue  # cut paths apart only on paper share the ink alike: the same digits
            seen.add(same)
            pieces = [_part(group_ink, box, right & ~left, scale) for left, right in itertools.pairwise(masks)]
            if any(p is None or p.box[3] - p.box[1] < FRAGMENT * (box[3] - box[1]) * scale[1] for p in pieces):
                continue  # a sliver or a fragment of a stroke, not a digit
            prior = sum(_part_prior(p.box, box, scale) for p in pieces)  # type: ignore[union-attr]
            prior -= sum(CUT_COST + CROSS_COST * max(0, cuts[i].crossings - 1) for i in chosen)
            found.append(Candidate(pieces, prior))  # type: ignore[arg-type]
    return found


def _part_prior(part: Box, group: Box, scale: tuple[float, float]) -> float:
    """Log-odds from a cut part's shape: not much wider than tall, not much shorter than its group."""
    width, height = (part[2] - part[0]) / scale[0], (part[3] - part[1]) / scale[1]
    short = max(0.0, SHORT - height / max(group[3] - group[1], 1))
    return _width_prior(width / max(height, 1.0), PART_WIDE) - SHORT_COST * short / SHORT


def _width_prior(aspect: float, limit: float) -> float:
    """Log-odds from a digit's width alone: one is rarely much wider than tall."""
    return -WIDE_COST * max(0.0, aspect - limit)


def _part(group_ink: np.ndarray, box: Box, mask: np.ndarray, scale: tuple[float, float]) -> Part | None:
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
    return Part(scaled(part_box, scale), image, notes)
