"""The draw page's Number mode in a real headless Chromium: draw "42" on the wide pad, read "42" back."""

from __future__ import annotations

import httpx
import pytest

from browser import ONE, WAIT, draw, draw_page, wait_for_answer

pytestmark = [pytest.mark.smoke, pytest.mark.browser]

# Strokes as offsets (CSS px) from the wide pad's centre; the pad shows 720×240 in the 960 px window.
FOUR = [
    [(-150, -80), (-165, -40), (-180, 0), (-195, 25), (-150, 25), (-105, 25)],  # the slanted arm and the bar
    [(-130, -55), (-130, 0), (-130, 45), (-130, 85)],  # the stem
]
TWO = [
    [(25, -45), (40, -70), (65, -80), (90, -70), (100, -45), (92, -15), (65, 20), (35, 55), (20, 78),
     (60, 78), (105, 78)],
]  # fmt: skip
# Pixels on the overlay that are the boxes' colour: the boxes and columns are drawn on the pad.
BOX_PIXELS = """
const d = document.getElementById('boxes').getContext('2d').getImageData(0, 0, 840, 280).data;
let n = 0;
for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200 && d[i + 2] > 150 && d[i] < 100) n++;
return n;
"""


@pytest.fixture(scope="module")
def browsing(smoke_run):
    """(driver, url): Chromium on the page of a server for the smoke run, for this module's tests."""
    with draw_page(smoke_run.root) as both:
        yield both


def test_drawn_42_reads_42_with_a_box_and_bars_per_digit(browsing):
    page, url = browsing
    page.find_element("id", "number-mode").click()
    pad = page.find_element("id", "pad")
    assert (pad.get_attribute("width"), pad.get_attribute("height")) == ("840", "280")
    assert pad.size["width"] >= 2.9 * pad.size["height"]  # the wide pad is what the user sees, too
    assert page.current_url.endswith("#number")
    for stroke in FOUR + TWO:
        draw(page, pad, stroke, "mouse")
    wait_for_answer(page, "canvas")

    assert page.find_element("id", "digit").text == "42"
    assert page.find_element("id", "result").get_attribute("data-text") == "42"
    cards = page.find_elements("css selector", "#digits .digit-card")
    assert [card.get_attribute("data-digit") for card in cards] == ["4", "2"]
    assert all(len(card.find_elements("css selector", ".bars.mini li.top")) == 1 for card in cards)
    assert page.execute_script(BOX_PIXELS) > 200  # two boxes, labels and probability columns on the pad

    # The page shows exactly what the API answers for the picture it sends (the pad at half size).
    pixels = page.execute_script("return padPicture()")
    assert pixels.startswith("data:image/png;base64,")
    answer = httpx.post(f"{url}/v1/predict", json={"images": [{"data_url": pixels}], "mode": "number"}, timeout=10)
    assert answer.status_code == 200, answer.text
    (reading,) = answer.json()["predictions"]
    assert reading["text"] == "42"
    # Boxes come in the sent picture's pixels (420×140): on the pad the 4's lies in the left half, the 2's right.
    (four, two) = (d["box"] for d in reading["digits"])
    assert 0 <= four[0] < four[2] <= 210 <= two[0] < two[2] <= 420 and max(four[3], two[3]) <= 140
    shown = [float(card.get_attribute("data-probability")) for card in cards]
    assert shown == [d["probability"] for d in reading["digits"]]
    confidence = page.find_element("id", "confidence").text
    assert confidence.endswith(f"least sure digit {reading['confidence']:.1%}")


def test_a_digit_card_opens_the_look_inside_that_digit(browsing):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    page, url = browsing
    if not page.find_element("id", "number-mode").is_selected():
        page.find_element("id", "number-mode").click()
    page.find_element("id", "clear").click()
    for stroke in FOUR + TWO:
        draw(page, page.find_element("id", "pad"), stroke, "mouse")
    wait_for_answer(page, "canvas")
    assert "click a digit's card" in page.find_element("id", "explain-status").text
    four, two = page.find_elements("css selector", "#digits .digit-card")
    two.send_keys(Keys.ENTER)  # a card is a button: the keyboard works too
    WebDriverWait(page, WAIT).until(lambda d: d.find_element("id", "explain").get_attribute("data-state") == "done")
    assert page.find_element("id", "explain").get_attribute("open") is not None
    assert page.find_element("id", "explain-status").text.startswith("Why 2:")
    assert int(page.find_element("id", "explain").get_attribute("data-layers")) > 0
    assert "explained" in two.get_attribute("class") and "explained" not in four.get_attribute("class")
    # The panel explains the card's 28×28 image: /v1/explain on those pixels answers 2 as well.
    pixels = page.execute_script(
        "const c = document.querySelectorAll('#digits .seen-small')[1].getContext('2d');"
        "const d = c.getImageData(0, 0, 28, 28).data; return Array.from({length: 784}, (_, i) => d[i * 4]);"
    )
    body = {"images": [{"pixels": pixels, "scale": 255}]}
    assert httpx.post(f"{url}/v1/predict", json=body, timeout=10).json()["predictions"][0]["digit"] == 2


def ink_photo(strokes: list[list[tuple[int, int]]], path) -> None:
    """The strokes in dark ink on white paper (a photo's polarity), 840×280 like the pad, as a PNG."""
    from PIL import Image, ImageDraw

    image = Image.new("L", (840, 280), 235)
    draw_on = ImageDraw.Draw(image)
    for stroke in strokes:  # the pad's CSS offsets from its centre, in its 840×280 pixels
        points = [(420 + x * 840 / 720, 140 + y * 280 / 240) for x, y in stroke]
        draw_on.line(points, fill=30, width=23, joint="curve")
        for x, y in points[:: len(points) - 1]:
            draw_on.ellipse((x - 11, y - 11, x + 11, y + 11), fill=30)  # round caps, as the pen draws
    image.save(path)


def test_uploaded_number_photo_reads_42_and_is_boxed_on_the_pad(browsing, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    page, url = browsing
    if not page.find_element("id", "number-mode").is_selected():
        page.find_element("id", "number-mode").click()
    photo = tmp_path / "forty-two.png"
    ink_photo(FOUR + TWO, photo)
    page.find_element("id", "upload").send_keys(str(photo))
    wait_for_answer(page, "upload")
    assert page.find_element("id", "digit").text == "42"
    files = {"file": (photo.name, photo.read_bytes())}
    answer = httpx.post(f"{url}/v1/predict", files=files, data={"mode": "number"}, timeout=10).json()
    assert answer["predictions"][0]["text"] == "42"
    cards = page.find_elements("css selector", "#digits .digit-card")
    assert [float(c.get_attribute("data-probability")) for c in cards] == [
        d["probability"] for d in answer["predictions"][0]["digits"]
    ]
    # The photo is drawn on the pad (paper-light pixels) with the boxes over it.
    WebDriverWait(page, WAIT).until(lambda d: d.execute_script(BOX_PIXELS) > 200)
    light = "const d = document.getElementById('boxes').getContext('2d').getImageData(0, 0, 840, 280).data;"
    light += "let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] > 200 && d[i + 1] > 200) n++; return n;"
    assert page.execute_script(light) > 100_000


def test_unticking_number_brings_back_the_one_digit_page(browsing):
    page, _ = browsing
    toggle = page.find_element("id", "number-mode")
    if not toggle.is_selected():  # start from Number mode whichever test ran before
        toggle.click()
    assert page.find_element("id", "pad").get_attribute("width") == "840"
    toggle.click()
    assert not toggle.is_selected() and not page.current_url.endswith("#number")
    pad = page.find_element("id", "pad")
    assert (pad.get_attribute("width"), pad.get_attribute("height")) == ("280", "280")
    assert page.find_element("id", "digit").text == "?"
    assert not page.find_elements("css selector", "#digits .digit-card")
    draw(page, pad, ONE, "mouse")
    wait_for_answer(page, "canvas")
    assert page.find_element("id", "digit").text == "1"
    assert page.find_element("id", "bars").is_displayed()
