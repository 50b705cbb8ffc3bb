"""Screenshot a report in Debian's headless Chromium (for docs/report.png).

.venv/bin/python scripts/screenshot.py reports/index.html docs/report.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def main(page_path: str, png_path: str) -> None:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        # The report is self-contained: refuse anything that is not the file itself.
        page.route(
            "**/*",
            lambda route: (
                route.continue_() if route.request.url.startswith("file://") else route.abort()
            ),
        )
        page.goto(Path(page_path).resolve().as_uri())
        page.wait_for_selector(".plot-container")
        page.screenshot(path=png_path, full_page=True)
        browser.close()


if __name__ == "__main__":
    main(*sys.argv[1:3])
