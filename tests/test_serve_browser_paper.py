"""The draw-a-digit page reads a photo of a digit written on ruled paper (real headless Chromium)."""

from __future__ import annotations

import httpx
import pytest

from browser import draw_page, wait_for_answer
from mnist_cnn import paper_photos

pytestmark = [pytest.mark.smoke, pytest.mark.browser]


def test_ruled_paper_photo_is_read_on_the_draw_page(smoke_run, mnist, tmp_path):
    seven = mnist.x_test[0].astype("float32") / 255.0  # the test set's first digit, a clear 7
    assert mnist.y_test[0] == 7
    photo = tmp_path / "notebook-seven.jpg"
    paper_photos.photo(seven, "ruled", 3).save(photo, quality=90)
    with draw_page(smoke_run.root) as (driver, url):
        driver.find_element("id", "upload").send_keys(str(photo))
        wait_for_answer(driver, "upload")
        shown = int(driver.find_element("id", "digit").text)
        notes = [li.text for li in driver.find_elements("css selector", "#notes li")]
        answer = httpx.post(f"{url}/v1/predict", files={"file": (photo.name, photo.read_bytes())}, timeout=10)
    assert answer.status_code == 200, answer.text
    prediction = answer.json()["predictions"][0]
    assert shown == prediction["digit"] == 7
    assert any("ruled lines removed" in note for note in prediction["notes"]), prediction["notes"]
    assert any("ruled lines removed" in note for note in notes), notes  # the page shows what was done
