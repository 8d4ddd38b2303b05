"""Screenshot of the draw-a-digit page for the README: serve a run, draw a 7 with a pen, save the PNG.

python scripts/serve_screenshot.py runs/chollet-… docs/serve-page.png
python scripts/serve_screenshot.py runs/chollet-… docs/serve-explain.png --explain   # the panel open, whole page
python scripts/serve_screenshot.py runs/chollet-… docs/serve-number.png --number     # Number mode: "42" drawn
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests")]  # this checkout, and the Chromium helpers the tests use

from test_serve_browser_number import FOUR, TWO  # noqa: E402  (the strokes the browser test draws)

from browser import SEVEN, chromium, draw, running  # noqa: E402
from mnist_cnn.serve.app import create_app  # noqa: E402
from mnist_cnn.serve.model import load_served  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="run directory or model file")
    parser.add_argument("out", type=Path, help="PNG to write")
    parser.add_argument("--explain", action="store_true", help="wait for the 'What the network sees' panel too")
    parser.add_argument("--number", action="store_true", help="tick Number and write 42 instead of a 7")
    args = parser.parse_args()
    from selenium.webdriver.support.ui import WebDriverWait

    with running(create_app(load_served(args.model))) as url, chromium() as driver:
        driver.set_window_size(900, 800)
        driver.get(url + ("/#number" if args.number else "/"))
        for stroke in FOUR + TWO if args.number else [SEVEN]:
            draw(driver, driver.find_element("id", "pad"), stroke, "pen")
        WebDriverWait(driver, 30).until(
            lambda d: (
                d.find_element("id", "result").get_attribute("data-state") == "done"
                and "test accuracy" in d.find_element("id", "model-facts").text
            )
        )
        if args.explain:
            WebDriverWait(driver, 30).until(
                lambda d: d.find_element("id", "explain").get_attribute("data-state") == "done"
            )
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(900, height + 140)  # the whole page: the panel is below the fold
        driver.save_screenshot(str(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
