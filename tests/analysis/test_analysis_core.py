"""Pure tests of closure, events, metrics, severity and evaluation on arrays (no video)."""

import numpy as np
import pytest

from spasmcv.analysis.closure import bridge_gaps, closed_ratio, closure_fraction, closure_signal, open_reference
from spasmcv.analysis.evaluation import (FrameSpan, ReferenceEvent, closure_summary, compare_events, frame_spans,
                                        read_tag_file, shown_peak)
from spasmcv.analysis.events import (EventSettings, Events, EyeEvent, closures, counting_review, detect_eye_events,
                                     detect_events, event_mask, pair_events)
from spasmcv.analysis.metrics import eye_metrics, per_minute, recording_metrics
from spasmcv.analysis.severity import FORMULA_VERSION, eye_grade, severity

from helpers import BLINKS, FPS, OPEN_EAR, T, blinks_closure, ear_from_closure, profile, trace_columns


def test_closure_is_linear_between_open_and_the_eyes_closed_level():
    c = closure_fraction(np.array([1.0, 1.1, 0.6, 0.2, 0.1, np.nan]), 0.2)
    np.testing.assert_allclose(c[:5], [0.0, 0.0, 0.5, 1.0, 1.0])
    assert np.isnan(c[5])


def test_closed_level_is_learned_from_the_recordings_own_closures():
    ratio = np.r_[np.ones(900), np.full(60, 0.08), np.full(40, 0.3)]
    assert closed_ratio(ratio, default=0.15, bounds=(0.02, 0.35), min_frames=5) == pytest.approx(0.08)
    assert closed_ratio(np.ones(100), default=0.15, bounds=(0.02, 0.35), min_frames=5) == 0.15
    assert closed_ratio(np.r_[np.ones(90), np.full(10, 0.45)], default=0.15, bounds=(0.02, 0.35), min_frames=5) == 0.35
    # a person whose closed eye reads 0.25 of open: full blinks are full closures
    cols = trace_columns(blinks_closure())
    cols["ear_left"] = ear_from_closure(blinks_closure(), closed=0.25)
    signal = closure_signal(cols)
    assert signal.closed_ratio["left"] == pytest.approx(0.25, abs=0.05)
    assert all(e.complete for e in closures(detect_events(signal).per_eye["left"]))


def test_open_reference_finds_the_open_eye_even_when_mostly_closed():
    closed = (T % 8.0) >= 2.0  # 6 s spasms with 2 s open between: closed 75 % of the time
    ear = np.where(closed, 0.07, OPEN_EAR)
    ref = open_reference(ear, T, window_s=60, quantile=0.95, open_fraction=0.9, step_s=1.0, min_frames=50)
    assert np.allclose(ref, OPEN_EAR, rtol=0.02)


def test_open_reference_follows_slow_drift():
    drift = OPEN_EAR * (1 + 0.2 * T / T[-1])  # the face slowly comes closer
    ref = open_reference(drift, T, window_s=20, quantile=0.95, open_fraction=0.9, step_s=1.0, min_frames=50)
    assert np.max(np.abs(ref / drift - 1)) < 0.05


def test_short_gaps_are_bridged_long_gaps_and_track_changes_are_not():
    t = np.arange(20) / FPS
    x = np.linspace(0, 1, 20)
    x[5:7] = np.nan     # 2 frames: bridged
    x[10:17] = np.nan   # 7 frames: too long
    out, bridged = bridge_gaps(x, t, max_gap_s=0.1)
    assert np.isfinite(out[5:7]).all() and bridged[5:7].all()
    assert np.isnan(out[10:17]).all()
    segment = np.r_[np.zeros(6), np.ones(14)]
    out2, _ = bridge_gaps(x, t, max_gap_s=0.1, segment=segment)
    assert np.isnan(out2[5:7]).all()


def test_blinks_are_found_with_timing_within_a_frame():
    signal = closure_signal(trace_columns(blinks_closure()))
    events = detect_events(signal)
    left = closures(events.per_eye["left"])
    assert [e.kind for e in left] == ["blink"] * len(BLINKS)
    onsets = np.array([e.onset_s for e in left]) - BLINKS
    offsets = np.array([e.offset_s for e in left]) - (np.array(BLINKS) + 0.26)
    assert np.all(np.abs(onsets) <= 1 / FPS) and np.all(np.abs(offsets) <= 1 / FPS)
    assert all(p.eye == "both" for p in events.paired)


@pytest.mark.parametrize("fps", [24.0, 30.0, 60.0])
def test_boundaries_follow_the_labels_convention_at_any_frame_rate(fps):
    """Start = the last frame before the lid visibly moves; end = the first frame back at 90 %
    of the opening (labels/README.md), whatever the sampling phase."""
    rng = np.random.default_rng(7)
    for _ in range(40):
        t = np.arange(0, 3, 1 / fps) + rng.uniform(0, 1 / fps)
        close_s, hold_s, reopen_s = rng.uniform(0.06, 0.1), rng.uniform(0.0, 0.3), rng.uniform(0.12, 0.25)
        closure = profile(t, 1.0, close_s, hold_s, reopen_s)
        (event,) = detect_eye_events(t, closure, eye="left")
        start = int(np.searchsorted(t, event.onset_s))
        assert t[start] <= 1.0 + 1 / fps and closure[start] < 0.1          # at most one frame late, lid still up
        apex = int(np.argmax(closure))
        back = 1 - EventSettings().end_fraction  # the lid back at end_fraction of its opening
        expected_end = apex + int(np.flatnonzero(closure[apex:] <= back + 1e-12)[0])
        assert event.offset_s == pytest.approx(t[expected_end])


def test_a_blink_reopening_into_a_narrower_eye_ends_there():
    """A smile or lowered gaze after the blink: the eye settles at 60 % of its opening."""
    narrow = np.where(T >= 5.2, 0.4, 0.0)
    closure = np.maximum(profile(T, 5.0, 0.08, 0.05, 0.15), narrow)
    (event,) = detect_eye_events(T, closure, eye="left")
    assert event.kind == "blink" and event.duration_s < 0.4


def test_a_double_blink_with_a_partial_reopening_stays_two():
    closure = np.maximum(profile(T, 5.0, 0.08, 0.05, 0.12), profile(T, 5.22, 0.08, 0.05, 0.12))
    closure[(T > 5.18) & (T < 5.26)] = np.maximum(closure[(T > 5.18) & (T < 5.26)], 0.3)  # reopens to 70 %
    events = detect_eye_events(T, closure, eye="left")
    assert [e.kind for e in events] == ["blink", "blink"]


def test_two_blinks_around_a_lowered_gaze_stay_two_unless_the_iris_is_small():
    """A blink that reopens only into a lowered gaze (back to closure 0.6, not half way) and the
    next blink from there 0.8 s later (`vitallens_1` 34-80): two closures, not one 1.2-s spasm
    (analysis-19, partial reopenings). A single frame reading more open inside a held closure is
    noise and does not split it; nor does a reopening of less than 0.3; and where the iris is
    under ``min_iris_px``, where lowered and shut lids read alike, nothing is split."""
    lowered = np.where((T > 5.1) & (T < 6.0), 0.6, 0.0)
    closure = np.maximum.reduce([profile(T, 5.0, 0.08, 0.05, 0.12), profile(T, 5.9, 0.08, 0.05, 0.12), lowered])
    events = detect_eye_events(T, closure, eye="left", iris_px=20.0)
    assert [e.kind for e in events] == ["blink", "blink"]
    assert events[0].offset_s < 5.4 and events[1].onset_s > 5.8
    merged = detect_eye_events(T, closure, eye="left", iris_px=20.0,
                               settings=EventSettings(partial_reopening=None))
    assert [e.kind for e in merged] == ["spasm"]
    small = detect_eye_events(T, closure, eye="left", iris_px=12.0)
    assert [e.kind for e in small] == ["review"]   # listed for checking by eye, not counted
    shallower = np.maximum.reduce([profile(T, 5.0, 0.08, 0.05, 0.12), profile(T, 5.9, 0.08, 0.05, 0.12),
                                   np.where((T > 5.1) & (T < 6.0), 0.75, 0.0)])
    assert [e.kind for e in detect_eye_events(T, shallower, eye="left", iris_px=20.0)] == ["spasm"]
    held = profile(T, 5.0, 0.08, 1.5, 0.12)
    held[np.argmin(np.abs(T - 5.6))] = 0.6   # one noisy frame, reading partly reopened
    assert [e.kind for e in detect_eye_events(T, held, eye="left", iris_px=20.0)] == ["spasm"]


def test_a_one_frame_partial_reopening_of_both_eyes_splits_a_closure_and_of_one_eye_does_not():
    """Spliced flutter whose reopenings stop short of half way for a single frame
    (docs/spliced.md, partial flutter): both eyes reopen to 0.6 on the same frame, so it is a
    reopening, not one eye's noisy frame (`lp_d9` 518-536: one eye at 0.56 for a frame inside a
    labelled blink, the other at 0.79)."""
    held = profile(T, 5.0, 0.08, 0.5, 0.12)
    k = int(np.argmin(np.abs(T - 5.3)))
    left, right = held.copy(), held.copy()
    left[k], right[k] = 0.6, 0.58
    kinds = [e.kind for e in detect_eye_events(T, left, eye="left", iris_px=20.0, other=right)]
    assert kinds == ["blink", "blink"]
    assert [e.kind for e in detect_eye_events(T, left, eye="left", iris_px=20.0, other=held)] == ["prolonged"]
    assert [e.kind for e in detect_eye_events(T, left, eye="left", iris_px=12.0, other=right)] == ["prolonged"]


def test_a_flutter_whose_reopenings_last_one_frame_stays_a_burst_of_closures():
    """Three closures at 24 fps with a single frame reopening to 0.35 between them (spliced
    flutter, docs/spliced.md): the smoothing that ignores one-frame noise must not erase these
    reopenings, which made analysis-9 read the first two closures as dips from a narrowed eye."""
    fps = 24.0
    t = np.arange(0, 30, 1 / fps)
    closure = np.zeros_like(t)
    first = int(10 * fps)
    closure[first:first + 14] = [0.4, 0.85, 0.85, 0.85, 0.35, 0.85, 0.85, 0.85, 0.35, 0.85, 0.85, 0.85, 0.3, 0.05]
    events = [e for e in detect_eye_events(t, closure, eye="left") if e.kind in ("blink", "prolonged", "spasm")]
    assert [round(e.onset_s * fps) - first for e in events] == [-1, 4, 8]
    # through the whole analysis (30 fps, both eyes): one flutter burst of three closures
    burst = blinks_closure()
    first = int(30 * FPS)
    burst[first:first + 14] = [0.4, 0.85, 0.85, 0.85, 0.35, 0.85, 0.85, 0.85, 0.35, 0.85, 0.85, 0.85, 0.3, 0.05]
    found = [e for e in closures(detect_events(closure_signal(trace_columns(burst))).per_eye["left"])
             if 29.5 < e.onset_s < 31.0]
    assert len(found) == 3 and len({e.flutter_burst for e in found}) == 1 and found[0].flutter_burst is not None


def test_slow_lowering_and_small_dips_from_a_narrowed_eye_are_not_closures():
    slow = np.clip((T - 5.0) / 1.0, 0, 1) * 0.7 * (T < 9.0)        # a glance down over a second, held 3 s
    smile = np.where((T > 20) & (T < 24), 0.35, 0.0)                # a smile narrows the eye ...
    smile = np.maximum(smile, profile(T, 21.0, 0.06, 0.06, 0.1, peak=0.6))  # ... and a dip within it
    assert detect_eye_events(T, slow + smile, eye="left") == []


def test_frame_spans_are_the_frames_between_onset_and_offset():
    t = np.arange(20) / 25
    (span,) = frame_spans([ReferenceEvent("left", 0.19, 0.40)], t, fps=25)
    assert (span.onset_frame, span.offset_frame) == (5, 10)   # 0.20 s ... 0.40 s
    assert span.onset_s == pytest.approx(0.2) and span.eye == "left"
    assert frame_spans([ReferenceEvent("left", 0.205, 0.235)], t, fps=25) == []  # between two frames


def test_closure_summary_counts_closures_in_the_scored_frames_only():
    """Rate and durations over the scored frames (25 fps, 60 s, the last 15 s unscored): a
    closure counts unless most of its frames are unscored (the labels' rule for excluded frames);
    review spans are not counted closures."""
    scored = np.ones(1500, dtype=bool)
    scored[1125:] = False
    spans = [FrameSpan(100, 105), FrameSpan(200, 210, "left"), FrameSpan(300, 340, kind="review"),
             FrameSpan(1120, 1140)]   # 5 of its 21 frames scored: not counted
    summary = closure_summary(spans, scored, fps=25)
    assert summary["minutes"] == pytest.approx(0.75) and summary["count"] == 2
    assert summary["rate_per_min"] == pytest.approx(2 / 0.75)
    assert summary["median_s"] == pytest.approx(0.3) and summary["longest_s"] == pytest.approx(0.4)
    assert closure_summary([FrameSpan(1115, 1134)], scored, fps=25)["count"] == 1   # half its frames scored
    assert closure_summary([FrameSpan(1116, 1135)], scored, fps=25)["count"] == 0   # 9 of 20
    empty = closure_summary([], scored, fps=25)
    assert empty["count"] == 0 and empty["rate_per_min"] == 0 and np.isnan(empty["median_s"])
    assert np.isnan(closure_summary(spans, np.zeros(10, dtype=bool), fps=25)["rate_per_min"])


def test_a_synthetic_closure_peaks_where_a_frame_shows_it():
    """Ground truth judges frames: a quick blink whose continuous peak falls between two frames
    peaks at the deeper of those frames (its eye, or the deeper eye for 'both')."""
    frames = {"time_s": [0.0, 0.04, 0.08, 0.12, 0.16], "closure_left": [0.0, 0.54, 0.55, 0.1, 0.0],
              "closure_right": [0.0, 0.3, 0.62, 0.2, 0.0]}
    gt = {"frames": frames}
    blink = {"eye": "both", "onset_s": 0.02, "offset_s": 0.15, "peak_closure": 0.66}
    assert shown_peak(gt, blink) == 0.62
    assert shown_peak(gt, {**blink, "eye": "left"}) == 0.55
    assert shown_peak(gt, {**blink, "onset_s": 0.13}) == 0.0  # no frame inside: nothing shown
    assert shown_peak({}, blink) == 0.66  # no per-frame closure in the file: its own peak


def test_long_closures_are_spasms_without_upper_limit():
    closure = profile(T, 5.0, 0.1, 0.6, 0.2) + profile(T, 10.0, 0.1, 1.5, 0.2) + profile(T, 20.0, 0.1, 25.0, 0.3)
    events = closures(detect_events(closure_signal(trace_columns(closure))).per_eye["left"])
    assert [e.kind for e in events] == ["prolonged", "spasm", "spasm"]
    assert events[2].duration_s == pytest.approx(25.4, abs=0.1)
    assert all(e.complete for e in events)


def test_flutter_bursts_group_quick_closures():
    closure = sum(profile(T, 5.0 + 0.25 * k, 0.06, 0.02, 0.09) for k in range(4)) + profile(T, 20.0, 0.08, 0.02, 0.15)
    events = detect_events(closure_signal(trace_columns(closure)))
    left = closures(events.per_eye["left"])
    assert len(left) == 5
    assert [e.flutter_burst for e in left] == [0, 0, 0, 0, None]
    assert len(events.bursts["left"]) == 1 and events.bursts["left"][0].n_closures == 4


def test_one_sided_closures_are_unilateral_on_the_right_side():
    left = profile(T, 5.0, 0.08, 0.5, 0.2) + profile(T, 12.0, 0.08, 0.03, 0.15)
    right = np.zeros_like(T)
    events = detect_events(closure_signal(trace_columns(left, right)))
    assert [p.eye for p in events.paired] == ["left", "left"]
    assert closures(events.per_eye["right"]) == []


def test_shallow_lowering_and_coupled_readings_are_not_closures():
    lowered = profile(T, 28.0, 0.3, 3.0, 0.3, peak=0.65)      # looking down / an expression: both eyes
    deep = profile(T, 20.0, 0.1, 2.0, 0.2)                   # the left eye's spasm ...
    coupled = profile(T, 20.0, 0.1, 2.0, 0.2, peak=0.55)     # ... drags the right eye's reading
    both = profile(T, 46.0, 0.1, 2.0, 0.2)                   # a spasm of both eyes
    events = detect_events(closure_signal(trace_columns(lowered + deep + both, lowered + coupled + both)))

    def kinds(side, start, end):
        return [e.kind for e in events.per_eye[side] if start <= e.onset_s < end]
    # a sustained lowering of both eyes is not a closure; neither is the other eye's dragged reading
    assert kinds("left", 19.5, 23.0) == ["spasm"] and set(kinds("left", 27.5, 32.0)) <= {"partial"}
    assert set(kinds("right", 19.5, 23.0)) <= {"coupled", "partial"}
    assert set(kinds("right", 27.5, 32.0)) <= {"partial"}
    assert [(p.eye, p.kind) for p in events.paired] == [("left", "spasm"), ("both", "spasm")]


@pytest.mark.parametrize("peak", [0.6, 0.7])
def test_a_held_closure_of_one_eye_alone_counts_even_where_the_face_mesh_reads_it_shallow(peak):
    """A shut eye beside an open one reads 0.6-0.8 (spliced real video, docs/spliced.md): held for
    1.6 s it is that eye's spasm, not lids lowered to a new open level; the open eye, dragged to
    0.2, counts nothing. The same lowering (0.65) in both eyes stays a lowering."""
    blinks = blinks_closure()  # full blinks, so that each eye's closed level is learned as usual
    shut = blinks + profile(T, 28.0, 0.1, 1.4, 0.1, peak=peak)
    dragged = blinks + profile(T, 28.0, 0.1, 1.4, 0.1, peak=0.2)
    events = detect_events(closure_signal(trace_columns(dragged, shut)))
    held = [e for e in closures(events.per_eye["right"]) if 27.5 < e.onset_s < 30.0]
    assert [e.kind for e in held] == ["spasm"] and held[0].duration_s == pytest.approx(1.6, abs=0.1)
    assert not [e for e in closures(events.per_eye["left"]) if 27.5 < e.onset_s < 30.0]
    assert [p.eye for p in events.paired if 27.5 < p.onset_s < 30.0] == ["right"]
    lowered = blinks + profile(T, 28.0, 0.1, 1.4, 0.1, peak=0.65)
    both = detect_events(closure_signal(trace_columns(lowered, lowered)))
    assert not [e for side in ("left", "right") for e in closures(both.per_eye[side]) if 27.5 < e.onset_s < 30.0]


def test_a_shallow_dip_without_a_lower_lid_rise_is_a_glance_with_one_verdict_for_both_eyes():
    """Which lid moved: an incomplete blink lifts the lower lid, a quick downward glance lowers it."""
    dips = [(20.0, 0.1), (30.0, -0.03), (40.0, 0.0)]   # (time, lower-lid rise in iris diameters)
    deep = profile(T, 50.0, 0.08, 0.03, 0.15)            # a complete blink with the lower lid still
    closure = blinks_closure() + sum(profile(T, t0, 0.06, 0.0, 0.1, peak=0.56) for t0, _ in dips) + deep
    lower = np.full(len(T), 0.3)
    for t0, rise in dips + [(50.0, 0.0)]:
        lower -= rise * profile(T, t0, 0.06, 0.0, 0.1, peak=1.0)
    cols = {**trace_columns(closure, closure), "lower_lid_left": lower, "lower_lid_right": lower.copy()}
    cols["lower_lid_right"][np.abs(T - 30.07) < 0.05] = np.nan   # the deciding eye is the deeper one

    def kind_at(events, side, t0):
        return next(e.kind for e in events.per_eye[side] if e.onset_s <= t0 + 0.1 <= e.offset_s)

    events = detect_events(closure_signal(cols))
    for side in ("left", "right"):
        assert [kind_at(events, side, t0) for t0, _ in dips] == ["blink", "glance", "glance"]
        assert kind_at(events, side, 50.0) == "blink"       # deep closures are never gated
    rises = {round(e.onset_s): e.lower_lid_rise for e in events.per_eye["left"] if e.onset_s > 19}
    assert rises[20] == pytest.approx(0.1, abs=0.01) and rises[30] == pytest.approx(-0.03, abs=0.01)
    assert len(events.paired) == len(BLINKS) + 2
    # without lid readings (signals before eyelid-2) or with the gate off, every dip counts
    old = {k: v for k, v in cols.items() if not k.startswith("lower_lid")}
    off = EventSettings(min_lower_lid_rise=None)
    for signal, settings in ((closure_signal(old), EventSettings()), (closure_signal(cols), off)):
        assert len(detect_events(signal, settings).paired) == len(BLINKS) + 4
    assert all(np.isnan(e.lower_lid_rise) for e in detect_events(closure_signal(old)).per_eye["left"])


def test_a_shallow_blink_counts_only_fast_in_both_eyes_with_the_lower_lid_rising():
    """analysis-11: an incomplete blink that stays under the core threshold (peak 0.42) counts when
    both eyes dip together, within 0.3 s, lifting the lower lid; the same dip in one eye, slow, or
    with the lower lid still (talking, a smile, a glance) is nothing at all, and every closure
    found without the shallow pass is found unchanged."""
    def dip(t0, hold_s=0.0, peak=0.42):
        return profile(T, t0, 0.05, hold_s, 0.1, peak=peak)

    # 8.5 counted; 18 the lower lid still; 29 the left eye only; 41 held 0.25 s (0.4 s in all); 48 peak 0.26
    left = blinks_closure() + dip(8.5) + dip(18.0) + dip(29.0) + dip(41.0, hold_s=0.25) + dip(48.0, peak=0.26)
    right = left - dip(29.0)
    lower = np.full(len(T), 0.3) - 0.1 * (dip(8.5, peak=1) + dip(29.0, peak=1) + dip(41.0, 0.25, 1) + dip(48.0, peak=1))
    cols = {**trace_columns(left, right), "lower_lid_left": lower, "lower_lid_right": lower.copy()}
    events = detect_events(closure_signal(cols))
    for side in ("left", "right"):
        shallow = [e for e in events.per_eye[side] if all(abs(e.onset_s - b) > 0.5 for b in BLINKS)]
        assert [(round(e.onset_s), e.kind, e.complete) for e in shallow] == [(8, "blink", False)], shallow
        assert shallow[0].peak_closure == pytest.approx(0.42, abs=0.03)
    assert [p.eye for p in events.paired if 8.0 < p.onset_s < 9.0] == ["both"]
    off = detect_events(closure_signal(cols), EventSettings(shallow_core=None))
    assert off.summary() == [row for row in events.summary() if not 8.0 < row["onset_s"] < 9.0]
    assert len(off.paired) == len(BLINKS) and len(events.paired) == len(BLINKS) + 1


def test_shallow_dips_of_each_eye_in_turn_are_not_a_shallow_blink():
    """analysis-14: the pass counts a blink of both eyes, so the two dips must pair (overlap by half
    the longer one); the right eye dipping and the left eye dipping just after it, touching on a
    frame (arjs 330-335, glare during a head turn), is not two one-eye closures."""
    def dip(t0):
        return profile(T, t0, 0.05, 0.0, 0.1, peak=0.42)

    lower = np.full(len(T), 0.3) - 0.1 * (profile(T, 8.5, 0.05, 0.0, 0.1) + profile(T, 8.63, 0.05, 0.0, 0.1))
    turns = {**trace_columns(blinks_closure() + dip(8.63), blinks_closure() + dip(8.5)),
             "lower_lid_left": lower, "lower_lid_right": lower.copy()}
    events = detect_events(closure_signal(turns))
    assert all(abs(p.onset_s - 8.5) > 0.5 for p in events.paired), events.summary()
    together = {**trace_columns(blinks_closure() + dip(8.53), blinks_closure() + dip(8.5)),
                "lower_lid_left": lower, "lower_lid_right": lower.copy()}
    assert [p.eye for p in detect_events(closure_signal(together)).paired if 8.0 < p.onset_s < 9.0] == ["both"]


def test_a_shallow_closure_touching_the_other_eyes_next_closure_is_not_coupled():
    """Flutter: the right eye's shallow closure ends as both eyes' next deep one starts."""
    left = profile(T, 5.2, 0.06, 0.02, 0.1)
    right = profile(T, 5.0, 0.06, 0.02, 0.16, peak=0.62) + profile(T, 5.2, 0.06, 0.02, 0.1)
    events = detect_events(closure_signal(trace_columns(left, right)))
    assert [e.kind for e in events.per_eye["right"]] == ["blink", "blink"]


def test_invalid_frames_are_never_closed_and_a_gap_never_adds_closed_time():
    closure = blinks_closure() + profile(T, 30.0, 0.1, 3.0, 0.2)
    cols = trace_columns(closure)
    base = recording_metrics(*_signal_events(cols), cols)["left"]
    for start in (29.0, 30.5, 45.0):
        gapped = dict(cols)
        gapped["valid"] = cols["valid"].copy()
        gapped["valid"][(T >= start) & (T < start + 1.0)] = 0
        m = recording_metrics(*_signal_events(gapped), gapped)["left"]
        closed_s = m["share_closed"] * m["valid_time_s"]
        assert closed_s <= base["share_closed"] * base["valid_time_s"] + 1e-9
        assert m["valid_time_s"] == pytest.approx(base["valid_time_s"] - 1.0, abs=0.05)


def _signal_events(cols):
    signal = closure_signal(cols)
    return signal, detect_events(signal)


@pytest.mark.parametrize("scale", [0.5, 2.0, 3.7])
def test_scaling_the_eyelid_measure_does_not_change_events(scale):
    cols = trace_columns(blinks_closure() + profile(T, 30.0, 0.1, 3.0, 0.2))
    scaled = {**cols, "ear_left": cols["ear_left"] * scale, "ear_right": cols["ear_right"] * scale}
    a = detect_events(closure_signal(cols)).summary()
    b = detect_events(closure_signal(scaled)).summary()
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x["kind"] == y["kind"]
        assert x["onset_s"] == pytest.approx(y["onset_s"], abs=1e-6)
        assert x["offset_s"] == pytest.approx(y["offset_s"], abs=1e-6)


def test_metrics_of_known_events():
    cols = trace_columns(blinks_closure() + profile(T, 28.0, 0.1, 3.0, 0.2))
    signal, events = _signal_events(cols)
    m = eye_metrics(signal.time_s, signal.closure["left"], events.per_eye["left"],
                    aperture_mm=cols["aperture_mm_left"])
    assert m["blink_count"] == len(BLINKS) and m["spasm_count"] == 1
    assert m["blink_rate_per_min"] == pytest.approx(len(BLINKS), rel=0.02)  # 60 s of video
    assert m["longest_closure_s"] == pytest.approx(3.3, abs=0.07)
    true_closed = np.mean(blinks_closure() + profile(T, 28.0, 0.1, 3.0, 0.2) >= 0.5)
    assert m["share_closed"] == pytest.approx(true_closed, abs=0.005)
    assert m["open_aperture_mm"] == pytest.approx(10, abs=0.1)


def test_an_eye_without_measured_time_has_no_durations_or_rates():
    closure = np.full(len(T), np.nan)
    m = eye_metrics(T, closure, [])
    assert m["valid_time_s"] == 0
    for key in ("closure_rate_per_min", "share_closed", "longest_closure_s", "spasm_total_s", "open_aperture_mm"):
        assert np.isnan(m[key]), key
    for key in ("closure_count", "blink_count", "prolonged_count", "spasm_count", "flutter_burst_count", "review_count"):
        assert m[key] is None, key
    # a measured eye without events: real zeros
    measured = eye_metrics(T, np.zeros(len(T)), [])
    assert measured["spasm_count"] == 0 and measured["longest_closure_s"] == 0 and measured["spasm_total_s"] == 0


def test_a_minute_without_measured_time_has_no_counts():
    t = np.arange(0, 180, 1 / FPS)
    closure = sum(profile(t, t0 + minute, 0.08, 0.03, 0.15) for minute in (0, 60, 120) for t0 in BLINKS)
    cols = trace_columns(closure)
    cols["valid"][(t >= 60) & (t < 120)] = 0  # the face is lost for the second minute
    signal, events = _signal_events(cols)
    rows = {(r["minute"], r["eye"]): r for r in per_minute(signal, events)}
    for eye in ("left", "right"):
        assert rows[(0, eye)]["blink_count"] == rows[(2, eye)]["blink_count"] == len(BLINKS)
        assert rows[(1, eye)]["valid_time_s"] == 0
        assert rows[(1, eye)]["blink_count"] is None and rows[(1, eye)]["spasm_count"] is None
        assert np.isnan(rows[(1, eye)]["share_closed"])
    for row in rows.values():   # each frame stands for the time to the next: the last minute ends after its last frame
        assert row["valid_time_s"] <= row["end_s"] - row["start_s"] + 1e-9
    assert rows[(2, "left")]["end_s"] == pytest.approx(180.0) and rows[(2, "left")]["valid_time_s"] == pytest.approx(60.0)


def test_an_events_time_closed_never_exceeds_its_duration():
    """Blinks of an eye narrowed past half closed (0.55 from 28.5 s on): every frame from their
    onset to their offset reads 0.5 or more, yet their time closed stays within onset to offset
    (it used to count the offset frame's time too, which lies after the offset)."""
    narrowed = np.minimum(blinks_closure() + profile(T, 28.0, 0.05, 0.4, 0.05) + np.where(T > 28.5, 0.55, 0.0), 1.0)
    signal, events = _signal_events(trace_columns(narrowed))
    late = [e for side in ("left", "right") for e in events.per_eye[side] if e.onset_s > 30]
    assert len(late) >= 6
    for event in late:
        assert event.closed_s == pytest.approx(event.duration_s, abs=1e-9), event


@pytest.mark.parametrize("values, grade", [
    (dict(share_closed=0.6), 4),
    (dict(share_closed=0.2, spasm_rate_per_min=1.0), 3),
    (dict(flutter_bursts_per_min=1.5), 2),
    (dict(closure_rate_per_min=30.0), 1),
    (dict(closure_rate_per_min=15.0), 0),
])
def test_frequency_grade_follows_the_jankovic_anchors(values, grade):
    metrics = {"share_closed": 0.02, "spasm_rate_per_min": 0.0, "flutter_bursts_per_min": 0.0,
               "prolonged_rate_per_min": 0.0, "closure_rate_per_min": 15.0, **values}
    g, index = eye_grade(metrics)
    assert g == grade and 20 * grade <= index <= 20 * grade + 20


def test_severity_index_is_monotone_in_time_closed_and_rate():
    base = {"share_closed": 0.0, "spasm_rate_per_min": 2.0, "flutter_bursts_per_min": 0.0,
            "prolonged_rate_per_min": 0.0, "closure_rate_per_min": 20.0}
    indices = [eye_grade({**base, "share_closed": s})[1] for s in np.linspace(0, 1, 41)]
    assert np.all(np.diff(indices) >= 0) and indices[-1] == 100
    rates = [eye_grade({**base, "spasm_rate_per_min": 0.0, "closure_rate_per_min": r})[1] for r in range(10, 22)]
    assert np.all(np.diff(rates) >= 0)


def test_severity_reports_worse_eye_and_formula_version():
    healthy = {"share_closed": 0.02, "spasm_rate_per_min": 0.0, "flutter_bursts_per_min": 0.0,
               "prolonged_rate_per_min": 0.0, "closure_rate_per_min": 15.0}
    result = severity({"left": {**healthy, "spasm_rate_per_min": 3.0}, "right": healthy})
    assert result["jankovic_frequency_grade"] == 3 and result["worse_eye"] == "left"
    assert result["formula_version"] == FORMULA_VERSION


def test_compare_events_scores_and_timing():
    ref = [ReferenceEvent("both", 1.0, 1.3), ReferenceEvent("both", 5.0, 5.2), ReferenceEvent("both", 9.0, 9.3)]
    det = [ReferenceEvent("left", 1.02, 1.28), ReferenceEvent("left", 5.0, 5.25), ReferenceEvent("left", 20.0, 20.2)]
    c = compare_events(det, ref, tolerance_s=0.1)
    assert (c.true_positives, c.false_positives, c.false_negatives) == (2, 1, 1)
    assert c.f1 == pytest.approx(2 / 3)
    np.testing.assert_allclose(c.onset_errors_s, [0.02, 0.0], atol=1e-12)
    optional = compare_events(det, ref[:2], optional=[ReferenceEvent("both", 19.9, 20.3)])
    assert (optional.false_positives, optional.false_negatives) == (0, 0)


def test_read_tag_file(tmp_path):
    tag = tmp_path / "x.tag"
    tag.write_text("#start\n#end\n0:-1:X:X:X:X:X\n10:1:X:X:X:X:X\n11:1:X:C:X:C:X\n12:1:X:X:X:X:X\n13:-1:X:X:X:X:X\n")
    (event,) = read_tag_file(tag, fps=25)
    assert (event.onset_frame, event.offset_frame) == (10, 12)
    assert event.onset_s == pytest.approx(0.4)


def test_event_mask_covers_onset_to_offset():
    t = np.arange(10) / 10
    mask = event_mask(t, [ReferenceEvent("left", 0.2, 0.45)])
    assert mask.tolist() == [False, False, True, True, True, False, False, False, False, False]


def test_tag_offset_is_the_last_labelled_frame(tmp_path):
    tag = tmp_path / "x.tag"
    tag.write_text("10:1:X:X:X:X:X\n11:1:X:C:X:C:X\n12:1:X:X:X:X:X\n")
    (event,) = read_tag_file(tag, fps=25)
    assert event.offset_s == pytest.approx(12 / 25)


def test_a_closure_cut_short_by_its_eye_leaving_the_measure_pairs_with_the_other_eye():
    """Left and right closures pair when they overlap by half of the longer one, or of the shorter
    one where either was truncated (its eye stopped being measured: violin_interview 604-620, the
    far eye's closure ends where the head turns past 30 degrees)."""
    def event(eye, onset, offset, truncated=False):
        return EyeEvent(eye=eye, onset_s=onset, apex_s=(onset + offset) / 2, offset_s=offset, peak_closure=1.0,
                        closed_s=offset - onset, kind="blink", complete=True, truncated=truncated)
    near, far = event("left", 0.20, 0.66), event("right", 0.13, 0.30, truncated=True)
    assert [p.eye for p in pair_events([near], [far])] == ["both"]
    wink_end = event("right", 0.13, 0.30)  # the same, whole: another eye joining at the end of a wink
    assert sorted(p.eye for p in pair_events([near], [wink_end])) == ["left", "right"]


def test_a_closure_read_on_one_frame_beside_lost_tracking_is_not_counted():
    """The face mesh locking on again to a face it lost can read one frame of the eyes shut (arjs
    129, the face found again behind a card; syncnet 2, between lost frames): a closure whose only
    measured frame at core depth has a lost or bridged neighbour is ``lone_frame``, not counted. A
    blink closed on several frames, or next to a one-frame gap, is still a blink."""
    closure = blinks_closure()
    cols = trace_columns(closure)
    i = int(np.searchsorted(T, 30.0))
    cols["valid"][i - 8:i] = 0  # the face lost for 8 frames ...
    cols["valid"][i + 1] = 0  # ... found on one frame that reads the eyes shut, lost for one more
    for side in ("left", "right"):
        cols[f"ear_{side}"][i] = ear_from_closure(np.array([0.95]))[0]
    j = int(np.searchsorted(T, BLINKS[3])) + 3  # a real blink with one lost frame in it
    cols["valid"][j] = 0
    events = detect_events(closure_signal(cols))
    for side in ("left", "right"):
        at_30 = [e for e in events.per_eye[side] if abs(e.apex_s - 30.0) < 0.1]
        assert [e.kind for e in at_30] == ["lone_frame"]
        assert len(closures(events.per_eye[side])) == len(BLINKS)
    assert not any(abs(p.apex_s - 30.0) < 0.2 for p in events.paired)


def test_a_closure_of_two_frames_on_a_face_just_found_again_is_not_counted():
    """arjs 129-130 (signals eyelid-12): the face found again behind a card reads the eye half
    shut, then shut, then open: a closure of two frames at core depth that starts on the first
    frame measured after the loss (the eye was never seen open before it) is ``lone_frame``
    (analysis-20, analysis-21). A real blink of four frames at core depth right after a loss still counts."""
    closure = blinks_closure()
    cols = trace_columns(closure)
    i = int(np.searchsorted(T, 30.0))
    cols["valid"][i - 8:i] = 0  # the face lost for 8 frames, then found reading 0.7, 0.95, 0.2
    for side in ("left", "right"):
        cols[f"ear_{side}"][i:i + 3] = ear_from_closure(np.array([0.7, 0.95, 0.2]))
    j = int(np.searchsorted(T, BLINKS[6]))
    cols["valid"][j - 5:j] = 0  # lost for 5 frames (not bridged) just before a real blink
    events = detect_events(closure_signal(cols))
    for side in ("left", "right"):
        at_30 = [e for e in events.per_eye[side] if abs(e.apex_s - 30.0) < 0.1]
        assert [e.kind for e in at_30] == ["lone_frame"]
        after_loss = [e for e in events.per_eye[side] if abs(e.apex_s - BLINKS[6]) < 0.2]
        assert [e.kind for e in after_loss] == ["blink"] and after_loss[0].truncated
        assert len(closures(events.per_eye[side])) == len(BLINKS)
    assert not any(abs(p.apex_s - 30.0) < 0.2 for p in events.paired)


@pytest.mark.parametrize("first_reading, counted", [(0.05, True), (0.4, False)])
def test_a_short_blink_just_after_a_loss_counts_when_its_first_frame_reads_the_eye_open(first_reading, counted):
    """A closure of two frames at core depth starting on the first frame measured after a loss
    is a face found again read shut only when that frame already reads the eye at least half way
    to the core threshold (0.4); when it reads the eye open (0.05), the eye was seen open and the
    closure is a real blink (analysis-21)."""
    closure = blinks_closure()
    cols = trace_columns(closure)
    i = int(np.searchsorted(T, 48.0))  # between two blinks
    cols["valid"][i - 8:i] = 0  # the face lost for 8 frames, then found reading first_reading
    for side in ("left", "right"):
        cols[f"ear_{side}"][i:i + 5] = ear_from_closure(np.array([first_reading, 0.9, 0.95, 0.2, 0.0]))
    events = detect_events(closure_signal(cols))
    for side in ("left", "right"):
        at_48 = [e for e in events.per_eye[side] if abs(e.apex_s - T[i + 2]) < 0.1]
        assert [e.kind for e in at_48] == (["blink"] if counted else ["lone_frame"])
        assert len(closures(events.per_eye[side])) == len(BLINKS) + counted
    assert any(abs(p.apex_s - T[i + 2]) < 0.2 for p in events.paired) == counted


def test_counting_review_reads_each_review_event_as_the_closure_its_duration_makes_it():
    def event(eye, onset, offset, kind):
        return EyeEvent(eye=eye, onset_s=onset, apex_s=(onset + offset) / 2, offset_s=offset, peak_closure=1.0,
                        closed_s=offset - onset, kind=kind, complete=True, truncated=False)

    left = [event("left", 1.0, 1.2, "blink"), event("left", 5.0, 6.5, "review"), event("left", 9.0, 9.7, "review")]
    right = [event("right", 1.0, 1.2, "blink"), event("right", 5.0, 6.4, "review")]
    events = Events(per_eye={"left": left, "right": right}, bursts={"left": [], "right": []},
                    paired=pair_events(closures(left), closures(right)))
    counted = counting_review(events)
    assert [e.kind for e in counted.per_eye["left"]] == ["blink", "spasm", "prolonged"]
    assert [e.kind for e in counted.per_eye["right"]] == ["blink", "spasm"]
    assert [p.eye for p in counted.paired] == ["both", "both", "left"]
    assert [e.kind for e in events.per_eye["left"]] == ["blink", "review", "review"]  # the input is unchanged
    # in the events table, review events of both eyes that overlap are bilateral as closures are
    assert [(r["eye"], r["kind"], r["bilateral"]) for r in events.summary()] == [
        ("left", "blink", True), ("right", "blink", True), ("left", "review", True), ("right", "review", True),
        ("left", "review", False)]
