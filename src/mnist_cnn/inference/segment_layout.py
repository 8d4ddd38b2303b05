"""Where the digits of a written number are: ink → groups of components → candidate readings.

Pure geometry, no model: `layout` finds the writing with the page cleaning of a single digit (but
keeping every piece of writing), takes its connected components, drops specks, merges the pieces of
one digit (a 5's flag above its body, the gaps of a dry pen: pieces that overlap in columns or lie
close to a larger one), and for every group wide enough to hold touching digits lists candidate
cuts (`segment_candidates`, along the cheapest ink paths of `segment_cuts`). Which candidate holds
is decided by the classifier (`segment.choose`): recognition-based segmentation, not a fixed
width. Every candidate part is already normalised like a single digit (imaging.digit_field), so
one classifier batch decides all.

OpenCV does the components; the grouping and cut search are short loops over a few boxes, which
no library offers in this shape.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from mnist_cnn.inference import imaging
from mnist_cnn.inference.image_decode import ImageError
from mnist_cnn.inference.segment_candidates import Box, Candidate, Line, Part, candidates, scaled

DUST = 0.1  # marks smaller than this share of the writing's height are dust, not even pieces of a digit
MAX_MARKS = 200  # marks grouped at most (the largest); more is grain, not writing
FAINT = 0.6  # a mark whose ink is lighter than this share of the darkest mark's is not writing
LOW = 0.45  # a mark (after merging) lower than this share of the writing's height is not a digit
OVERLAP = 0.5  # pieces whose column ranges overlap by this share of the narrower one are one digit
INSIDE = 0.85  # two tall marks are one digit only when one lies within this share of the other's columns
NEAR_GAP = 0.2  # a small piece within this share of the writing's height of a larger one joins it
SMALL = 0.6  # "small": at most this share of the writing's height tall
MARK_AREA = 0.0005  # a dropped mark covering this share of the picture is worth a note
ONE_DIGIT = 0.75  # a lone group no wider than this share of its height is one digit: today's path
JOIN_GAP = 0.15  # neighbours closer than this share of the writing's height may be the pieces of one digit
JOIN_WIDE = 1.0  # if together they are no wider than this share of the writing's (or their) height
OTHER_LINE = 0.3  # a group sharing less than this share of its height with the writing's band is another line


@dataclass
class Layout:
    """The writing's groups, left to right, each with its candidate readings; remarks on the whole.

    joined[i], where not empty, reads groups i and i+1 together as one digit (a 4 written in two
    strokes, a 0 with a gap): `segment.choose` weighs it against reading them apart.
    """

    groups: list[list[Candidate]]
    notes: list[str]
    single: bool = False  # one digit: the only candidate is exactly today's single-digit result
    source_notes: list[str] = field(default_factory=list)  # what reading the file noted (callers fill it)
    joined: list[list[Candidate]] = field(default_factory=list)

    def candidate_lists(self) -> list[list[Candidate]]:
        """The groups' candidates, then the joined pairs': the order of `images()`."""
        return [*self.groups, *self.joined]

    def parts(self) -> list[Part]:
        """Every candidate's parts, in the order of `candidate_lists()`: one row each in `images()`."""
        return [p for group in self.candidate_lists() for c in group for p in c.parts]

    def images(self) -> np.ndarray:
        """Every candidate part's 28×28, in order, as one (N, 28, 28, 1) float32 batch."""
        parts = self.parts()
        if not parts:
            return np.zeros((0, 28, 28, 1), np.float32)
        return np.stack([p.image for p in parts]).astype(np.float32)[..., np.newaxis]

    def geometry(self) -> np.ndarray:
        """Every candidate part's Part.geometry, in the order of `images()`, as (N, 3) float32."""
        shapes = [p.geometry for p in self.parts()]
        return np.asarray(shapes, np.float32).reshape(len(shapes), 3)


def single(gray: np.ndarray, result: imaging.Preprocessed | None = None) -> Layout:
    """Today's one-digit reading as a layout (the box is the whole image); `result`: already computed."""
    result = imaging.preprocess_array(gray) if result is None else result
    box = (0, 0, int(gray.shape[1]), int(gray.shape[0]))
    return Layout([[Candidate([Part(box, result.image, list(result.notes))])]], [], single=True)


def layout(gray: np.ndarray, max_digits: int = 12) -> Layout:
    """Find the digits of the writing in `gray` (2-D, [0, 1], 1 = white) and their candidate readings.

    Raises ImageError for a picture with no writing, several lines of writing, or more than
    `max_digits` digits.
    """
    import cv2

    g = np.asarray(gray, dtype=np.float32)
    if g.ndim != 2:
        raise ImageError(f"expected a 2-D grayscale image, got an array of shape {g.shape}")
    if max(g.shape) <= imaging.FIELD:
        return single(g)  # an MNIST-sized picture holds one digit
    ink, notes, today = imaging.writing(g)
    scale = (g.shape[1] / ink.shape[1], g.shape[0] / ink.shape[0])
    count, labels, stats, _ = cv2.connectedComponentsWithStats((ink > 0).astype(np.uint8), connectivity=8)
    if count <= 1:
        raise ImageError("no digit found (the image looks blank)")
    all_boxes = [_stat_box(stats[i]) for i in range(1, count)]
    areas = stats[1:, 4].astype(np.float64)
    rough = _writing_height(all_boxes, areas)
    # Grain and dust first (they would only slow the grouping), the MAX_MARKS largest marks at most.
    sizes = np.array([max(b[2] - b[0], b[3] - b[1]) for b in all_boxes])
    chosen = [int(i) for i in np.argsort(-areas, kind="stable") if sizes[i] >= DUST * rough][:MAX_MARKS]
    boxes = [all_boxes[i] for i in chosen]
    groups = [[chosen[i] for i in grp] for grp in _group(boxes, rough)]
    boxes = all_boxes
    group_boxes = [_union([boxes[i] for i in grp]) for grp in groups]
    height = _writing_height(group_boxes, np.array([areas[grp].sum() for grp in groups]))
    kept, dropped = [], []
    # One pen writes a number: a mark much fainter than the darkest is a shadow's or a line's leftover.
    darkness = [_darkness(ink, labels, box, grp) for box, grp in zip(group_boxes, groups, strict=True)]
    for grp, dark, box in zip(groups, darkness, group_boxes, strict=True):
        # A number's digits stand about as tall as each other; lower marks are specks, dashes, leftovers.
        low, faint = box[3] - box[1] < LOW * height, dark < FAINT * max(darkness)
        (dropped if low or faint else kept).append((box, grp))
    if not kept:
        raise ImageError("no digit found (only specks of ink)")
    kept, strays = _one_line(kept)
    if len(kept) > max_digits:
        raise ImageError(f"more than {max_digits} digits ({len(kept)} marks): crop the picture to one number")
    marks = strays + sum(1 for box, _ in dropped if (box[2] - box[0]) * (box[3] - box[1]) >= MARK_AREA * ink.size)
    mark_notes = [f"{marks} small mark{'s' if marks > 1 else ''} ignored"] if marks else []
    kept.sort(key=lambda item: (item[0][0] + item[0][2]) / 2)
    if len(kept) == 1 and kept[0][0][2] - kept[0][0][0] <= ONE_DIGIT * (kept[0][0][3] - kept[0][0][1]):
        return single(g, today())  # one narrow group: exactly today's one-digit path (its notes included)
    line = Line(height, _typical_width([box for box, _ in kept], height))

    def group_ink(box: Box, grp: list[int]) -> np.ndarray:
        mask = np.isin(labels[box[1] : box[3], box[0] : box[2]], np.asarray(grp) + 1)
        return np.where(mask, ink[box[1] : box[3], box[0] : box[2]], 0.0)

    out = [candidates(group_ink(box, grp), box, scale, line) for box, grp in kept]
    joined = []
    for (a, grp_a), (b, grp_b) in itertools.pairwise(kept):
        box = _union([a, b])
        if b[0] - a[2] > JOIN_GAP * height or box[2] - box[0] > JOIN_WIDE * max(height, box[3] - box[1]):
            joined.append([])  # too far apart, or too wide together, to be one digit
            continue
        joined.append(candidates(group_ink(box, grp_a + grp_b), box, scale, line, whole_only=True))
    if len(out) == 1 or (len(out) == 2 and joined[0]):
        # One wide group (touching digits, or one broad digit), or two pieces that may be one digit:
        # read whole exactly as today.
        whole = today()
        first = out[0] if len(out) == 1 else joined[0]
        first[0] = Candidate([Part(scaled(_union([box for box, _ in kept]), scale), whole.image, list(whole.notes),
                                   first[0].parts[0].geometry)], first[0].features)  # fmt: skip
    return Layout(out, notes + mark_notes, joined=joined if any(joined) else [])


def _darkness(ink: np.ndarray, labels: np.ndarray, box: Box, grp: list[int]) -> float:
    """How dark a group's ink is: the 90th percentile of its pixels (read within its box)."""
    window = (slice(box[1], box[3]), slice(box[0], box[2]))
    return float(np.percentile(ink[window][np.isin(labels[window], np.asarray(grp) + 1)], 90))


def _stat_box(stat: np.ndarray) -> Box:
    left, top, width, height = (int(v) for v in stat[:4])
    return left, top, left + width, top + height


def _union(boxes: list[Box]) -> Box:
    return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)


def _writing_height(boxes: list[Box], areas: np.ndarray) -> float:
    """The height of the writing: the median height of the marks holding at least a fifth of the largest one's ink."""
    heavy = [b[3] - b[1] for b, area in zip(boxes, areas, strict=True) if area >= 0.2 * float(np.max(areas))]
    return float(np.median(heavy))


def _group(boxes: list[Box], height: float) -> list[list[int]]:
    """Merge the components that make one digit, until nothing more merges."""
    groups = [[i] for i in range(len(boxes))]
    merged = True
    while merged and len(groups) > 1:
        merged = False
        unions = [_union([boxes[i] for i in grp]) for grp in groups]
        # The closest pair first: a 5's loose flag lies near the next digit too, but shares its own body's columns.
        pairs = [(a, b) for a, b in itertools.combinations(range(len(groups)), 2)
                 if _same_digit(unions[a], unions[b], height)]  # fmt: skip
        if pairs:
            a, b = max(pairs, key=lambda pair: _closeness(unions[pair[0]], unions[pair[1]]))
            groups[a] = groups[a] + groups[b]
            del groups[b]
            merged = True
    return groups


def _closeness(a: Box, b: Box) -> float:
    """How much two marks share columns (a share of the narrower one; negative: the gap between them)."""
    overlap = min(a[2], b[2]) - max(a[0], b[0])
    return overlap / max(min(a[2] - a[0], b[2] - b[0]), 1)


def _same_digit(a: Box, b: Box, height: float) -> bool:
    """Two marks belong to one digit: they share most columns, or a small one lies close to the other."""
    overlap = min(a[2], b[2]) - max(a[0], b[0])
    narrower = min(a[2] - a[0], b[2] - b[0])
    vertical_gap = max(a[1], b[1]) - min(a[3], b[3])
    small = min((a, b), key=lambda box: box[3] - box[1])
    is_small = small[3] - small[1] <= SMALL * height  # a flag, a bar, a piece of a broken stroke
    # Two tall marks side by side are two digits even when they lean over each other (a slanted 1
    # beside a 7), unless one stands almost wholly within the other's columns.
    share = OVERLAP if is_small else INSIDE
    if overlap >= share * max(narrower, 1) and vertical_gap < 0.5 * height:
        return True
    if not is_small:
        return False
    gap = max(-overlap, 0)
    return gap <= NEAR_GAP * height and vertical_gap <= NEAR_GAP * height


def _one_line(kept: list[tuple[Box, list[int]]]) -> tuple[list[tuple[Box, list[int]]], int]:
    """The groups on the writing's line; one shorter mark off it joins the digit above or below it, or goes.

    Several marks off the line, or one as tall as the line's digits, are another line of writing:
    refused, since a number is read from one line. Returns the groups and how many marks were dropped.
    """
    top, bottom = float(np.median([b[1] for b, _ in kept])), float(np.median([b[3] for b, _ in kept]))
    band = max(bottom - top, 1.0)
    off = [
        item for item in kept if min(item[0][3], bottom) - max(item[0][1], top) < OTHER_LINE * (item[0][3] - item[0][1])
    ]
    if not off:
        return kept, 0
    if len(off) > 1 or off[0][0][3] - off[0][0][1] >= 0.8 * band:
        raise ImageError("several lines of writing: crop the picture to one line (one number)")
    (box, grp), rest = off[0], [item for item in kept if item is not off[0]]
    # A piece of a digit cut off by a shadow's edge or a gap: the digit whose columns it shares, just above or below.
    best = max(rest, key=lambda item: min(item[0][2], box[2]) - max(item[0][0], box[0]), default=None)
    if best is not None and min(best[0][2], box[2]) - max(best[0][0], box[0]) > 0:
        gap = max(best[0][1], box[1]) - min(best[0][3], box[3])
        if gap <= NEAR_GAP * band:
            merged = (_union([best[0], box]), best[1] + grp)
            return [merged if item is best else item for item in rest], 0
    return rest, 1


def _typical_width(boxes: list[Box], height: float) -> float:
    """A digit's width in this writing: the median group's (most groups are one digit), never under half its height."""
    return max(float(np.percentile([b[2] - b[0] for b in boxes], 40)), 0.5 * height)
