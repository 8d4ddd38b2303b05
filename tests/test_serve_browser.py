"""The draw-a-digit page in a real headless Chromium: what it shows equals what the API answers."""

from __future__ import annotations

import httpx
import pytest

from browser import CHROMEDRIVER, CHROMIUM, MISSING, ONE, SEVEN, WAIT, chromium, draw, running, wait_for_answer
from conftest import ROOT
from mnist_cnn.serve.app import create_app
from mnist_cnn.serve.model import load_served

pytestmark = [pytest.mark.smoke, pytest.mark.browser]


@pytest.fixture(scope="module")
def served(smoke_run):
    served = load_served(str(smoke_run.root))
    with running(create_app(served)) as url:
        yield served, url


@pytest.fixture(scope="module")
def page(served):
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(MISSING)  # scripts/test installs them: a missing browser must not pass silently
    _, url = served
    with chromium() as driver:
        driver.get(url + "/")
        yield driver


def settled(driver, source: str) -> dict:
    """Wait until the page shows the answer to its latest request; return what it shows."""
    wait_for_answer(driver, source)
    bars = driver.find_elements("css selector", "#bars li")
    return {
        "digit": int(driver.find_element("id", "digit").text),
        "probabilities": [float(bar.get_attribute("data-probability")) for bar in bars],
        "top": [bar.get_attribute("class") for bar in bars],
    }


def assert_shows(shown: dict, answer: dict) -> None:
    assert shown["digit"] == answer["digit"]
    assert shown["probabilities"] == answer["probabilities"]  # JSON numbers round-trip exactly through JS
    assert shown["top"][answer["digit"]] == "top"


def test_page_shows_the_model_and_works_offline(page, served):
    from selenium.webdriver.support.ui import WebDriverWait

    facts, _ = served
    # The facts arrive by fetch after the page loads: wait for them rather than race them.
    WebDriverWait(page, WAIT).until(lambda d: d.find_element("id", "model-facts").text.startswith("Model: "))
    text = page.find_element("id", "model-facts").text
    assert text.startswith(f"Model: {facts.facts['name']} · test accuracy {facts.facts['test_accuracy']:.2%}")
    entries = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert entries and all(name.startswith("http://127.0.0.1:") for name in entries), entries


@pytest.mark.parametrize("kind, stroke", [("pen", SEVEN), ("mouse", ONE), ("touch", SEVEN)])
def test_drawn_digit_shows_the_apis_answer_for_the_same_canvas(page, served, kind, stroke):
    from selenium.webdriver.common.keys import Keys

    _, url = served
    clear = page.find_element("id", "clear")
    clear.send_keys(Keys.ENTER)  # a real button: works from the keyboard
    assert page.find_element("id", "digit").text == "?"
    draw(page, page.find_element("id", "pad"), stroke, kind)
    shown = settled(page, "canvas")
    pixels = page.execute_script("return document.getElementById('pad').toDataURL('image/png')")
    response = httpx.post(f"{url}/v1/predict", json={"images": [{"data_url": pixels}]}, timeout=10)
    assert response.status_code == 200, response.text
    assert_shows(shown, response.json()["predictions"][0])
    seen_ink = page.execute_script(
        "const c = document.getElementById('seen').getContext('2d');"
        "return c.getImageData(0, 0, 28, 28).data.filter((v, i) => i % 4 === 0 && v > 0).length"
    )
    assert seen_ink > 10  # the 28×28 image the model saw is drawn


def test_uploaded_photo_shows_the_apis_answer(page, served, tmp_path):
    _, url = served
    photo = ROOT / "samples" / "seven-photo.jpg"
    page.find_element("id", "upload").send_keys(str(photo))
    shown = settled(page, "upload")
    answer = httpx.post(f"{url}/v1/predict", files={"file": (photo.name, photo.read_bytes())}, timeout=10)
    assert_shows(shown, answer.json()["predictions"][0])
    assert shown["digit"] == 7
    assert page.find_element("id", "photo").is_displayed()
    screenshot = tmp_path / "page.png"
    assert page.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000


def test_a_file_that_is_not_an_image_shows_the_apis_error(page):
    from selenium.webdriver.support.ui import WebDriverWait

    page.find_element("id", "upload").send_keys(str(ROOT / "pyproject.toml"))
    WebDriverWait(page, WAIT).until(lambda d: d.find_element("id", "result").get_attribute("data-state") == "error")
    assert page.find_element("id", "error").text == "not an image file (unrecognised format)"
