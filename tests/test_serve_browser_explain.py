"""The "What the network sees" panel in a real headless Chromium: tile grids per conv/pool layer, saliency overlay."""

from __future__ import annotations

import httpx
import pytest

from browser import SEVEN, WAIT, draw, draw_page

pytestmark = [pytest.mark.smoke, pytest.mark.browser]

# Per layer: its name, shape, number of tiles and how many tiles hold any colour but "no activation".
LAYERS_SHOWN = """
return [...document.querySelectorAll('#layers .layer')].map(section => {
  const tiles = [...section.querySelectorAll('canvas.tile')];
  const lit = tiles.filter(t => {
    const d = t.getContext('2d').getImageData(0, 0, t.width, t.height).data;
    for (let i = 0; i < d.length; i += 4) if (d[i] !== 68 || d[i + 1] !== 1 || d[i + 2] !== 84) return true;
    return false;
  }).length;
  return {name: section.dataset.layer, shape: section.dataset.shape, tiles: tiles.length, lit,
          size: [tiles[0].width, tiles[0].height]};
});
"""
# Saliency pixels coloured red or blue (the grey digit has equal channels).
SALIENCY_COLOURED = """
const d = document.getElementById('saliency').getContext('2d').getImageData(0, 0, 28, 28).data;
let n = 0;
for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - d[i + 1]) > 20 || Math.abs(d[i + 2] - d[i + 1]) > 20) n++;
return n;
"""


@pytest.fixture(scope="module")
def browsing(smoke_run):
    """(driver, url): Chromium on the page of a server for the smoke run, for this module's tests."""
    with draw_page(smoke_run.root) as both:
        yield both


@pytest.fixture
def page(browsing):
    return browsing[0]


def explained(driver) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    def done(d):
        if d.find_element("id", "result").get_attribute("data-state") == "error":
            raise AssertionError(d.find_element("id", "error").text)
        return d.find_element("id", "explain").get_attribute("data-state") == "done"

    WebDriverWait(driver, WAIT).until(done)


def test_drawn_digit_shows_one_tile_grid_per_conv_and_pool_layer_and_a_saliency_overlay(browsing):
    page, url = browsing
    assert page.find_element("id", "explain").get_attribute("open") is not None  # open on a desktop-sized window
    draw(page, page.find_element("id", "pad"), SEVEN, "pen")
    explained(page)
    pixels = page.execute_script("return document.getElementById('pad').toDataURL('image/png')")
    answer = httpx.post(f"{url}/v1/explain", json={"images": [{"data_url": pixels}]}, timeout=30).json()
    layers = answer["predictions"][0]["explanation"]["layers"]
    assert [layer["name"] for layer in layers] == ["conv1", "pool1", "conv2", "pool2"]  # the smoke run is chollet
    shown = page.execute_script(LAYERS_SHOWN)
    assert [s["name"] for s in shown] == [layer["name"] for layer in layers]
    for section, layer in zip(shown, layers, strict=True):
        height, width, channels = layer["shape"]
        assert section["shape"] == f"{height}x{width}x{channels}"
        assert section["tiles"] == channels and section["size"] == [width, height]
        assert section["lit"] >= channels // 4, section  # a drawn 7 lights up many filters, not none
    assert page.execute_script(SALIENCY_COLOURED) > 10
    assert page.find_element("id", "digit").text == str(answer["predictions"][0]["digit"])


def test_closed_panel_asks_predict_only_and_reopening_explains_again(page):
    page.find_element("css selector", "#explain summary").click()  # close
    assert page.find_element("id", "explain").get_attribute("open") is None
    page.find_element("id", "clear").click()
    assert page.find_elements("css selector", "#layers .layer") == []
    draw(page, page.find_element("id", "pad"), SEVEN, "mouse")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(page, WAIT).until(lambda d: d.find_element("id", "result").get_attribute("data-state") == "done")
    assert page.find_element("id", "explain").get_attribute("data-state") == "idle"
    page.find_element("css selector", "#explain summary").click()  # open: the same drawing is explained
    explained(page)
    assert len(page.find_elements("css selector", "#layers .layer")) == 4


def test_phone_sized_window_starts_with_the_panel_collapsed_and_it_fits(page):
    page.set_window_size(390, 844)
    try:
        page.refresh()
        assert page.find_element("id", "explain").get_attribute("open") is None
        page.find_element("css selector", "#explain summary").click()
        pad = page.find_element("id", "pad")
        page.execute_script("arguments[0].scrollIntoView({block: 'center'})", pad)  # opening may have scrolled
        assert page.execute_script("return window.innerWidth") <= 500  # the phone-sized layout is what is tested
        draw(page, pad, SEVEN, "touch")
        explained(page)
        overflow = page.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0  # no sideways scrolling on a phone
    finally:
        page.set_window_size(960, 720)
