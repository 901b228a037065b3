"""Make docs/img/ui.png: a run's page in ``agilab ui``, its map embedded, in Debian's headless Chromium.

    python plugins/ui/tools/screenshot.py [--home DIR] [--out docs/img/ui.png]

Serves ``DIR`` (default: ``$AGILAB_HOME``, as ``make demo`` leaves it) with
``agilab ui --port 0``, opens the newest flight run, waits for its map to
draw, and saves a PNG (256 colours, so it stays small). Chromium is
``/usr/bin/chromium`` (``apt-get install chromium``), never a downloaded one.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

AGILAB = str(Path(sys.executable).with_name("agilab"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("AGILAB_HOME", Path.home() / ".agilab")))
    parser.add_argument("--out", type=Path, default=Path("docs/img/ui.png"))
    opts = parser.parse_args()
    chromium = shutil.which("chromium")
    if not chromium:  # never Playwright's own download (its browser download): Debian's browser
        raise SystemExit("tools/screenshot.py needs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    server = subprocess.Popen([AGILAB, "ui", "--port", "0", "--home", str(opts.home)], stdout=subprocess.PIPE, text=True)
    try:
        url = server.stdout.readline().split()[3]  # "AGILab UI on http://127.0.0.1:PORT/ ..."
        with urllib.request.urlopen(url + "api/runs") as response:
            run = next(r for r in json.load(response)["runs"] if r["app"] == "flight")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1100, "height": 820})
            page.goto(url.rstrip("/") + run["url"])
            page.frame_locator("iframe.page").locator("#map canvas, #map svg").first.wait_for()
            page.wait_for_timeout(1500)  # let the map finish drawing its tiles of land
            png = page.screenshot(full_page=False)
            browser.close()
    finally:
        server.terminate()
        server.wait()
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(colors=256)
    opts.out.parent.mkdir(parents=True, exist_ok=True)
    image.save(opts.out, optimize=True)
    print(f"{opts.out}: {opts.out.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
