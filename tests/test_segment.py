"""Reading numbers (inference/segment.py) on synthetic ink: separate, touching, broken, specks, rulings, one digit.

Fast tier: font digits (tests/segment_ink.py) read by a template classifier, no dataset, no trained model.
"""

from __future__ import annotations

import numpy as np
import pytest
from segment_ink import HEIGHT, PAD, glyph, template_classifier, write, write_marks

from mnist_cnn.inference import imaging, segment
from mnist_cnn.inference.image_decode import WORK_SIDE


def read(gray: np.ndarray, **kwargs) -> segment.NumberReading:
    return segment.read_number(gray, template_classifier, **kwargs)


def test_separate_digits_are_read_left_to_right_with_their_boxes():
    gray = write("2026", gaps=20)
    reading = read(gray)
    assert reading.text == "2026"
    assert reading.confidence == min(d.probability for d in reading.digits)
    lefts = [d.box[0] for d in reading.digits]
    assert lefts == sorted(lefts)
    # Each box sits on its own digit in the original image's pixels.
    x = PAD
    for digit, character in zip(reading.digits, "2026", strict=True):
        width = glyph(character).shape[1]
        left, top, right, bottom = digit.box
        assert abs(left - x) <= 3 and abs(right - (x + width)) <= 3
        assert 0 <= top < HEIGHT // 2 < bottom <= HEIGHT
        x += width + 20


def test_boxes_are_in_original_pixels_when_the_picture_is_reduced():
    small, large = write("2026"), np.kron(write("2026"), np.ones((16, 16), np.float32))  # 2560 px wide: reduced
    assert large.shape[1] > WORK_SIDE
    boxes_small = np.array([d.box for d in read(small).digits])
    boxes_large = np.array([d.box for d in read(large).digits])
    assert read(large).text == "2026"
    assert np.abs(boxes_large - 16 * boxes_small).max() <= 24  # within about a pixel of the small picture's


def test_touching_digits_are_split_where_the_classifier_reads_them_best():
    gray = write("4207", gaps=[-5, 12, -4])  # 4 touches 2, 0 touches 7: two connected pairs
    ink = 1.0 - gray
    import cv2

    count, _ = cv2.connectedComponents((ink > 0.5).astype(np.uint8))
    assert count - 1 == 2  # the premise: two blobs of ink, four digits
    assert read(gray).text == "4207"


def test_a_broken_stroke_stays_one_digit():
    gray = write("47", gaps=30)
    seven = PAD + glyph("4").shape[1] + 30 + glyph("7").shape[1] // 2
    gray[:, seven - 4 : seven + 4] = 1.0  # a dry pen: the 7's stem cut through, two pieces
    reading = read(gray)
    assert len(reading.digits) == 2 and reading.text[0] == "4"


def test_specks_are_ignored():
    gray = write("305", gaps=25)
    rng = np.random.default_rng(3)
    for row, col in zip(rng.integers(5, HEIGHT - 5, 12), rng.integers(5, gray.shape[1] - 5, 12), strict=True):
        gray[row : row + 2, col : col + 2] = 0.0
    assert read(gray).text == "305"


def test_ruled_lines_across_the_writing_are_not_digits():
    gray = write("718", gaps=25)
    for row in range(12, HEIGHT, 34):
        gray[row : row + 2, :] = np.minimum(gray[row : row + 2, :], 0.55)  # printed grey rules
    reading = read(gray)
    assert reading.text == "718"
    assert any("ruled lines" in note or "lines removed" in note for note in reading.notes), reading.notes


def test_one_digit_gives_exactly_todays_result():
    for character in "05":
        gray = write(character)
        reading = read(gray)
        today = imaging.preprocess_array(gray)
        assert reading.text == character
        assert np.array_equal(reading.digits[0].image, today.image)
        assert reading.digits[0].notes == list(today.notes)
        assert np.allclose(reading.digits[0].probabilities, template_classifier(today.image[None, ..., None])[0])


def test_an_mnist_sized_picture_is_one_digit():
    field = imaging.preprocess_array(write("4")).image  # bright on black, 28×28
    reading = read(field)
    assert reading.text == "4" and np.array_equal(reading.digits[0].image, imaging.preprocess_array(field).image)


def test_uncertain_digits_are_marked_never_silently_sure():
    gray = write("2026", gaps=20)
    reading = read(gray, uncertain_below=0.99999)
    assert reading.uncertain
    assert any("uncertain" in note for note in reading.notes)
    assert read(gray, uncertain_below=0.0).uncertain is False


@pytest.mark.parametrize(
    "gray, message",
    [
        (write("1234567890123", gaps=10), "more than 12 digits"),
        (np.vstack([write("12", gaps=20), write("34", gaps=4)]), "several lines of writing"),
        (np.ones((120, 300), np.float32), "no digit found"),
    ],
    ids=["thirteen digits", "two lines", "blank"],
)
def test_limits_are_one_clear_error(gray, message):
    with pytest.raises(segment.ImageError, match=message):
        read(gray)


def test_max_digits_is_the_callers():
    with pytest.raises(segment.ImageError, match="more than 3 digits"):
        read(write("2026"), max_digits=3)


def test_json_is_strict_and_leaves_the_arrays_out():
    import json

    reading = read(write("42", gaps=20))
    data = reading.to_json()
    json.dumps(data, allow_nan=False)
    assert set(data) == {"text", "confidence", "uncertain", "notes", "digits"}
    assert set(data["digits"][0]) == {"box", "digit", "probability", "top_k", "notes"}
    assert len(data["digits"][0]["box"]) == 4 and len(data["digits"][0]["top_k"]) == 3


def test_page_cleaning_keeps_every_digit_only_when_asked():
    from mnist_cnn.inference import page

    gray = write("72", gaps=120)  # far apart: to a one-digit reading the second is a stray mark
    for row in range(12, HEIGHT, 34):
        gray[row : row + 2, :] = np.minimum(gray[row : row + 2, :], 0.55)
    main_only, everything = page.clean(gray), page.clean(gray, keep_all=True)
    assert any("stray mark" in note for note in main_only.notes)
    assert not any("stray mark" in note for note in everything.notes)
    halves = (slice(None, gray.shape[1] // 2), slice(gray.shape[1] // 2, None))
    assert sorted(main_only.gray[:, half].min() > 0.9 for half in halves) == [False, True]  # one digit erased
    assert all(everything.gray[:, half].min() < 0.5 for half in halves)  # both kept


def test_each_sample_photo_is_one_group_whose_whole_reading_is_todays():
    """samples/: one mark each, read whole exactly as today (28×28 and notes); whole or split is the model's call."""
    from conftest import ROOT
    from mnist_cnn.inference import segment_layout
    from mnist_cnn.inference.image_decode import decode_gray, open_checked

    for path in sorted((ROOT / "samples").iterdir()):
        with open_checked(path) as img:
            gray, _ = decode_gray(img)
        found, today = segment_layout.layout(gray), imaging.preprocess_array(gray)
        assert len(found.groups) == 1, path.name
        whole = found.groups[0][0].parts[0]
        assert np.array_equal(whole.image, today.image) and whole.notes == list(today.notes), path.name


def test_a_loose_piece_joins_the_mark_whose_columns_it_shares_not_the_nearest_first():
    from mnist_cnn.inference.segment_layout import _group

    # A 5's flag, loose, between its body (whose columns it half shares) and the next digit (a
    # small gap to the right): listed first, the next digit must not take the flag.
    boxes = [(50, 0, 80, 60), (15, 0, 45, 10), (0, 20, 30, 60)]
    assert sorted(sorted(g) for g in _group(boxes, 60.0)) == [[0], [1, 2]]


def _strokes_apart(character: str, gap: int) -> np.ndarray:
    """A font digit cut down its middle and its halves drawn `gap` px apart: one digit in two separate marks."""
    ink = glyph(character)
    middle = ink.shape[1] // 2
    return np.concatenate([ink[:, :middle], np.zeros((ink.shape[0], gap), np.float32), ink[:, middle:]], axis=1)


def test_a_digit_in_two_separate_marks_is_read_as_one_digit():
    import cv2

    gray = write_marks([glyph("2"), _strokes_apart("0", 3), glyph("7")], gaps=24)
    count, _ = cv2.connectedComponents((gray < 0.5).astype(np.uint8))
    assert count - 1 == 4  # the premise: four marks, three digits
    found = segment.layout(gray)
    assert len(found.groups) == 4 and any(found.joined)  # the 0's halves stay apart until choose() weighs them
    reading = read(gray)
    assert reading.text == "207"
    left, _, right, _ = reading.digits[1].box
    assert right - left >= glyph("0").shape[1]  # the 0's box spans both its halves


def test_close_neighbours_that_are_two_digits_stay_two():
    for pair in ("11", "17", "10"):
        reading = read(write(pair, gaps=3))
        assert reading.text == pair, pair


def test_one_digit_in_two_marks_alone_is_todays_one_digit_reading():
    gray = write_marks([_strokes_apart("0", 3)])
    reading = read(gray)
    today = imaging.preprocess_array(gray)
    assert reading.text == "0"
    assert np.array_equal(reading.digits[0].image, today.image) and reading.digits[0].notes == list(today.notes)


def test_two_ones_touching_at_the_foot_like_a_v_are_offered_cut_in_two():
    """A "11" whose strokes meet at the bottom is narrower than two upright 1s (~0.4 of its height):
    it must still get a cut between the strokes, or it can only be read as one digit."""
    import cv2

    from mnist_cnn.inference.segment_candidates import Line, candidates

    height = 100
    ink = np.zeros((height, 40), np.float32)
    cv2.line(ink, (3, 2), (17, height - 3), 1.0, 5)  # the strokes' feet touch: one component
    cv2.line(ink, (36, 2), (23, height - 3), 1.0, 5)
    assert cv2.connectedComponents((ink > 0).astype(np.uint8))[0] == 2  # background and the V
    found = candidates(ink, (0, 0, 40, height), (1.0, 1.0), Line(float(height), 40.0))
    halves = [c for c in found if len(c.parts) == 2]
    assert halves, "the V was only read whole"
    # Some cut leaves one stroke on each side: each part about as tall as the V, neither holding both tops.
    assert any(all(p.box[3] - p.box[1] > 0.8 * height and p.box[2] - p.box[0] < 25 for p in c.parts) for c in halves)
