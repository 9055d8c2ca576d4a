"""The clinic application end to end: the real server (``spasmcv serve``), the real model, a real
headless Chromium driven by Playwright (Debian's chromium through its executable path)."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("flask")
playwright = pytest.importorskip("playwright.sync_api")

from conftest import REPO  # noqa: E402

SAMPLES = REPO / "sample_videos"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, model_info, database_url):
    port = free_port()
    env = {**os.environ, "SPASMCV_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen([sys.executable, "-m", "spasmcv", "serve", "--port", str(port), "--model",
                             str(model_info.path), "--database-url", database_url], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None:
                pytest.fail(f"spasmcv serve exited: {proc.stdout.read()}")
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}", tmp_path / "data"
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def page():
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (CI must install it)")
        pytest.skip("chromium is not installed")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        context = browser.new_context(accept_downloads=True)
        yield context.new_page()
        browser.close()


def add_visit(page, date: str, video: Path, *, keep: bool = False) -> None:
    form = page.locator("#new-visit")
    form.locator("input[name=date]").fill(date)
    form.locator("input[name=video]").set_input_files(str(video))
    if keep:
        form.locator("input[name=keep_video]").check()
    form.locator("input[type=submit]").click()
    page.wait_for_url("**/visits/*")
    # the progress bar polls the server and the page reloads when the analysis is done
    page.wait_for_selector(".recording[data-status=done] .result", timeout=240_000)


def test_a_clinician_follows_a_patient_through_a_treatment_cycle(server, page, tmp_path):
    url, data_dir = server
    page.goto(url)
    page.fill("#new-patient input[name=code]", "P-0007 Jö")   # saved as its own name, umlaut and all
    page.select_option("#new-patient select[name=diagnosis]", "blepharospasm")
    page.click("#new-patient input[type=submit]")
    page.wait_for_url("**/patients/*")
    patient_url = page.url

    treatment = page.locator("#new-treatment")
    treatment.locator("input[name=date]").fill("2026-01-12")
    treatment.locator("input[name=product]").fill("onabotulinumtoxinA")
    treatment.locator("input[name=units_upper_pretarsal_right]").fill("5")
    treatment.locator("input[name=units_upper_pretarsal_left]").fill("5")
    treatment.locator("input[name=units_lateral_canthus_right]").fill("7.5")
    treatment.locator("input[name=units_lateral_canthus_left]").fill("7.5")
    treatment.locator("input[type=submit]").click()
    assert "25" in page.inner_text("#treatments")

    for date, stem in (("2026-01-10", "visit1_baseline"), ("2026-02-02", "visit2_week3"),
                       ("2026-04-06", "visit3_week12")):
        page.goto(patient_url)
        add_visit(page, date, SAMPLES / f"{stem}.mp4", keep=stem == "visit2_week3")
        assert page.inner_text(".grade")  # an objective grade on the visit page
        if stem == "visit2_week3":  # a kept video plays; clicking an event on the timeline seeks to it
            page.wait_for_function("() => document.querySelector('video').readyState >= 1")
            page.click(".strip rect[data-onset] >> nth=4")
            page.wait_for_function("() => document.querySelector('video').currentTime > 1")

    page.goto(patient_url)
    verdict = page.inner_text("#verdict")
    assert "Severity fell from grade 3 to grade" in verdict
    # what limits the verdict is on the page too, not only in the report: 30-s recordings give rough intervals
    assert "intervals are rough" in page.inner_text("#comparison-warnings")
    timeline = page.locator("#timeline")
    assert timeline.evaluate("img => img.complete && img.naturalWidth > 0")
    cycles = page.inner_text("#cycles")
    assert "2026-01-12" in cycles and "2026-01-10" in cycles and "2026-02-02" in cycles  # baseline, best response
    rows = page.inner_text("#visits")
    assert "2026-01-10" in rows and "2026-04-06" in rows and "done" in rows

    with page.expect_download() as report:
        page.click("#report")
    html = Path(report.value.path()).read_text(encoding="utf-8")
    assert report.value.suggested_filename == "P-0007 Jö.report.html"
    assert "P-0007 Jö" in html and "Severity fell from grade 3" in html

    page.goto(url)
    with page.expect_download() as export:
        page.click("#export")
    table = Path(export.value.path()).read_text(encoding="utf-8")
    assert export.value.suggested_filename == "spasmcv-clinic-export.csv"
    assert table.count("P-0007") == 3 and "last_injection_units" in table
    header = table.splitlines()[0].split(",")
    for column in ("jankovic_frequency_grade", "left_jankovic_frequency_grade", "severity_index",
                   "left_closure_rate_per_min", "quality_valid_share", "model_sha256", "analysis_version"):
        assert column in header, column  # the batch tables' column names

    # privacy default: the uploaded videos are gone (but the one kept), the traces and results stay
    assert len(list((data_dir / "uploads").iterdir())) == 1
    # and what is kept is readable by the clinic's user only
    import stat

    kept = [data_dir, data_dir / "uploads", *(data_dir / "uploads").iterdir(), data_dir / "secret.key",
            *data_dir.glob("clinic.sqlite3*")]
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode) & 0o077) for p in kept} == {p.name: "0o0" for p in kept}


def write_y4m(video: Path, out: Path, *, seconds: float, fps: int = 15, width: int = 320) -> Path:
    """A raw YUV4MPEG2 file of ``video`` (what Chromium's fake camera plays)."""
    import cv2

    from spasmcv.measure.video import iter_frames, probe_video

    step = max(1, round(probe_video(video).measured_fps / fps))
    with open(out, "wb") as handle:
        written, height = 0, None
        for frame in iter_frames(video):
            if height is None:
                height = int(round(frame.rgb.shape[0] * width / frame.rgb.shape[1] / 2)) * 2
                handle.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
            if frame.index % step:
                continue
            small = cv2.resize(frame.rgb, (width, height), interpolation=cv2.INTER_AREA)
            handle.write(b"FRAME\n" + cv2.cvtColor(small, cv2.COLOR_RGB2YUV_I420).tobytes())
            written += 1
            if written >= seconds * fps:
                break
    return out


def test_a_double_click_sends_a_form_once(server, page):
    """An impatient double click on a form's button, while the server is still answering, sends
    the form once (it used to add a visit twice, each with its own copy of the video)."""
    url, _ = server
    page.goto(url)
    posts = []

    def slow_answer(route):
        posts.append(route.request.method)
        time.sleep(0.5)   # the page stays while the answer is on its way
        route.continue_()

    page.route("**/patients", slow_answer)
    page.fill("#new-patient input[name=code]", "P-0099")
    box = page.locator("#new-patient input[type=submit]").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.click(x, y)
    page.wait_for_timeout(150)   # a person's second click comes while the first answer is awaited
    page.mouse.click(x, y)
    page.wait_for_timeout(1500)
    page.wait_for_load_state()
    assert posts == ["POST"]
    assert re.search(r"/patients/\d+$", page.url), page.url   # not the refusal of the same code sent twice
    assert page.locator("#new-visit input[type=submit]").is_enabled()   # the new page's forms are fresh


def test_a_visit_recorded_in_the_browser_with_the_guided_protocol(server, tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed")
    url, data_dir = server
    camera = write_y4m(SAMPLES / "visit1_baseline.mp4", tmp_path / "camera.y4m", seconds=30)
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}"])
        page = browser.new_context().new_page()
        page.goto(url)
        page.fill("#new-patient input[name=code]", "P-0008")
        page.click("#new-patient input[type=submit]")
        page.wait_for_url("**/patients/*")
        page.locator("#new-visit input[name=date]").fill("2026-03-01")
        page.click("#new-visit input[type=submit]")  # a visit without a video yet
        page.wait_for_url("**/visits/*")
        page.click("#camera-start")
        page.wait_for_function("() => document.getElementById('preview').videoWidth > 0")
        page.fill("#rest-s", "20")
        page.fill("#conversation-s", "5")
        page.click("#record-start")
        page.wait_for_selector(".recording", timeout=60_000)  # uploaded: the page reloads with it
        page.wait_for_selector(".recording[data-status=done] .result", timeout=240_000)
        assert "rest 20 s, conversation 5 s" in page.inner_text(".protocol")
        # graded on its rest segment, as this page timed it; the conversation is too short to grade
        assert "grade uses the rest segment (0-20 s)" in page.inner_text(".graded-segment")
        segments = page.inner_text(".segments")
        assert "rest (the visit's grade)" in segments and "not gradable" in segments, segments
        assert page.locator(".mixed-tasks").count() == 0
        result = page.inner_text(".result")
        assert "Objective Jankovic frequency grade" in result, result  # 20 s of a measurable face: graded
        # a second recording of the same visit, dropped onto the upload box
        import base64

        data = base64.b64encode((SAMPLES / "healthy_control.mp4").read_bytes()).decode()
        transfer = page.evaluate_handle("""data => {
            const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], "healthy_control.mp4", {type: "video/mp4"}));
            return dt; }""", data)
        page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})
        page.wait_for_selector(".recording >> nth=1", timeout=60_000)
        page.wait_for_function("() => document.querySelectorAll('.recording[data-status=done] .result').length == 2",
                               timeout=240_000)
        browser.close()
