"""Screenshots of the clinic application for docs/clinic.md: a patient through one treatment cycle
(the three sample visit videos), the patient page and a visit page, and the first screen of the
patient's report (docs/report.md), taken in headless Chromium.

    python scripts/clinic_screenshots.py --out docs/img

Needs the clinic extra, playwright and Debian's chromium; runs ``spasmcv serve`` on a temporary
data folder (about a minute).
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = Path(tempfile.mkdtemp())
    server = subprocess.Popen([sys.executable, "-m", "spasmcv", "serve", "--port", str(port)],
                              env={**os.environ, "SPASMCV_DATA_DIR": str(data)})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.2)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.goto(url)
            page.fill("#new-patient input[name=code]", "P-0007")
            page.click("#new-patient input[type=submit]")
            page.wait_for_url("**/patients/*")
            patient_url = page.url
            form = page.locator("#new-treatment")
            form.locator("input[name=date]").fill("2026-01-12")
            form.locator("input[name=product]").fill("onabotulinumtoxinA")
            for site in ("upper_pretarsal", "lateral_canthus"):
                for side in ("right", "left"):
                    form.locator(f"input[name=units_{site}_{side}]").fill("5" if site == "upper_pretarsal" else "7.5")
            form.locator("input[type=submit]").click()
            ratings = {"visit1_baseline": ("3", "3"), "visit2_week3": ("1", "1"), "visit3_week12": ("2", "2")}
            for date, stem in (("2026-01-10", "visit1_baseline"), ("2026-02-02", "visit2_week3"),
                               ("2026-04-06", "visit3_week12")):
                page.goto(patient_url)
                visit = page.locator("#new-visit")
                visit.locator("input[name=date]").fill(date)
                visit.locator("input[name=jrs_severity]").fill(ratings[stem][0])
                visit.locator("input[name=jrs_frequency]").fill(ratings[stem][1])
                visit.locator("input[name=video]").set_input_files(str(ROOT / "sample_videos" / f"{stem}.mp4"))
                if stem == "visit2_week3":
                    visit.locator("input[name=keep_video]").check()
                visit.locator("input[type=submit]").click()
                page.wait_for_url("**/visits/*")
                page.wait_for_selector(".recording[data-status=done] .result", timeout=240_000)
                if stem == "visit2_week3":
                    page.click(".strip rect[data-onset] >> nth=1")  # clicking an event seeks the video to it
                    page.wait_for_function("() => { const v = document.querySelector('video');"
                                           " return v && v.readyState >= 2 && v.currentTime > 0.3; }")
                    page.evaluate("() => document.querySelector('video').pause()")
                    page.evaluate("() => window.scrollTo(0, 0)")
                    time.sleep(0.5)
                    page.set_viewport_size({"width": 1100, "height": 1100})
                    page.screenshot(path=str(args.out / "clinic_visit.png"), full_page=False)
                    page.set_viewport_size({"width": 1100, "height": 900})
            page.goto(patient_url)
            page.screenshot(path=str(args.out / "clinic_patient.png"), full_page=True)
            page.set_viewport_size({"width": 1100, "height": 1300})   # docs/report.md: the report's first screen
            page.set_content(page.request.get(patient_url.rstrip("/") + "/report.html").text())  # served as a download
            page.screenshot(path=str(args.out / "report_first_screen.png"), full_page=False)
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=20)
        shutil.rmtree(data, ignore_errors=True)
    print(f"wrote clinic_patient.png, clinic_visit.png and report_first_screen.png in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
