"""The draw-a-digit page reads a photo of a digit written on ruled paper (real headless Chromium)."""

from __future__ import annotations

import httpx
import pytest

from browser import CHROMEDRIVER, CHROMIUM, MISSING, chromium, running
from mnist_cnn import paper_photos
from mnist_cnn.serve.app import create_app
from mnist_cnn.serve.model import load_served

pytestmark = [pytest.mark.smoke, pytest.mark.browser]
WAIT = 30  # seconds for the page to settle; generous on a shared machine


def test_ruled_paper_photo_is_read_on_the_draw_page(smoke_run, mnist, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(MISSING)
    seven = mnist.x_test[0].astype("float32") / 255.0  # the test set's first digit, a clear 7
    assert mnist.y_test[0] == 7
    photo = tmp_path / "notebook-seven.jpg"
    paper_photos.photo(seven, "ruled", 3).save(photo, quality=90)
    served = load_served(str(smoke_run.root))
    with running(create_app(served)) as url, chromium() as driver:
        driver.get(url + "/")
        driver.find_element("id", "upload").send_keys(str(photo))

        def done(d):
            result = d.find_element("id", "result")
            if result.get_attribute("data-state") == "error":
                raise AssertionError(d.find_element("id", "error").text)
            return result.get_attribute("data-state") == "done" and result.get_attribute("data-source") == "upload"

        WebDriverWait(driver, WAIT).until(done)
        shown = int(driver.find_element("id", "digit").text)
        notes = [li.text for li in driver.find_elements("css selector", "#notes li")]
        answer = httpx.post(f"{url}/v1/predict", files={"file": (photo.name, photo.read_bytes())}, timeout=10)
    assert answer.status_code == 200, answer.text
    prediction = answer.json()["predictions"][0]
    assert shown == prediction["digit"] == 7
    assert any("ruled lines removed" in note for note in prediction["notes"]), prediction["notes"]
    assert any("ruled lines removed" in note for note in notes), notes  # the page shows what was done
