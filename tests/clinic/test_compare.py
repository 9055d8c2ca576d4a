"""Visit comparison: the block bootstrap on simulated arrays, and the sample visit series.

``visit_series`` (cached for the whole test session, also used by test_report and
test_annotate) extracts the three sample visits and a second rendering of the baseline
condition (another seed), about 45 s on two cores.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest

from spasmcv.clinic.compare import (CompareSettings, Treatment, Visit, bootstrap_replicates, circular_block_indices,
                             compare_visits, difference_interval, lid_drop_estimate, percentile_interval,
                             rate_ratio_interval)
from spasmcv.measure.trace import Trace
from spasmcv.clinic.report import render_report

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "sample_videos"
VISITS = (("baseline", "visit1_baseline", dt.date(2026, 1, 10)), ("week 3", "visit2_week3", dt.date(2026, 2, 2)),
          ("week 12", "visit3_week12", dt.date(2026, 4, 6)))
INJECTION = dt.date(2026, 1, 12)
#: Another draw of the baseline's condition whose *true* schedule matches it (2 spasms, 3.6 s of
#: spasm, 19 vs 22 events): 30-s draws of one condition range from 0 to 4 spasms (seeds 1-29),
#: a between-recording spread that no within-recording interval can show, so a pair that is the
#: same in fact is chosen by its ground truth (before the flutter change seed 2 was such a pair).
SAME_CONDITION_SEED = 25
_WORKDIR = tempfile.TemporaryDirectory(prefix="spasmcv-test-compare-")


@functools.lru_cache(maxsize=None)
def visit_series(model_path: str) -> dict:
    """Traces of the three sample visits plus ``"baseline again"`` (visit1_baseline rendered with another seed)."""
    from spasmcv.synthetic import render as synthetic
    from spasmcv.measure.extract import extract_trace

    traces = {label: extract_trace(SAMPLES / f"{stem}.mp4", model=model_path) for label, stem, _ in VISITS}
    again = Path(_WORKDIR.name) / "visit1_baseline_again.mp4"
    schedule = synthetic.make_schedule(synthetic.PRESETS["visit1_baseline"], duration_s=30.0, seed=SAME_CONDITION_SEED)
    synthetic.render_video(again, schedule=schedule, settings=synthetic.RenderSettings(fps=30))
    traces["baseline again"] = extract_trace(again, model=model_path)
    return traces


@functools.lru_cache(maxsize=None)
def series_comparison(model_path: str):
    traces = visit_series(model_path)
    visits = [Visit.from_trace(label, traces[label], date=date) for label, _, date in VISITS]
    return compare_visits(visits, treatment=Treatment(injection_date=INJECTION, product="onabotulinumtoxinA",
                                                      dose_units=25))


def _row(comparison, metric, eye, visit):
    (row,) = [r for r in comparison.rows if (r["metric"], r["eye"], r["visit"]) == (metric, eye, visit)]
    return row


# ---------------------------------------------------------------------------------------------
# The statistics on arrays
# ---------------------------------------------------------------------------------------------

def test_circular_blocks_are_contiguous_wrapping_runs():
    idx = circular_block_indices(100, block_len=30, n_boot=50, rng=np.random.default_rng(1))
    assert idx.shape == (50, 100)
    steps = np.diff(idx, axis=1) % 100
    # inside a block every step is +1 (mod n); new blocks start every 30 frames
    inside = np.ones(99, dtype=bool)
    inside[[29, 59, 89]] = False
    assert np.all(steps[:, inside] == 1)
    again = circular_block_indices(100, block_len=30, n_boot=50, rng=np.random.default_rng(1))
    assert np.array_equal(idx, again)  # seeded: reproducible


def _markov_closed(n: int, share: float, mean_closed_frames: float, rng) -> np.ndarray:
    """A 0/1 closed-eye series with long runs (time dependence), started in its stationary state."""
    p_open = 1.0 / mean_closed_frames
    p_close = share / (1 - share) * p_open
    closed = np.empty(n, dtype=bool)
    state = rng.random() < share
    u = rng.random(n)
    for i in range(n):
        closed[i] = state
        state = (u[i] >= p_open) if state else (u[i] < p_close)
    return closed


def _simulate(share: float, rng, n: int = 2400, dt_s: float = 1 / 30, mean_closed_frames: float = 20.0):
    closed = _markov_closed(n, share, mean_closed_frames, rng)
    onsets = np.r_[closed[0], closed[1:] & ~closed[:-1]].astype(float)
    return {"valid_s": np.full(n, dt_s), "closed_s": closed * dt_s, "onsets": onsets}


STATS = {"share": lambda f: f["closed_s"].sum(axis=1) / f["valid_s"].sum(axis=1),
         "onsets": lambda f: f["onsets"].sum(axis=1), "valid_s": lambda f: f["valid_s"].sum(axis=1)}


def _coverage(share_a: float, share_b: float, *, block_len: int, n_sim: int = 120, seed: int = 0):
    """Share of simulated pairs whose interval covers the true difference and the true rate ratio."""
    rng = np.random.default_rng(seed)
    mean_closed = 20.0
    onset_rate = {s: s / mean_closed for s in (share_a, share_b)}  # onsets per frame in the stationary state
    true_ratio = onset_rate[share_b] / onset_rate[share_a]
    hit_diff = hit_ratio = 0
    for _ in range(n_sim):
        a = bootstrap_replicates(_simulate(share_a, rng), STATS, block_len=block_len, n_boot=300, rng=rng)
        b = bootstrap_replicates(_simulate(share_b, rng), STATS, block_len=block_len, n_boot=300, rng=rng)
        lo, hi = difference_interval(a["share"], b["share"])
        hit_diff += lo <= share_b - share_a <= hi
        r_lo, r_hi = rate_ratio_interval(a["onsets"], a["valid_s"], b["onsets"], b["valid_s"])
        hit_ratio += r_lo <= true_ratio <= r_hi
    return hit_diff / n_sim, hit_ratio / n_sim


# Measured (120 simulated pairs of 80-s recordings, 8 blocks each): coverage of the difference
# 0.92 and of the rate ratio 0.93 with a true difference, 0.85 and 0.94 without one; nominal 0.95.
# With few blocks the bootstrap under-covers a little (docs/report.md); resampling single frames
# covers the difference only 0.28 of the time.

def test_block_bootstrap_covers_a_known_difference():
    # 80 s recordings, closures lasting about 0.7 s; blocks of 10 s (300 frames)
    diff, ratio = _coverage(0.10, 0.25, block_len=300)
    assert diff >= 0.8 and ratio >= 0.8, (diff, ratio)


def test_zero_difference_is_included():
    diff, ratio = _coverage(0.2, 0.2, block_len=300, seed=1)
    assert diff >= 0.8 and ratio >= 0.8, (diff, ratio)


def test_resampling_single_frames_would_be_too_narrow():
    # the reason for blocks: frame resampling ignores the runs and under-covers badly
    diff, _ = _coverage(0.10, 0.25, block_len=1, n_sim=60, seed=2)
    assert diff < 0.75, diff


def test_interval_helpers():
    assert percentile_interval(np.arange(101.0)) == pytest.approx((2.5, 97.5))
    assert np.isnan(percentile_interval(np.full(10, np.nan))[0])
    lo, hi = rate_ratio_interval(np.full(100, 10.0), np.full(100, 60.0), np.full(100, 20.0), np.full(100, 60.0))
    assert lo == pytest.approx(20.5 / 10.5) and hi == pytest.approx(20.5 / 10.5)


def test_lid_drop_estimate_is_the_share_of_the_fissure_lost():
    assert lid_drop_estimate(1.0) == 0.0
    assert lid_drop_estimate(1.05) == 0.0
    assert lid_drop_estimate(0.95) == pytest.approx(0.05)
    assert lid_drop_estimate(0.8) == pytest.approx(0.2)
    assert np.isnan(lid_drop_estimate(float("nan")))


# ---------------------------------------------------------------------------------------------
# Acceptance: the sample visit series
# ---------------------------------------------------------------------------------------------

def test_visit_series_shows_the_treatment_course(model_info):
    c = series_comparison(str(model_info.path))
    baseline, week3, week12 = c.summary
    assert (baseline["jankovic_frequency_grade"], week3["jankovic_frequency_grade"]) == (3, 1)
    assert week3["index_change_ci"][1] < 0 and week3["meaningful_change"]
    assert week12["severity_index"] > week3["severity_index"]
    assert week3["weeks_since_injection"] == pytest.approx(3.0)
    assert "fell from grade 3 to grade 1 after the injection" in c.verdict
    for eye in ("left", "right"):
        assert _row(c, "share_closed", eye, "week 3")["change_ci_high"] < 0  # strongly different in the ground truth
        spasms = _row(c, "spasm_rate_per_min", eye, "week 3")  # two spasms in the baseline's 30 s: the interval
        assert spasms["change"] < 0 and spasms["change_ci_high"] <= 0  # reaches zero when resamples miss both
        rate = _row(c, "closure_rate_per_min", eye, "week 3")
        assert rate["ratio_ci_low"] <= rate["ratio"] <= rate["ratio_ci_high"]
    # mild ptosis at week 3 (left 0.25, right 0.12 of the lid travel in the ground truth: 18 % and
    # 9 % of the fissure); the left eye reads about 12 % narrower, the right about 5 % (not flagged)
    flags = {(r["visit"], r["eye"]): r["ptosis"] for r in c.side_effects}
    assert flags[("week 3", "left")] and not flags[("week 3", "right")]
    assert not flags[("week 12", "left")] and not flags[("week 12", "right")]
    left = [r for r in c.side_effects if (r["visit"], r["eye"]) == ("week 3", "left")][0]
    assert 0.1 <= left["lid_drop_estimate"] <= 0.35


@pytest.mark.xfail(strict=True, reason="week 12's rise to grade 2 lies inside its interval with 30-s clips (grade 2 "
                   "now rests on flutter bursts alone, 1 per minute), so the verdict does not say 'rose again' (issue 10)")
def test_visit_series_says_the_spasms_rose_again(model_info):
    c = series_comparison(str(model_info.path))
    assert c.summary[2]["jankovic_frequency_grade"] == 2
    assert "rose again" in c.verdict


def test_same_condition_twice_includes_zero(model_info):
    traces = visit_series(str(model_info.path))
    visits = [Visit.from_trace("baseline", traces["baseline"]), Visit.from_trace("again", traces["baseline again"])]
    c = compare_visits(visits)
    for eye in ("left", "right"):
        for metric in ("closure_rate_per_min", "blink_rate_per_min", "share_closed", "spasm_rate_per_min",
                       "flutter_bursts_per_min"):
            row = _row(c, metric, eye, "again")
            assert row["change_ci_low"] <= 0 <= row["change_ci_high"], row
        for metric in ("closure_rate_per_min", "blink_rate_per_min"):
            row = _row(c, metric, eye, "again")
            assert row["ratio_ci_low"] <= 1 <= row["ratio_ci_high"], row
    lo, hi = c.summary[1]["index_change_ci"]
    assert lo <= 0 <= hi
    assert not any(r["ptosis"] for r in c.side_effects)
    assert "did not change clearly" in c.verdict


def test_a_recording_compared_with_itself_is_warned(model_info):
    """The same file given for two visits (or the same part of it twice) is said, naming both."""
    traces = visit_series(str(model_info.path))
    c = compare_visits([Visit.from_trace("baseline", traces["baseline"]), Visit.from_trace("week 6", traces["baseline"]),
                        Visit.from_trace("week 12", traces["baseline again"])])
    said = [w for w in c.warnings if "very frames" in w]
    assert said == ["week 6 measures the very frames baseline measures (the same recording): a recording compared "
                    "with itself shows no change; check which files were given"]
    # and the verdict opens with it: a recording given twice must not read as "the injection did nothing"
    assert c.verdict.startswith("Check before reading on: week 6 measures the very frames baseline measures")


def test_dates_that_cannot_be_right_open_the_verdict(model_info):
    """A baseline filmed after the injection is no untreated baseline, and an injection after every
    visit leaves no visit to show its effect: both are said first, and a narrower eye before the
    injection is not called its side effect."""
    traces = visit_series(str(model_info.path))
    visits = [Visit.from_trace(label, traces[label], date=date) for label, _, date in VISITS[:2]]
    late = compare_visits(visits, treatment=Treatment(injection_date=dt.date(2026, 5, 12)),
                          settings=CompareSettings(n_boot=300))
    assert late.verdict.startswith("Check before reading on: every visit was filmed before the injection of "
                                   "2026-05-12: none shows its effect")
    assert "Possible ptosis (side effect)" not in late.verdict
    assert any(w.startswith("every visit was filmed before the injection") for w in late.warnings)
    assert "\nOpen eye narrower than at baseline, before the injection (not its side effect): left eye at week 3" in late.verdict
    early = compare_visits(visits, treatment=Treatment(injection_date=dt.date(2026, 1, 3)),
                           settings=CompareSettings(n_boot=300))
    assert early.verdict.startswith("Check before reading on: baseline, the baseline, was filmed 1 weeks after the "
                                    "injection of 2026-01-03: it is not an untreated baseline, so the changes from it "
                                    "are not the injection's whole effect")
    for day in (dt.date(2026, 1, 10), dt.date(2026, 2, 2)):   # filmed, then injected: the clinic's usual day
        right = compare_visits(visits, treatment=Treatment(injection_date=day), settings=CompareSettings(n_boot=300))
        assert not right.verdict.startswith("Check before reading on"), day


def test_a_healthy_man_compared_with_himself_has_not_changed(real_trace):
    """Real video: Talking Face's 200 s of conversation cut into two 100-s halves and compared as
    two visits of one person. Nothing changed between them, so nothing may be reported as a change."""
    trace = real_trace("talkingface/franck.webm")
    half = len(trace) // 2

    def part(start, stop):
        columns = {name: values[start:stop].copy() for name, values in trace.columns.items()}
        columns["time_s"] -= columns["time_s"][0]
        return Trace(columns, dict(trace.metadata))

    visits = [Visit.from_trace("first half", part(0, half), task="conversation"),
              Visit.from_trace("second half", part(half, len(trace)), task="conversation")]
    c = compare_visits(visits)
    first, second = c.summary
    assert first["jankovic_frequency_grade"] == second["jankovic_frequency_grade"] == 0
    assert not second["meaningful_change"]
    lo, hi = second["index_change_ci"]
    assert lo <= 0 <= hi
    for eye in ("left", "right"):
        for metric in ("closure_rate_per_min", "blink_rate_per_min", "share_closed", "spasm_rate_per_min"):
            row = _row(c, metric, eye, "second half")
            assert row["change_ci_low"] <= 0 <= row["change_ci_high"], row
        rate = _row(c, "closure_rate_per_min", eye, "second half")
        assert 8 <= rate["value"] <= 30 and rate["ratio_ci_low"] <= 1 <= rate["ratio_ci_high"], rate
    assert not any(r["ptosis"] for r in c.side_effects)
    assert "did not change clearly" in c.verdict
    assert not any("held differently" in w for w in c.warnings), c.warnings  # one sitting, one view
    assert not any("very frames" in w for w in c.warnings), c.warnings   # two halves: other frames
    # each half holds one long closure that may be a lowered gaze (review): as a spasm it would
    # make grade 3, and the verdict says that the grades are not settled until they are checked
    assert first["grade_if_review_closed"] == second["grade_if_review_closed"] == 3
    assert first["review_count"] == second["review_count"] == 1
    assert ("Grade not settled: first half would be grade 3, not 0, if its 1 closure listed for review is a "
            "closure; second half would be grade 3") in c.verdict
    assert "3 if the 1 closure to check is a closure" in render_report(c)


def test_comparison_is_reproducible(model_info):
    traces = visit_series(str(model_info.path))
    visits = [Visit.from_trace("a", traces["baseline"]), Visit.from_trace("b", traces["week 3"])]
    settings = CompareSettings(n_boot=300, seed=7)
    first, second = compare_visits(visits, settings=settings), compare_visits(visits, settings=settings)
    assert json.dumps(first.to_dict(), default=str) == json.dumps(second.to_dict(), default=str)


def test_compare_command(model_info, tmp_path, capsys):
    from spasmcv.cli import main
    from spasmcv.measure.trace import write_trace

    traces = visit_series(str(model_info.path))
    paths = {label: write_trace(traces[label], tmp_path / f"{stem}.trace.csv") for label, stem, _ in VISITS[:2]}
    code = main(["compare", "--visit", f"baseline=2026-01-10:{paths['baseline']}",
                 "--visit", f"week 3=2026-02-02:{paths['week 3']}", "--injection-date", "2026-01-12",
                 "--product", "onabotulinumtoxinA", "--dose-units", "25", "--patient-id", "P-01", "--n-boot", "300",
                 "-o", str(tmp_path / "p01")])
    out = capsys.readouterr().out
    assert code == 0
    assert "Severity fell from grade 3 to grade 1" in out and "Time eyes closed" in out
    # every row keeps its eye, however long its name; the defaults are not announced
    assert re.search(r"Spasms \(1 s or longer\) per minute \(/min\), left ", out) and "settings changed" not in out
    data = json.loads((tmp_path / "p01.comparison.json").read_text())
    assert data["visits"][1]["weeks_since_injection"] == pytest.approx(3.0)
    assert (tmp_path / "p01.comparison.csv").read_text().startswith("metric,label,unit,eye,visit,value,change")
    html = (tmp_path / "p01.report.html").read_text()
    assert "P-01" in html and ".trace.csv" not in html and str(tmp_path) not in html
    # the same recording given twice is said even with -q (no summary), though nothing failed
    assert main(["compare", "--visit", f"a:{paths['baseline']}", "--visit", f"b:{paths['baseline']}", "-q",
                 "--n-boot", "100", "-o", str(tmp_path / "twice")]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == ("warning: b measures the very frames a measures (the same recording): a recording "
                                 "compared with itself shows no change; check which files were given\n")


def test_compare_command_scores_a_part_of_each_visit(model_info, tmp_path, capsys):
    """`--part LABEL:START-END` per visit, `--start-s/--end-s` for the others (e.g. the rest task
    of sessions filmed in one video each); a part naming no visit, ending before it starts or
    past a recording's end is refused, naming the visit."""
    from spasmcv.cli import main
    from spasmcv.measure.trace import write_trace

    traces = visit_series(str(model_info.path))
    paths = {label: write_trace(traces[label], tmp_path / f"{stem}.trace.csv") for label, stem, _ in VISITS[:2]}
    visits = ["--visit", f"baseline=2026-01-10:{paths['baseline']}", "--visit", f"week 3=2026-02-02:{paths['week 3']}"]
    code = main(["compare", *visits, "--part", "baseline:0-20", "--start-s", "5", "--n-boot", "200",
                 "-o", str(tmp_path / "parts")])
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"part of the recording +0 s to 20 s +5 s to the end", out)
    html = (tmp_path / "parts.report.html").read_text()
    assert "part: 0 s to 20 s" in html and "part: 5 s to the end" in html
    data = json.loads((tmp_path / "parts.comparison.json").read_text())
    assert [r["provenance"]["time_window_s"] for r in data["recordings"]] == [[0.0, 20.0], [5.0, None]]
    with open(tmp_path / "parts.comparison.csv", newline="") as handle:
        parts = {(r["visit"], r["part_start_s"], r["part_end_s"]) for r in csv.DictReader(handle)}
    assert parts == {("baseline", "0.0000", "20.0000"), ("week 3", "5.0000", "")}
    assert main(["compare", *visits, "--part", "week3:0-20", "-o", str(tmp_path / "x")]) == 2
    assert "no visit is labelled 'week3' (visits: baseline, week 3)" in capsys.readouterr().err
    assert main(["compare", *visits, "--part", "baseline:20-10", "-o", str(tmp_path / "x")]) == 2
    assert "the end is not after the start" in capsys.readouterr().err
    assert main(["compare", *visits, "--part", "week 3:900-", "-o", str(tmp_path / "x")]) == 5
    assert "visit 'week 3': the part to score, 900 s to the end, holds no frames" in capsys.readouterr().err
    videos = ["--visit", f"a:{SAMPLES / 'bsp_grade1.mp4'}", "--visit", f"b:{SAMPLES / 'bsp_grade2.mp4'}"]
    assert main(["compare", *videos, "--part", "b:900-950", "-o", str(tmp_path / "x"), "-q"]) == 5   # before extracting
    assert "visit 'b': the part to score, 900 s to 950 s, holds no frames of the recording (its video runs" \
        in capsys.readouterr().err
    assert not list(tmp_path.glob("x.*"))
    for wrong, message in (("baseline=0-20", "expected LABEL:START-END"), ("baseline:-5-10", "must be 0 s or more")):
        with pytest.raises(SystemExit) as exc:
            main(["compare", *visits, "--part", wrong])
        assert exc.value.code == 2 and message in capsys.readouterr().err


def test_compare_command_errors(tmp_path, capsys):
    from spasmcv.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["compare", "--visit", "no-path-given", "--visit", "b:x.csv"])
    assert exc.value.code == 2
    assert main(["compare", "--visit", f"a:{tmp_path / 'missing.mp4'}", "--visit", f"b:{tmp_path / 'x.mp4'}"]) == 3
    assert "missing.mp4: file not found" in capsys.readouterr().err
    assert main(["compare", "--visit", f"a:{tmp_path / 'x.mp4'}"]) == 1
    assert "at least two --visit" in capsys.readouterr().err
    assert main(["compare", "--visit", f"week 12=2026-04-06:{tmp_path / 'x.mp4'}",
                 "--visit", f"baseline=2026-01-10:{tmp_path / 'y.mp4'}"]) == 1
    assert "not in date order: 'week 12' (2026-04-06) is given before 'baseline'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:   # a dose below zero is a typing slip, not a treatment
        main(["compare", "--visit", "a:x.csv", "--visit", "b:y.csv", "--dose-units", "-25"])
    assert exc.value.code == 2 and "a dose is a number of units above 0, got -25" in capsys.readouterr().err


def test_a_change_that_is_not_clear_does_not_say_from_grade_to_grade(model_info):
    """A grade that differs while the index change's interval holds zero is stated, not called a move."""
    import dataclasses

    from spasmcv.clinic.compare import verdict_text

    traces = visit_series(str(model_info.path))
    c = compare_visits([Visit.from_trace("baseline", traces["baseline"]),
                        Visit.from_trace("again", traces["baseline again"])], settings=CompareSettings(n_boot=300))
    base, again = c.summary
    shifted = dict(again, jankovic_frequency_grade=base["jankovic_frequency_grade"] - 1)
    text = verdict_text(dataclasses.replace(c, summary=[base, shifted]))
    g = base["jankovic_frequency_grade"]
    assert f"did not change clearly (grade {g}, then grade {g - 1})" in text and "from grade" not in text
    # two points apart on the grade while the index's interval holds no change: not called a meaningful change
    lo, hi = again["index_change_ci"]
    assert lo <= 0 <= hi
    apart = dict(again, jankovic_frequency_grade=g - 2, grade_change=-2, meaningful_change=True)
    text = verdict_text(dataclasses.replace(c, summary=[base, apart]))
    assert "the size clinicians consider meaningful, at" not in text
    assert "At again the grade differs from baseline by 2 or more points, but the index change's 95 % interval " \
           "includes no change" in text


def test_resampling_features_reproduce_the_analysis_metrics():
    """The per-frame features the bootstrap resamples give back the analysis' own metrics."""
    from spasmcv.analysis.analyze import analyze_trace
    from spasmcv.clinic.compare import _eye_statistics, recording_frames
    from spasmcv.measure.trace import Trace
    from helpers import T, profile, trace_columns

    closure = sum(profile(T, t0, 0.08, 0.03, 0.15) for t0 in (2, 7, 12, 19)) \
        + sum(profile(T, 25 + 0.25 * k, 0.06, 0.02, 0.09) for k in range(4)) + profile(T, 40, 0.1, 3, 0.2)
    trace = Trace(columns=trace_columns(closure), metadata={"recording_id": "r"})
    analysis = analyze_trace(trace)
    frames = {k: v[None, :] for k, v in recording_frames(analysis, trace).items()}
    for side in ("left", "right"):
        metrics = analysis.recording["metrics"][side]
        for name, statistic in _eye_statistics(side).items():
            key = name.split(".", 1)[1]
            expected = metrics["valid_time_s"] if key == "valid_s" else metrics.get(key)
            if expected is None:
                continue  # counts without a metric of their own
            assert statistic(frames)[0] == pytest.approx(expected, rel=1e-9, abs=1e-9), name


def _array_trace(rid: str, seed: int, *, face: bool = True):
    """A 60-s trace from arrays: 19 blinks and one 3.3-s spasm, or no measurable face at all."""
    from helpers import T, profile, recording_trace

    closure = sum(profile(T, t0, 0.08, 0.03, 0.15) for t0 in np.arange(1, 59, 3.1)) + profile(T, 30, 0.1, 3, 0.2)
    return recording_trace(closure, rid, seed=seed, face=face)


def test_a_visit_that_cannot_be_graded_is_said_in_words_and_has_no_number():
    """Baseline grade 3, then a visit without a measurable face: no grade, no change, no interval."""
    from spasmcv.clinic.report import render_report

    visits = [Visit.from_trace("baseline", _array_trace("a", 1), date=dt.date(2026, 1, 1)),
              Visit.from_trace("week 3", _array_trace("b", 2, face=False), date=dt.date(2026, 1, 22))]
    c = compare_visits(visits, treatment=Treatment(injection_date=dt.date(2026, 1, 2)))
    base, week3 = c.summary
    assert base["jankovic_frequency_grade"] == 3 and base["gradable"]
    assert week3["jankovic_frequency_grade"] is None and not week3["gradable"]
    assert week3["grade_change"] is None and week3["meaningful_change"] is None
    assert all(np.isnan(x) for x in (week3["severity_index"], week3["index_change"], *week3["index_change_ci"]))
    assert "week 3 could not be graded (under 15 s of measurable video" in c.verdict.lower()
    assert "grade -" not in c.verdict and "meaningful" not in c.verdict and "fell" not in c.verdict
    assert "ptosis" not in c.verdict   # no aperture to compare: no "no ptosis flagged" either
    # no change of any measure is given for it (seconds of video give rates, not changes)
    assert all(np.isnan(r["change"]) and np.isnan(r["change_ci_low"]) for r in c.rows if r["visit"] == "week 3")
    assert all(np.isnan(r["change_mm"]) for r in c.side_effects)
    grade_rows = [r for r in c.rows if r["metric"] == "jankovic_frequency_grade" and r["visit"] == "week 3"]
    assert all(np.isnan(r["value"]) and np.isnan(r["change"]) for r in grade_rows)
    html = render_report(c)
    assert "not gradable" in html and "grade -" not in html and "grade &#8722;" not in html
    assert "Blepharospasm video assessment" in html
    assert "Hemifacial spasm, left video assessment" in render_report(c, diagnosis="Hemifacial spasm, left")
    # nothing measured: no closure count of 0 and no "not one-sided" either
    (week3_asymmetry,) = [r for r in c.asymmetry if r["visit"] == "week 3"]
    assert week3_asymmetry["bilateral_count"] is None and week3_asymmetry["one_sided"] is None
    assert "<td>n/a / n/a / n/a</td><td>n/a</td>" in html
    # its ptosis column says it was not judged (a blank would read as "no ptosis")
    assert html.count("<td>n/a</td><td></td><td>not judged (no aperture to compare)</td>") == 2
    # the other way round: the baseline cannot be graded, the later visit's grade is stated
    c2 = compare_visits(list(reversed(visits)))
    assert "week 3 could not be graded" in c2.verdict.lower() and "baseline: grade 3" in c2.verdict.lower()
    assert c2.summary[1]["grade_change"] is None


def test_a_visit_filmed_from_another_angle_is_flagged():
    """The millimetre ruler shrinks as the head turns: a visit held 25 degrees further round (or
    pitched 20 degrees more) than the baseline gets a warning; 10 degrees does not."""
    from spasmcv.clinic.compare import view_angles

    def held(rid, seed, *, yaw=0.0, pitch=0.0):
        trace = _array_trace(rid, seed)
        n = len(trace)
        columns = dict(trace.columns, head_yaw_deg=np.full(n, yaw), head_pitch_deg=np.full(n, pitch))
        return Visit.from_trace(rid, Trace(columns=columns, metadata=trace.metadata))

    base = held("baseline", 1, yaw=3.0, pitch=5.0)
    assert view_angles(base.analysis, base.trace) == pytest.approx((3.0, 5.0))
    turned = held("turned", 2, yaw=-28.0, pitch=5.0)  # turned the other way: the turn is what counts
    assert view_angles(turned.analysis, turned.trace) == pytest.approx((28.0, 5.0))
    (warning,) = [w for w in compare_visits([base, turned]).warnings if "held differently" in w]
    assert warning.startswith("turned: ") and "turned 28 against 3 degrees" in warning
    assert any("held differently" in w for w in compare_visits([base, held("pitched", 3, pitch=25.0)]).warnings)
    near = compare_visits([base, held("near", 4, yaw=13.0, pitch=-5.0)])
    assert not any("held differently" in w for w in near.warnings), near.warnings


def test_one_sided_closures_on_the_other_side_than_a_hemifacial_spasm_are_pointed_out():
    from spasmcv.clinic.compare import one_sided, other_side_warning

    def metrics(a):
        return {"asymmetry": {"closure_rate": a}}

    assert [one_sided(metrics(a)) for a in (0.5, -0.4, 0.2, float("nan"))] == ["left", "right", None, None]
    rows = [{"visit": "v1", "one_sided": "left"}, {"visit": "v2", "one_sided": None},
            {"visit": "v3", "one_sided": "right"}]
    assert other_side_warning(rows[:2], "left") == ""
    text = other_side_warning(rows, "left")
    assert text.startswith("closures were one-sided on the patient's right at v3, but the diagnosis is left")
    assert "mirror image" in text and "v1" not in text


def test_ptosis_is_judged_only_from_30_s_or_more_of_the_eye():
    """An open eye 20 % narrower at the second visit: flagged from 60-s recordings; from 20-s ones
    it is 'not judged', said in the verdict, never 'no ptosis flagged' (docs/report.md: over parts
    this short the aperture varies by 10 % within one sitting)."""
    from helpers import T, profile, recording_trace
    from spasmcv.measure.trace import time_window

    closure = np.clip(sum(profile(T, t0, 0.08, 0.03, 0.15) for t0 in np.arange(1, 59, 3.1)), 0, 1)
    base, later = recording_trace(closure, "base", seed=1), recording_trace(closure, "later", seed=2)
    for side in ("left", "right"):
        later.columns[f"aperture_mm_{side}"] = 0.8 * later.columns[f"aperture_mm_{side}"]
    settings = CompareSettings(n_boot=300)
    for seconds, flagged in ((60.0, True), (20.0, False)):
        visits = [Visit.from_trace("baseline", time_window(base, 0, seconds)),
                  Visit.from_trace("week 4", time_window(later, 0, seconds))]
        c = compare_visits(visits, settings=settings)
        rows = [r for r in c.side_effects if r["visit"] == "week 4"]
        assert all(r["ptosis"] == flagged and r["ptosis_judged"] == flagged for r in rows), rows
        assert ("Possible ptosis" in c.verdict) == flagged
        assert ("Ptosis not judged at week 4: under 30 s of the eye measured" in c.verdict) == (not flagged)
        assert "No ptosis flagged" not in c.verdict
        assert ("not judged (under 30 s measured)" in render_report(c)) == (not flagged)


def test_two_15_s_parts_of_one_real_recording_are_not_judged_for_ptosis(real_trace):
    """Talking Face 150-165 s against 165-180 s (the parts whose open apertures differ most in
    scripts/aperture_repeatability.py's 15-s run): no ptosis is read into one sitting."""
    from spasmcv.measure.trace import time_window

    trace = real_trace("talkingface/franck.webm")
    visits = [Visit.from_trace(label, time_window(trace, start, start + 15), task="conversation")
              for label, start in (("first", 150.0), ("second", 165.0))]
    c = compare_visits(visits, settings=CompareSettings(n_boot=300))
    assert not any(r["ptosis"] for r in c.side_effects)
    assert "Ptosis not judged at second" in c.verdict


def test_changes_and_their_intervals_carry_their_sign():
    """The verdict gives a change and its interval signed, as the tables do: "95 % CI \u221270 to +20"
    (it printed "\u221270 to 20" beside a table's "+20")."""
    from spasmcv.clinic.compare import _ci, _signed

    assert _ci(-70.2, 20.4) == "95 % CI \u221270 to +20"
    assert _signed(0.456, 2) == "+0.46" and _signed(float("nan")) == "n/a" and _signed(None) == "n/a"
    assert _ci(3.0, 3.4) == "every resample gave the same value"


def test_a_visit_too_short_to_grade_gives_no_rate():
    """A recording too short to grade (5 s, two blinks) gives no closures or blinks per minute in
    the comparison and the report (it gave 24 a minute from those two blinks, where the printed
    summary says n/a); its aperture is still given."""
    import numpy as np

    from helpers import T, profile, recording_trace
    from spasmcv.clinic.compare import Visit, compare_visits
    from spasmcv.clinic.report import render_report
    from spasmcv.measure.trace import Trace

    closure = sum(profile(T, t0, 0.08, 0.03, 0.15) for t0 in (1.0, 3.0))
    whole = recording_trace(closure, "short", seed=2)
    short = Trace(columns={k: np.asarray(v)[:125] for k, v in whole.columns.items()}, metadata=whole.metadata)
    comparison = compare_visits([Visit.from_trace("short", short)])
    assert not comparison.visits[0].analysis.recording["severity"]["gradable"]
    assert comparison.visits[0].analysis.recording["metrics"]["left"]["closure_rate_per_min"] > 0   # what was measured
    rates = [r for r in comparison.rows if r["metric"].endswith("_per_min")]
    assert rates and all(np.isnan(r["value"]) for r in rates)
    assert all(np.isfinite(r["value"]) for r in comparison.rows if r["metric"] == "open_aperture_mm")
    html = render_report(comparison)
    assert "not gradable" in html
