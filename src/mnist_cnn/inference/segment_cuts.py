"""Where touching digits may be cut: paths from top to bottom that cross the least ink.

A straight vertical cut cannot separate digits that lean into each other (a 2's tail under the next
digit). Here one dynamic-programming pass over the group finds, for every column of its bottom row,
the cheapest path from the top (each row one pixel left, right or straight below the last, paying
for the ink it crosses and a little for each step aside); the local minima of that cost are the
candidate cuts, each traced back to its path. Hand-written: no library offers this "drop-fall"
style of cut for a small ink array, and the pass is a few NumPy operations per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STEP_ASIDE = 0.15  # cost of moving one column sideways (ink costs up to 1 a pixel)
STROKE = 0.5  # ink above this is a stroke when counting what a cut crosses
GAP = 2  # rows of paper that separate two strokes crossed by a cut


@dataclass(frozen=True)
class Cut:
    """A path top to bottom: the column at each row (pixels left of it are the left part), strokes crossed."""

    columns: np.ndarray
    crossings: int

    def left_of(self, shape: tuple[int, int]) -> np.ndarray:
        """Boolean mask of the pixels left of the path."""
        return np.arange(shape[1])[np.newaxis, :] < self.columns[:, np.newaxis]


def find_cuts(ink: np.ndarray, min_part: int, most: int) -> list[Cut]:
    """Up to `most` cheapest cuts of `ink` (rows × columns, bright ink in [0, 1]), left to right.

    Every cut leaves at least `min_part` columns at its bottom on either side, and two cuts end at
    least `min_part` apart.
    """
    height, width = ink.shape
    if width <= 2 * min_part:
        return []
    cost = ink[0].astype(np.float64).copy()
    moves = np.zeros((height, width), np.int8)
    for row in range(1, height):
        left = np.concatenate([[np.inf], cost[:-1]]) + STEP_ASIDE
        right = np.concatenate([cost[1:], [np.inf]]) + STEP_ASIDE
        stacked = np.stack([left, cost, right])
        choice = np.argmin(stacked, axis=0)
        moves[row] = choice.astype(np.int8) - 1
        cost = stacked[choice, np.arange(width)] + ink[row]
    inner = np.arange(min_part, width - min_part)
    order = inner[np.argsort(cost[inner], kind="stable")]
    ends: list[int] = []
    for column in order:
        if all(abs(int(column) - e) >= min_part for e in ends):
            ends.append(int(column))
        if len(ends) == most:
            break
    cuts: list[Cut] = []
    for end in sorted(ends):
        cut = _trace(moves, end, ink)
        if not any(np.array_equal(cut.columns, other.columns) for other in cuts):
            cuts.append(cut)  # paths from neighbouring ends often merge into one
    return cuts


def _trace(moves: np.ndarray, end: int, ink: np.ndarray) -> Cut:
    """Follow the moves back from the bottom row's `end` column to the top."""
    height = moves.shape[0]
    columns = np.empty(height, np.int64)
    column = end
    for row in range(height - 1, -1, -1):
        columns[row] = column
        column += int(moves[row, column]) if row else 0
    solid = ink[np.arange(height), columns] > STROKE
    # A gap of a pixel or two inside a stroke (the path grazing its rim) is not a second stroke.
    rows = np.flatnonzero(solid)
    crossings = 0 if rows.size == 0 else 1 + int(np.count_nonzero(np.diff(rows) > GAP))
    return Cut(columns, crossings)
