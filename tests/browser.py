"""Drive the Debian-packaged headless Chromium with Selenium (no browser download), for tests and scripts."""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Without the background-networking flags Chromium's own connections (updates, sync) are refused
# in sandboxes without internet, which slows start-up and pollutes logs.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=960,720",
)
MISSING = (
    "the browser tests need Debian's chromium and chromium-driver (/usr/bin/chromium, /usr/bin/chromedriver): "
    "scripts/test installs them (apt-get install chromium chromium-driver), or deselect them with -m 'not browser'"
)


@contextlib.contextmanager
def chromium() -> Iterator:
    """A headless Chromium WebDriver with a fresh profile, closed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def draw(driver, element, points: Sequence[tuple[int, int]], kind: str = "pen") -> None:
    """One stroke through `points` (offsets from the element's centre) with a mouse, pen or touch pointer."""
    from selenium.webdriver.common.actions import interaction
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.actions.pointer_input import PointerInput

    pointer = PointerInput({"mouse": interaction.POINTER_MOUSE, "pen": interaction.POINTER_PEN,
                            "touch": interaction.POINTER_TOUCH}[kind], kind)  # fmt: skip
    actions = ActionBuilder(driver, mouse=pointer, duration=40)  # ms per move: a hand, not a teleport
    (x, y), rest = points[0], points[1:]
    actions.pointer_action.move_to(element, x, y).pointer_down()
    for x, y in rest:
        actions.pointer_action.move_to(element, x, y)
    actions.pointer_action.pointer_up()
    actions.perform()


WAIT = 30  # seconds for a page to settle; generous on a shared machine


def wait_for_answer(driver, source: str) -> None:
    """Wait until the draw page shows its answer to the newest input from `source` ("canvas" or
    "upload"); an error shown on the page fails the test with its message."""
    from selenium.webdriver.support.ui import WebDriverWait

    def done(d):
        result = d.find_element("id", "result")
        if result.get_attribute("data-state") == "error":
            raise AssertionError(d.find_element("id", "error").text)
        return result.get_attribute("data-state") == "done" and result.get_attribute("data-source") == source

    WebDriverWait(driver, WAIT).until(done)


@contextlib.contextmanager
def draw_page(run_root) -> Iterator[tuple[object, str]]:
    """(driver, url): headless Chromium on the draw page of a server for the run at `run_root`.

    A missing browser fails the test: scripts/test installs it, so it must not pass silently."""
    import pytest

    from mnist_cnn.serve.app import create_app
    from mnist_cnn.serve.model import load_served

    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail(MISSING)
    with running(create_app(load_served(str(run_root)))) as url, chromium() as driver:
        driver.get(url + "/")
        yield driver, url


SEVEN = [(-60, -90), (0, -90), (60, -90), (45, -40), (30, 10), (15, 55), (0, 100)]
ONE = [(5, -100), (3, -50), (0, 0), (-2, 50), (-4, 100)]


@contextlib.contextmanager
def running(app) -> Iterator[str]:
    """Serve an ASGI app on 127.0.0.1 (a free port) in a thread; yields its URL, stops it afterwards."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
