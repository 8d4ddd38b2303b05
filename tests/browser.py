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
