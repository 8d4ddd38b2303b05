"""The written-number photo generator (mnist_cnn.number_photos) and the robustness report's numbers section.

Fast tier: font digits made MNIST-style (no dataset), read by the template classifier of tests/segment_ink.py.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from segment_ink import TemplateRuntime, glyph

from mnist_cnn import number_photos, paper_photos, robustness


def font_digits() -> tuple[np.ndarray, np.ndarray]:
    """The ten font digits as MNIST-style 28×28 (ink 1 on 0) and their labels."""
    return np.stack([paper_photos._mnist_style(glyph(str(d))) for d in range(10)]), np.arange(10, dtype=np.uint8)


def test_photo_says_what_is_written_with_each_digit_box_on_the_page():
    x, y = font_digits()
    shot = number_photos.number_photo(x[[2, 0, 2, 6]], y[[2, 0, 2, 6]], "ruled", seed=4, touching=0.0)
    assert shot.text == "2026" and shot.touching == 0 and len(shot.boxes) == 4
    gray = np.asarray(shot.image.convert("L"), np.float32) / 255
    lefts = [b[0] for b in shot.boxes]
    assert lefts == sorted(lefts)
    for left, top, right, bottom in shot.boxes:
        assert 0 <= left < right <= gray.shape[1] and 0 <= top < bottom <= gray.shape[0]
        assert gray[top:bottom, left:right].min() < 0.5  # ink inside every box


def test_touching_pairs_touch_and_the_draws_repeat():
    x, y = font_digits()
    first = number_photos.number_photo(x[[4, 7, 1]], y[[4, 7, 1]], "plain", seed=9, touching=1.0)
    again = number_photos.number_photo(x[[4, 7, 1]], y[[4, 7, 1]], "plain", seed=9, touching=1.0)
    assert first.touching == 2
    assert np.array_equal(np.asarray(first.image), np.asarray(again.image))
    # Touching boxes overlap or meet: no paper between the pairs.
    assert all(b[0] <= a[2] for a, b in itertools.pairwise(first.boxes))


def test_unknown_kind_is_refused():
    x, y = font_digits()
    with pytest.raises(ValueError, match="kind"):
        number_photos.number_photo(x[:2], y[:2], "framed", seed=0)


def test_numbers_section_scores_strings_and_digits():
    x, y = font_digits()
    report = robustness.numbers(TemplateRuntime(), x, y, per_row=2, plan=[("plain", 3)])
    (row,) = report["rows"]
    assert row["paper"] == "plain" and row["digits"] == 3 and row["strings"] == 2
    assert row["digit_accuracy"] >= 0.5, row  # font digits on plain paper: mostly read
    assert row["string_accuracy"] <= row["digit_accuracy"]  # a string read right has all its digits right
    json.dumps(report, allow_nan=False)
    table = robustness.format_table({"clean_accuracy": 1, "test_images": 1, "preprocessed_clean_accuracy": 1,
                                     "preprocessed_images": 1, "rows": [], "numbers": report})  # fmt: skip
    assert "Numbers:" in table and "plain" in table


def test_digits_in_place_counts_in_order_matches():
    assert robustness._digits_in_place("2026", "2026") == 4
    assert robustness._digits_in_place("206", "2026") == 3  # one lost digit costs one
    assert robustness._digits_in_place("20026", "2026") == 4  # one extra costs nothing of the truth
    assert robustness._digits_in_place("", "2026") == 0
