"""The quality gate on arrays: per-frame reasons, a second face, fragmentation, and what reaches
the analysis (no video; the real-video checks are in test_real_labels.py)."""

import numpy as np
import pytest

from spasmcv.analysis.analyze import analyze_trace
from spasmcv.analysis.quality import (REASONS, QualitySettings, frame_quality, local_frame_rate, quality_summary,
                                     stretches)
from spasmcv.measure.trace import Trace
from helpers import BLINKS, FPS, T, blinks_closure, trace_columns


def full_columns(n=len(T)):
    columns = trace_columns(blinks_closure())
    columns.update(face_detected=np.ones(n, np.int8), eyes_in_frame=np.ones(n, np.int8), n_faces=np.ones(n, np.int64),
                   face_size_px=np.full(n, 200.0), face_x_px=np.full(n, 320.0), face_y_px=np.full(n, 240.0),
                   iris_reference_px=np.full(n, 12.0), head_yaw_deg=np.zeros(n), head_pitch_deg=np.zeros(n),
                   head_roll_deg=np.zeros(n))
    return columns


def first_frames(n):
    return {name: np.array(values[:n]) for name, values in full_columns().items()}


def test_every_unmeasured_frame_has_one_reason_in_order():
    c = full_columns()
    c["face_detected"][0:10] = 0
    c["eyes_in_frame"][0:20] = 0  # frames 0-9 are 'no face' first
    c["valid"][0:30] = 0
    c["iris_reference_px"][40:50] = 2.0
    c["head_yaw_deg"][60:70] = -65.0
    c["head_pitch_deg"][70:80] = 30.0
    c["head_roll_deg"][90:100] = 80.0
    c["head_yaw_deg"][95:100] = 70.0  # turned and tilted: 'turned' comes first
    c["head_yaw_deg"][130:140] = -45.0  # turned 30-60 degrees: the near (left) eye is still read
    c["head_yaw_deg"][140:150] = 40.0  # ... the right eye
    c["head_roll_deg"][145:150] = 80.0  # ... unless the head is also tilted too far
    c["head_yaw_deg"][150:160] = -45.0
    c["iris_reference_px"][150:160] = 6.0  # ... or its eyes too small for a turned near eye (8 px)
    q = frame_quality(c)
    assert list(q.reason[[0, 15, 25, 45, 65, 75, 92, 97, 120, 135, 142, 147, 155]]) == [
        "no_face", "eyes_outside", "false_detection", "small_face", "head_turned", "head_turned",
        "head_tilted", "head_turned", "", "near_eye_only", "near_eye_only", "head_tilted", "head_turned"]
    assert q.measurable.sum() == len(T) - 30 - 10 - 20 - 10 - 20 - 10
    assert set(q.reason) <= set(REASONS) | {""}
    assert q.eye_measurable["left"][130:140].all() and not q.eye_measurable["right"][130:140].any()
    assert q.eye_measurable["right"][140:145].all() and not q.eye_measurable["left"][140:150].any()
    assert not q.eye_measurable["right"][145:150].any()
    assert not (q.eye_measurable["left"] | q.eye_measurable["right"])[150:160].any()
    for side in ("left", "right"):
        others = np.r_[0:130, 150:len(T)]
        assert (q.eye_measurable[side][others] == q.measurable[others]).all()
    off = frame_quality(c, QualitySettings(max_near_eye_yaw_deg=None))
    assert list(off.reason[[135, 142]]) == ["head_turned", "head_turned"]
    assert not (off.eye_measurable["left"] | off.eye_measurable["right"])[130:150].any()


def test_a_camera_far_below_the_eyes_is_not_measured_and_says_so():
    """Pitch is where the camera lies as seen from the head: negative when it looks up at the face.
    Beyond 20 degrees below (25 above), not measured, with its own reason and a warning that says
    what to do."""
    c = full_columns()
    c["head_pitch_deg"][T < 10] = -22.0                   # 10 s filmed from below
    c["head_pitch_deg"][(T >= 10) & (T < 12)] = -19.0     # within the limit
    c["head_pitch_deg"][(T >= 12) & (T < 14)] = 22.0      # the camera above: within its limit
    q = frame_quality(c)
    assert (q.reason[T < 10] == "camera_below").all() and q.measurable[T >= 10].all()
    analysis = analyze_trace(Trace(columns=c, metadata={"recording_id": "r", "warnings": []}))
    assert analysis.recording["metrics"]["quality"]["invalid_share"]["camera_below"] == pytest.approx(1 / 6, abs=0.01)
    assert any("camera too far below the eyes" in w and "film at eye level" in w for w in analysis.recording["warnings"])
    assert frame_quality(c, QualitySettings(max_camera_below_deg=25.0)).measurable.all()


def test_a_picture_too_dark_around_the_eyes_is_not_measured_and_says_so():
    """A fade from black: while the grey levels around the eyes spread over less than the limit,
    the frames are not measured, with their own reason and a warning; traces without the column
    (signals before eyelid-7) are not tested."""
    limit = QualitySettings().min_eye_region_grey_spread
    assert limit > 0
    c = full_columns()
    c["eye_region_grey_spread"] = np.full(len(T), 90.0)
    c["eye_region_grey_spread"][T < 6] = np.linspace(2.0, 0.99 * limit, int((T < 6).sum()))
    c["eye_region_grey_spread"][(T >= 6) & (T < 7)] = limit
    c["eye_region_grey_spread"][T >= 50] = np.nan          # no face found in the region's picture: not a dark one
    q = frame_quality(c)
    assert (q.reason[T < 6] == "dark_picture").all() and q.measurable[T >= 6].all()
    analysis = analyze_trace(Trace(columns=c, metadata={"recording_id": "r", "warnings": []}))
    assert analysis.recording["metrics"]["quality"]["invalid_share"]["dark_picture"] == pytest.approx(0.1, abs=0.01)
    assert any("too dark or flat around the eyes" in w and "trim fades" in w for w in analysis.recording["warnings"])
    del c["eye_region_grey_spread"]
    assert frame_quality(c).measurable.all()


def test_a_recording_dark_throughout_is_not_gradable_and_shows_no_number():
    """A recording filmed in a dark room (the face found, the grey levels around the eyes spread
    over 10 throughout): nothing is measured, no closure is reported, the severity is "not
    gradable" naming the darkness, and the summary shows no grade or rate."""
    from spasmcv.analysis.summary import format_summary

    c = full_columns()
    c["eye_region_grey_spread"] = np.full(len(T), 10.0)
    analysis = analyze_trace(Trace(columns=c, metadata={"recording_id": "r", "warnings": []}), task="conversation")
    assert np.isnan(analysis.signal.closure["left"]).all() and not analysis.events.paired
    severity = analysis.recording["severity"]
    assert not severity["gradable"] and severity["jankovic_frequency_grade"] is None
    assert "under 15 s of measurable video" in severity["not_gradable_reason"]
    assert "picture too dark or flat around the eyes, 100 % of the time" in severity["not_gradable_reason"]
    text = format_summary(analysis)
    assert "not gradable:" in text and "Jankovic frequency grade" not in text
    assert "picture too dark or flat around the eyes 100 %" in text
    rows = text.splitlines()[text.splitlines().index("") + 2:]
    table = rows[:rows.index(next(r for r in rows if r.startswith("bilateral")))]
    assert len(table) >= 10 and all(row[30:54].split() == ["n/a", "n/a"] for row in table)
    # nothing was measured, so nothing is called unreliable or imprecise: it is said that there is nothing
    assert "no frame could be measured: there are no metrics" in analysis.recording["warnings"]
    assert not any("unreliable" in w or "imprecise" in w for w in analysis.recording["warnings"])


def test_the_local_frame_rate_ignores_a_dropped_frame_and_follows_a_slower_camera():
    time_s = np.arange(100) / 25.0
    assert np.allclose(local_frame_rate(time_s), 25.0)
    dropped = np.delete(time_s, 50)                         # one frame missing: a 0.08-s interval
    assert np.allclose(local_frame_rate(dropped), 25.0)
    slower = np.r_[time_s, time_s[-1] + np.arange(1, 41) / 8.0]   # the camera falls to 8 frames/s
    rate = local_frame_rate(slower)
    assert np.allclose(rate[:98], 25.0) and np.allclose(rate[102:], 8.0)
    assert np.isnan(local_frame_rate(np.array([0.0]))).all() and local_frame_rate(np.array([])).size == 0


def test_frames_filmed_too_slowly_are_not_measured_and_a_low_rate_is_warned_about():
    """Under ``min_frame_rate_fps`` frames are ``low_frame_rate`` (a whole recording at 8 frames/s
    is not gradable, and says why); between it and ``warn_frame_rate_fps`` they are measured, with
    a warning; at 24 frames/s and more, neither."""
    settings = QualitySettings()
    assert settings.min_frame_rate_fps < settings.warn_frame_rate_fps <= 24
    for fps, measured, warned in ((8.0, False, False), (15.0, True, True), (25.0, True, False)):
        c = full_columns()
        c["time_s"] = np.arange(len(T)) / fps
        q = frame_quality(c)
        assert q.measurable.all() == measured and (measured or (q.reason == "low_frame_rate").all())
        analysis = analyze_trace(Trace(columns=c, metadata={"recording_id": "r", "warnings": []}), task="conversation")
        warnings = " ".join(analysis.recording["warnings"])
        assert (f"filmed at {fps:g} frames/s" in warnings) == warned
        severity = analysis.recording["severity"]
        assert severity["gradable"] == measured
        if not measured:
            assert "frame rate too low to see every blink, 100 % of the time" in severity["not_gradable_reason"]
            assert "under 11 frames/s: film at 24 frames/s or more" in warnings
    del c["time_s"]
    assert frame_quality(c).measurable.all()


def test_a_frame_before_a_gap_in_the_timing_is_not_measured_so_no_closure_runs_across_it():
    """A recording paused for 10 s in the middle of a blink: the frame before the pause would stand
    for the whole 10 s, and the closure on both sides would become a 10-s spasm. It is not measured
    (``timing_gap``): the unseen time is not measured time, and no closure spans the gap. Frames
    dropped for up to 0.5 s change nothing."""
    c = full_columns()
    time_s = np.array(c["time_s"], dtype=float)
    pause = 900                                         # frame 900 is 30 s in: the middle of a blink below
    for name in ("ear_left", "ear_right"):
        c[name] = np.array(c[name], dtype=float)
        c[name][pause - 3:pause + 4] = 0.02              # both eyes shut from 3 frames before to 3 after
    dropped = time_s.copy()
    dropped[301:] += 2 / FPS                            # two frames dropped at 10 s: 0.067 s missing
    dropped[601:] += 14 / FPS                           # 14 at 20 s: 0.47 s missing
    assert frame_quality({**c, "time_s": dropped}).measurable.all()
    paused = time_s.copy()
    paused[pause + 1:] += 10.0                          # ... and a 10-s pause after frame 900
    q = frame_quality({**c, "time_s": paused})
    assert list(np.flatnonzero(~q.measurable)) == [pause] and q.reason[pause] == "timing_gap"
    analysis = analyze_trace(Trace(columns={**c, "time_s": paused}, metadata={"recording_id": "r", "warnings": []}))
    assert all(e["offset_s"] - e["onset_s"] < 1.0 for e in analysis.events.summary())
    quality = analysis.recording["metrics"]["quality"]
    assert quality["duration_s"] == pytest.approx(len(T) / FPS + 10.0, abs=0.1)
    assert quality["valid_time_s"] == pytest.approx(len(T) / FPS, abs=0.1)
    assert any("a gap in the video's timing" in w for w in analysis.recording["warnings"])


def test_a_reacquired_face_elsewhere_is_another_face_only_when_several_were_seen():
    c = full_columns()
    n = len(T)
    c["subject_track"][n // 2:] = 1
    c["face_x_px"][n // 2:] = 600.0  # the new track is three face heights away...
    assert frame_quality(c).measurable.all()  # ...but only one face was ever visible: the same person moved
    c["n_faces"][100] = 2
    q = frame_quality(c)
    assert (q.reason[n // 2:] == "other_face").all() and q.measurable[: n // 2].all()
    c["face_x_px"][n // 2:] = 330.0  # same place and size: the subject came back
    assert frame_quality(c).measurable.all()


def test_fragmented_or_short_measurable_time_is_not_gradable():
    frame_s = np.full(len(T), 1 / FPS)
    ok = frame_quality(full_columns())
    summary = quality_summary(frame_s, ok, ok.measurable)
    assert summary["gradable"] and summary["graded_time_s"] == pytest.approx(60, abs=0.1)
    assert summary["main_invalid_reason"] is None and set(summary["invalid_share"]) == set(REASONS)
    # 3 s measured, 3 s turned away, repeated: 30 s measured, none in stretches of 5 s
    c = full_columns()
    turned = (T % 6) >= 3
    c["head_yaw_deg"][turned] = 70.0
    q = frame_quality(c)
    summary = quality_summary(frame_s, q, q.measurable)
    assert not summary["gradable"] and summary["graded_time_s"] == 0
    assert "fragmented" in summary["not_gradable_reason"] and "head turned" in summary["not_gradable_reason"]
    assert summary["invalid_share"]["head_turned"] == pytest.approx(0.5, abs=0.01)
    c["head_yaw_deg"][T < 50] = 70.0
    q = frame_quality(c)
    summary = quality_summary(frame_s, q, q.measurable)
    assert summary["not_gradable_reason"].startswith("under 15 s of measurable video")


def test_exactly_fifteen_seconds_measured_is_gradable_wherever_the_part_starts():
    """375 frames of 0.04 s sum to 14.999999999999998 s: a 15-s part was 'under 15 s (15.0 s of
    15.0 s)' or graded depending on its start (analysis-23)."""
    frame_s = np.full(375, 0.04)
    assert frame_s.sum() < 15
    q = frame_quality(first_frames(375))
    summary = quality_summary(frame_s, q, q.measurable)
    assert summary["gradable"], summary["not_gradable_reason"]
    short = quality_summary(frame_s[:374], frame_quality(first_frames(374)), np.ones(374, bool))
    assert not short["gradable"] and short["not_gradable_reason"].startswith("under 15 s of measurable video: 15.0 s")


def test_a_reason_under_half_a_percent_is_not_shown_as_0_percent():
    frame_s = np.full(300, 0.04)
    c = first_frames(300)
    c["valid"][:1] = 0
    c["face_detected"][:1] = 0
    q = frame_quality(c)
    reason = quality_summary(frame_s, q, q.measurable)["not_gradable_reason"]
    assert ", under 1 % of the time" in reason and "0 % of the time" not in reason and "(" not in reason


def test_stretches():
    assert stretches(np.array([0, 1, 1, 0, 1], bool)) == [(1, 3), (4, 5)]
    assert stretches(np.zeros(3, bool)) == []


def test_unmeasured_frames_are_neither_open_nor_closed_and_the_reason_reaches_the_result():
    c = full_columns()
    c["head_roll_deg"][T >= 40] = 80.0  # a face lying sideways for the last 20 s
    analysis = analyze_trace(Trace(columns=c, metadata={"recording_id": "r", "warnings": []}))
    q = analysis.recording["metrics"]["quality"]
    assert q["invalid_share"]["head_tilted"] == pytest.approx(1 / 3, abs=0.01)
    assert q["valid_time_s"] == pytest.approx(40, abs=0.1)
    assert np.isnan(analysis.signal.closure["left"][T >= 40.2]).all()
    assert any("tilted sideways" in w for w in analysis.recording["warnings"])
    assert analysis.recording["severity"]["gradable"]
    c["head_roll_deg"][T >= 10] = 80.0
    analysis = analyze_trace(Trace(columns=c, metadata={"recording_id": "r", "warnings": []}))
    sev = analysis.recording["severity"]
    assert sev["jankovic_frequency_grade"] is None and "tilted sideways" in sev["not_gradable_reason"]


def test_gates_can_be_set_and_are_recorded():
    c = full_columns()
    c["iris_reference_px"][:] = 5.0
    strict = QualitySettings(min_iris_px=6.0)
    from dataclasses import replace

    from spasmcv.analysis.analyze import AnalysisSettings

    analysis = analyze_trace(Trace(columns=c, metadata={}), settings=replace(AnalysisSettings(), quality=strict))
    assert not analysis.recording["severity"]["gradable"]
    assert analysis.recording["provenance"]["settings"]["quality"]["min_iris_px"] == 6.0


def test_an_eye_opening_of_a_pixel_or_two_is_not_read():
    """The open fissure (the larger eye's widest opening, px) under 2 px: every frame
    'narrow_eyes', nothing counted as open or closed; a blink of a normal eye (its fissure down to
    0 px for a few frames), one eye seen edge-on beside a readable one, or eyes shut for 95 % of
    the recording (a severe blepharospasm) stay measured."""
    c = full_columns()
    closure = blinks_closure()
    c["aperture_px_left"] = 8.0 * (1 - closure)
    c["aperture_px_right"] = 8.0 * (1 - closure)
    assert frame_quality(c).measurable.all()
    c["aperture_px_right"] = 1.0 * (1 - closure)  # the far eye edge-on; the near one readable
    assert frame_quality(c).measurable.all()
    shut = np.where((T % 20) < 19, 0.3, 8.0)  # open one second in twenty
    assert frame_quality({**c, "aperture_px_left": shut, "aperture_px_right": shut}).measurable.all()
    c["aperture_px_left"] = 1.2 * (1 - closure)  # both eyes at most 1.2 px open (multispeaker: 1.4 at the widest)
    q = frame_quality(c)
    assert (q.reason == "narrow_eyes").all()
    analysis = analyze_trace(Trace(columns=c, metadata={"recording_id": "r", "warnings": []}))
    assert np.isnan(analysis.signal.closure["left"]).all() and not analysis.events.paired
    assert any("lid to lid" in w for w in analysis.recording["warnings"])
    assert "eye opening too narrow" in analysis.recording["severity"]["not_gradable_reason"]


def test_a_turned_head_is_read_on_its_near_eye_only():
    """Past 30 degrees of yaw the far eye is not read, the near one still is: its blinks are
    counted in its own rates, are neither bilateral nor one eye's alone, and the far eye's
    closure cut short where its measurement stops joins the near eye's as one closure."""
    c = full_columns()
    turned = (T >= 20) & (T < 40)
    c["head_yaw_deg"][turned] = -45.0  # negative yaw: the left eye is the near one
    c["ear_right"][turned] *= 2.0  # the far eye foreshortened: its reading means nothing
    analysis = analyze_trace(Trace(columns=c, metadata={"recording_id": "r", "warnings": []}))
    left, right = analysis.signal.closure["left"], analysis.signal.closure["right"]
    inside = turned & (T > 20.2) & (T < 39.8)  # away from the bridged edges
    assert np.isfinite(left[inside]).all() and np.isnan(right[inside]).all()
    onsets = {side: [e.onset_s for e in analysis.events.per_eye[side] if e.kind == "blink"] for side in ("left", "right")}
    assert np.allclose(onsets["left"], BLINKS, atol=0.2)
    assert np.allclose(onsets["right"], [t for t in BLINKS if not 20 <= t < 40], atol=0.2)
    met = analysis.recording["metrics"]
    assert met["bilateral_count"] == 6 and met["one_eye_measured_count"] == 4
    assert met["unilateral_left_count"] == 0 and met["unilateral_right_count"] == 0
    assert met["left"]["valid_time_s"] == pytest.approx(60, abs=0.1)
    assert met["right"]["valid_time_s"] == pytest.approx(40, abs=0.3)
    assert met["quality"]["invalid_share"]["near_eye_only"] == pytest.approx(1 / 3, abs=0.01)
    assert any("nearer the camera" in w for w in analysis.recording["warnings"])
    rows = [r for r in analysis.events.summary() if r["eye"] == "left" and 20 <= r["onset_s"] < 40]
    assert rows and not any(r["other_eye_measured"] or r["bilateral"] for r in rows)


def test_a_far_eye_gap_does_not_make_the_near_eyes_quick_blink_a_lone_frame():
    """A quick blink shut on one frame, as the head turns past 30 degrees on the next: that frame
    is still measured for the near (left) eye, only the far eye loses it (and bridges it), so the
    blink counts; a closure is ``lone_frame`` only beside a frame its own eye did not measure."""
    from helpers import ear_from_closure

    c = full_columns()
    k = int(np.searchsorted(T, 30.0))
    dip = np.zeros(len(T))
    dip[k - 2:k + 3] = [0.2, 0.45, 0.95, 0.45, 0.2]
    for side in ("left", "right"):
        c[f"ear_{side}"] = ear_from_closure(blinks_closure() + dip)
    c["head_yaw_deg"][k + 1] = -40.0  # the far (right) eye unmeasured on the next frame
    analysis = analyze_trace(Trace(columns=c, metadata={"recording_id": "r", "warnings": []}))
    (left,) = [e for e in analysis.events.per_eye["left"] if abs(e.apex_s - T[k]) < 0.05]
    assert left.kind == "blink"
    assert any(abs(p.apex_s - T[k]) < 0.05 for p in analysis.events.paired)


def test_repeated_frames_are_counted_from_face_and_eyes_unchanged():
    """A frame repeats the one before when both eyes' aspect ratios move under 0.001 and the face
    under 0.0005 of its size; pairs with an unmeasured frame are left out; a trace without face
    positions gives NaN (no warning). Half the pairs repeating is warned about, a sixth is not."""
    from spasmcv.analysis.quality import QualitySettings, repeated_frame_share, repeated_frames_warning

    n = 13
    rng = np.random.default_rng(1)
    moving = {"ear_left": 0.3 + 0.01 * rng.standard_normal(n), "ear_right": 0.3 + 0.01 * rng.standard_normal(n),
              "face_x_px": 100 + rng.standard_normal(n), "face_y_px": 80 + rng.standard_normal(n),
              "face_size_px": np.full(n, 150.0)}
    measurable = np.ones(n, bool)
    assert repeated_frame_share(moving, measurable) == 0.0
    repeated = {k: np.repeat(v[: (n + 1) // 2], 2)[:n] for k, v in moving.items()}   # each picture twice
    assert repeated_frame_share(repeated, measurable) == pytest.approx(6 / 12)
    (warning,) = repeated_frames_warning(repeated, measurable, QualitySettings())
    assert warning.startswith("50 % of the frames repeat the one before")
    gaps = measurable.copy()
    gaps[1::2] = False   # every repeated pair has an unmeasured frame
    assert np.isnan(repeated_frame_share(repeated, gaps))
    few = {k: v.copy() for k, v in moving.items()}
    for k in few:
        few[k][1], few[k][7] = few[k][0], few[k][6]
    assert repeated_frame_share(few, measurable) == pytest.approx(2 / 12)
    assert repeated_frames_warning(few, measurable, QualitySettings()) == []
    assert np.isnan(repeated_frame_share({"ear_left": moving["ear_left"], "ear_right": moving["ear_right"]}, measurable))


def test_a_real_clip_with_every_picture_repeated_is_warned_about(tmp_path, model_info, real_video, real_trace):
    """`lp_d3` copied with each picture shown three times at its own frame rate (a slowed copy,
    H.264 as an editor writes it), measured with the real model: the analysis warns that frames
    repeat; the clip itself draws no such warning. Before analysis-26 the slowed copy of a healthy
    person was graded without a word, its closures three times as long."""
    import av

    from spasmcv.analysis.analyze import analyze_trace
    from spasmcv.measure.extract import extract_trace

    source = real_video("liveportrait/d3.mp4")
    copy = tmp_path / "slowed.mp4"
    with av.open(str(source)) as reader, av.open(str(copy), "w") as writer:
        video = reader.streams.video[0]
        stream = writer.add_stream("libx264", rate=int(round(video.average_rate)))
        stream.width, stream.height, stream.pix_fmt = video.width, video.height, "yuv420p"
        stream.options = {"crf": "18"}
        for frame in reader.decode(video=0):
            picture = frame.to_ndarray(format="rgb24")
            for _ in range(3):
                for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                    writer.mux(packet)
        for packet in stream.encode():
            writer.mux(packet)
    slowed = analyze_trace(extract_trace(copy, model=model_info)).recording["warnings"]
    assert any("of the frames repeat the one before" in w for w in slowed), slowed
    original = analyze_trace(real_trace("liveportrait/d3.mp4")).recording["warnings"]
    assert not any("repeat the one before" in w for w in original), original
