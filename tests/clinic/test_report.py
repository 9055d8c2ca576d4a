"""The HTML report: self-contained, pseudonymous, and rendered by headless Chromium."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from spasmcv.clinic.compare import Visit, compare_visits
from spasmcv.clinic.report import render_report, write_report
from test_compare import series_comparison, visit_series

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if IN_CI:
        pytest.fail("chromium is missing, and in CI (CI=true) that is a failure, not a skip")
    pytest.skip("chromium is not installed (apt-get install chromium)")


def _assert_self_contained(html: str) -> None:
    assert not re.search(r"https?://", html), "an external URL in the report"
    sources = re.findall(r"""(?:src|href)\s*=\s*["']([^"']*)""", html)
    assert all(s.startswith("data:image/png;base64,") for s in sources), sources
    assert "<script" not in html.lower() and "@import" not in html


def test_series_report_content(model_info, tmp_path):
    comparison = series_comparison(str(model_info.path))
    path = write_report(comparison, tmp_path / "p7.report.html", patient_id="P-0007")
    html = path.read_text(encoding="utf-8")
    _assert_self_contained(html)
    assert html.index("id='verdict'") < html.index("id='visits'") < html.index("id='metrics'")
    assert "Severity fell from grade 3 to grade 1 after the injection" in html
    assert "the visits are resampled independently" in html and "replicated differences" in html
    for section in ("id='ptosis'", "id='asymmetry'", "id='quality'", "id='provenance'", "Methods", "@media print",
                    "page-break", "onabotulinumtoxinA", "25 units", "possible ptosis", "not measured because"):
        assert section in html, section
    assert html.count("data:image/png;base64,") >= 1 + 1 + 1 + 3 + 3  # severity, rates, durations, traces, head pose
    # pseudonymous: recording ids and hashes only, never file names or paths
    for forbidden in ("visit1_baseline", "visit2_week3", ".mp4", str(tmp_path), "/work/"):
        assert forbidden not in html, forbidden
    model_sha = comparison.visits[0].trace.metadata["model"]["sha256"]
    assert model_sha in html


def test_report_flags_a_clear_aperture_drop_as_possible_ptosis():
    """Two array traces: the left eye's open aperture falls from 10 to 8 mm (a fifth of the opening)."""
    import datetime as dt

    import numpy as np

    from spasmcv.clinic.compare import Treatment
    from spasmcv.measure.trace import Trace
    from helpers import T, profile, trace_columns

    closure = sum(profile(T, t0, 0.08, 0.03, 0.15) for t0 in np.arange(1, 59, 3.1))

    def trace(rid, aperture_mm, seed):
        cols = trace_columns(closure, seed=seed)
        n = len(T)
        cols.update(face_detected=np.ones(n, np.int8), n_faces=np.ones(n, np.int64), head_yaw_deg=np.zeros(n),
                    head_pitch_deg=np.zeros(n), head_roll_deg=np.zeros(n),
                    aperture_mm_left=aperture_mm * (1 - closure), aperture_mm_right=10 * (1 - closure))
        return Trace(columns=cols, metadata={"recording_id": rid, "warnings": [],
                                             "model": {"sha256": "0" * 64, "official": True}})

    comparison = compare_visits([Visit.from_trace("baseline", trace("a", 10.0, 1), date=dt.date(2026, 1, 1)),
                                 Visit.from_trace("week 3", trace("b", 8.0, 2), date=dt.date(2026, 1, 22))],
                                treatment=Treatment(injection_date=dt.date(2026, 1, 2)))
    flags = {(r["visit"], r["eye"]): r["ptosis"] for r in comparison.side_effects}
    assert flags[("week 3", "left")] and not flags[("week 3", "right")]
    assert "possible ptosis" in render_report(comparison)
    # 0.4 mm (4 %) narrower is clearly measured but no ptosis (compare-1's curve called it a 20 % lid drop)
    slight = compare_visits([Visit.from_trace("baseline", trace("a", 10.0, 1)), Visit.from_trace("later", trace("c", 9.6, 2))])
    (later_left,) = [r for r in slight.side_effects if (r["visit"], r["eye"]) == ("later", "left")]
    assert later_left["change_ci_high_mm"] < 0 and not later_left["ptosis"]


def test_the_quality_column_names_what_was_not_measured():
    from spasmcv.clinic.report import _invalid_reasons

    quality = {"invalid_share": {"no_face": 0.02, "near_eye_only": 0.3, "head_turned": 0.1, "small_face": 0.001}}
    assert _invalid_reasons(quality) == ("head turned (the far eye only) 30 %, head turned or pitched away 10 %, "
                                         "no face found 2 %")
    assert _invalid_reasons({"invalid_share": {}}) == "-"


def test_single_recording_report(model_info):
    trace = visit_series(str(model_info.path))["week 3"]
    html = render_report(compare_visits([Visit.from_trace("clinic visit", trace)]))
    _assert_self_contained(html)
    assert "Objective Jankovic frequency grade 1" in html
    assert "change vs baseline" not in html
    # one recording has nothing to change from: no change wording, no ptosis column, no "baseline" rows
    for comparison_words in ("Bold changes", "change from the first visit", "ptosis flag", ">baseline<",
                             "Measurements per visit", "Treatment side effects"):
        assert comparison_words not in html, comparison_words
    assert "<h3>Open-eye aperture</h3>" in html
    assert "replicated values." in html and "resampled independently" not in html and "rate ratio" not in html


def test_report_opens_in_headless_chromium(model_info, tmp_path):
    chromium = _chromium()
    comparison = series_comparison(str(model_info.path))
    path = write_report(comparison, tmp_path / "report.html", patient_id="P-0007")
    flags = CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", path.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert "Severity fell from grade 3 to grade 1" in dom
    assert "<table id=\"visits\"" in dom and "<table id=\"metrics\"" in dom
    assert len(re.findall(r"<img [^>]*src=\"data:image/png;base64,", dom)) >= 9
    assert not re.search(r"https?://", dom)
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, *flags, "--window-size=1100,1300", f"--screenshot={shot}", path.as_uri()],
                   capture_output=True, timeout=120, check=True)
    import cv2

    image = cv2.imread(str(shot))
    assert image is not None and image.shape[:2] == (1300, 1100)
    assert image.mean() > 180  # a light, printable page, not a blank dark one
    assert image.std() > 20    # with content on it


def test_the_course_plot_holds_an_injection_before_every_visit():
    import numpy as np

    from spasmcv.clinic import plotting

    fig, ax = plotting.subplots(width_in=6, height_in=2.5)
    plotting.plot_severity_timeline(np.array([3.0, 6.0]), [60, 20], [40, 20], [70, 40], [3, 1], ["a", "b"], ax=ax,
                                    xlabel="weeks since injection", injection_x=-5.0)
    low, high = ax.get_xlim()
    assert low < -5.0 and high > 6.0


def test_the_report_names_settings_changed_from_the_defaults_and_uses_their_thresholds(model_info):
    """With the spasm and prolonged durations changed (--set), the report says so at the top and in
    Methods, and its labels, caption and definitions give the thresholds in use, not the defaults';
    with the defaults it says nothing of the kind."""
    from spasmcv.settings import Settings, with_overrides

    trace = visit_series(str(model_info.path))["week 3"]
    settings = with_overrides(Settings(), ["analysis.events.spasm_s=2.0", "analysis.events.prolonged_s=0.7"]).analysis
    comparison = compare_visits([Visit.from_trace("clinic visit", trace, settings=settings)])
    html = render_report(comparison)
    from spasmcv.cli import _comparison_table   # what `spasmcv compare` prints

    printed = _comparison_table(comparison)
    assert printed.endswith("settings changed from the defaults: analysis.events.prolonged_s=0.7; "
                            "analysis.events.spasm_s=2.0") and "Spasms (2 s or longer) per minute (/min), left" in printed
    assert "Longest closure (s), left" in printed   # the unit was dropped: its letter is in the label
    note = html.index("id='settings-note'")
    assert html.index("id='verdict'") < note < html.index("id='metrics'")
    assert html.count("analysis.events.prolonged_s=0.7; analysis.events.spasm_s=2.0") == 2   # the note and Methods
    for text in ("Spasms (2 s or longer) per minute", "dashed red: 2 s, from which a closure is a spasm",
                 "prolonged closures (0.7 s up to 2 s)", "spasms (2 s or longer)", "blinks (under 0.7 s)"):
        assert text in html, text
    for default_text in ("(1 s or longer)", "dashed red: 1 s", "0.5-1 s"):
        assert default_text not in html, default_text
    plain = render_report(compare_visits([Visit.from_trace("clinic visit", trace)]))
    assert "id='settings-note'" not in plain and "Spasms (1 s or longer) per minute" in plain
    assert "<dt>Analysis settings</dt><dd>the defaults (docs/analysis.md).</dd>" in plain


def test_a_visit_with_no_measured_eye_shows_no_closure_count(model_info):
    """The closure plot's caption of a recording in which no face was measured says "not
    measured" for each eye, never "0 closures"."""
    import numpy as np

    from spasmcv.measure.trace import Trace

    trace = visit_series(str(model_info.path))["week 3"]
    blank = Trace(columns={**trace.columns, "valid": np.zeros_like(trace.columns["valid"])}, metadata=trace.metadata)
    html = render_report(compare_visits([Visit.from_trace("measured", trace), Visit.from_trace("no face", blank)]))
    assert "<b>no face</b>: closure of each eye (0 open, 1 closed) with detected events (right eye not measured, " \
           "left eye not measured)" in html
    assert re.search(r"<b>measured</b>: .*\(right eye \d+ closures?, left eye \d+ closures?\)", html)
    assert "no face: no video could be measured: it has no values, intervals or changes" in html
    assert "no face: 0 s of measurable video" not in html


def test_a_trace_without_head_pose_is_reported_without_its_plot():
    """A trace holding no head pose (an older extraction, or one made by hand) is reported, its
    head-pose plot left out (the report failed with KeyError: 'head_yaw_deg')."""
    import numpy as np

    from spasmcv.measure.trace import Trace
    from helpers import T, profile, trace_columns

    closure = sum(profile(T, t0, 0.08, 0.03, 0.15) for t0 in np.arange(1, 59, 3.1))
    cols = trace_columns(closure, seed=4)
    cols.update(face_detected=np.ones(len(T), np.int8))
    for name in ("head_yaw_deg", "head_pitch_deg", "head_roll_deg"):
        cols.pop(name, None)
    html = render_report(compare_visits([Visit.from_trace("old", Trace(columns=cols, metadata={"recording_id": "o"}))]))
    assert "head pose, old" not in html and "Objective" in html


def test_a_one_frame_closure_plot_warns_nothing():
    """A one-frame recording's closure plot spans a second instead of a zero-width axis, which
    printed matplotlib's warning (with a source path) under the report command."""
    import warnings

    import numpy as np

    from spasmcv.clinic import plotting

    fig, ax = plotting.subplots(width_in=3, height_in=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plotting.plot_closure(np.array([0.0]), np.array([0.1]), [], side="left", ax=ax)
    assert ax.get_xlim() == (0.0, 1.0)
