"""Analysis end to end: the real model on sample videos and Talking Face, the CLI, outputs."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from spasmcv.analysis.analyze import analyze_trace, write_analysis
from spasmcv.analysis.evaluation import compare_events, frame_spans, read_ground_truth, read_tag_file, split_by_peak
from spasmcv.analysis.events import closures
from spasmcv.measure.extract import extract_trace
from spasmcv.measure.trace import Trace, read_trace
from helpers import profile, trace_columns, T
from conftest import REPO

SAMPLES = REPO / "sample_videos"


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "spasmcv", *map(str, args)], capture_output=True, text=True,
                          timeout=600)


def synthetic_trace():
    closure = sum(profile(T, t0, 0.08, 0.03, 0.15) for t0 in (2, 7, 12, 19, 25, 41, 50)) + profile(T, 30, 0.1, 4, 0.2)
    return Trace(columns=trace_columns(closure), metadata={"recording_id": "r1", "warnings": []})


def test_analysis_outputs_are_complete_and_json_safe(tmp_path):
    analysis = analyze_trace(synthetic_trace(), task="rest")
    rec = analysis.recording
    assert rec["severity"]["jankovic_frequency_grade"] == 3  # one 4.3 s spasm per minute
    assert rec["provenance"]["severity_formula_version"] == rec["severity"]["formula_version"]
    assert rec["normal_ranges"]["blink_rate_per_min"] == (8.0, 21.0)
    assert 0.02 <= rec["closure_levels"]["closed_ratio"]["left"] <= 0.35  # learned from the recording
    paths = write_analysis(analysis, tmp_path / "visit1")
    data = json.loads(paths["recording"].read_text())  # strict JSON: NaN became null
    assert data["recording_id"] == "r1"
    rows = list(csv.DictReader(paths["events"].open()))
    assert [r["kind"] for r in rows].count("spasm") == 2  # one per eye
    assert all(float(r["lower_lid_rise"]) > 0.1 for r in rows)  # the array lids rise 0.15 at full closure
    assert all(r["bilateral"] == "True" for r in rows)
    minutes = list(csv.DictReader(paths["minutes"].open()))
    assert {r["eye"] for r in minutes} == {"left", "right"} and len(minutes) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["visit1.analysis.json", "visit1.events.csv", "visit1.minutes.csv"]


def test_a_trace_without_lid_positions_is_analysed_with_a_warning():
    """Traces from signals eyelid-1 have no lid columns: the glance test cannot run, and says so."""
    current = synthetic_trace()
    old = Trace(columns={k: v for k, v in current.columns.items() if not k.startswith("lower_lid")},
                metadata={**current.metadata, "signals_version": "eyelid-1"})
    warning = [w for w in analyze_trace(old).recording["warnings"] if "lid positions" in w]
    assert len(warning) == 1 and "eyelid-1" in warning[0]
    assert not [w for w in analyze_trace(current).recording["warnings"] if "lid positions" in w]
    def detections(trace):
        return [{k: v for k, v in row.items() if k != "lower_lid_rise"} for row in analyze_trace(trace).events.summary()]

    assert detections(old) == detections(current)


def test_a_trace_with_euler_head_angles_is_analysed_with_a_warning():
    """Traces before eyelid-3 hold Euler head angles: the gate reads them, and says so."""
    current = synthetic_trace()
    old = Trace(columns=current.columns, metadata={**current.metadata, "signals_version": "eyelid-2"})
    warning = [w for w in analyze_trace(old).recording["warnings"] if "Euler angles" in w]
    assert len(warning) == 1 and "eyelid-2" in warning[0]
    assert not [w for w in analyze_trace(current).recording["warnings"] if "Euler angles" in w]
    assert analyze_trace(old).events.summary() == analyze_trace(current).events.summary()


def test_the_summary_does_not_list_a_turned_head_read_on_its_near_eye_as_unmeasured():
    from spasmcv.analysis.summary import format_summary

    trace = synthetic_trace()
    n = len(trace.columns["time_s"])
    yaw = np.zeros(n)
    yaw[n // 4: n // 2] = 45.0  # near eye only (iris large enough)
    yaw[n // 2: n // 2 + n // 10] = 70.0  # neither eye
    columns = {**trace.columns, "head_yaw_deg": yaw, "iris_reference_px": np.full(n, 20.0)}
    lines = format_summary(analyze_trace(Trace(columns=columns, metadata=trace.metadata))).splitlines()
    assert [line for line in lines if line.startswith("not measured:")] == ["not measured: head turned or pitched away 10 %"]
    assert [line for line in lines if line.startswith("one eye measured:")] == [
        "one eye measured: head turned: only the eye nearer the camera measured 25 %"]


def test_the_summary_gives_the_thresholds_in_use_and_names_changed_settings():
    """With the spasm and prolonged durations changed, the summary's rows and the review warning
    give those durations and a line names the changed settings; with the defaults, none."""
    from spasmcv.analysis.summary import format_summary
    from spasmcv.settings import Settings, with_overrides

    settings = with_overrides(Settings(), ["analysis.events.spasm_s=2.0", "analysis.events.prolonged_s=0.7"]).analysis
    lines = format_summary(analyze_trace(synthetic_trace(), settings=settings)).splitlines()
    assert "settings changed from the defaults: analysis.events.prolonged_s=0.7; analysis.events.spasm_s=2.0" in lines
    assert any(line.startswith("prolonged closures 0.7-2 s ") for line in lines)
    assert any(line.startswith("spasms 2 s or longer ") for line in lines)
    lines = format_summary(analyze_trace(synthetic_trace())).splitlines()
    assert not any(line.startswith("settings changed") for line in lines)
    assert any(line.startswith("prolonged closures 0.5-1 s ") for line in lines)
    assert any(line.startswith("spasms 1 s or longer ") for line in lines)


def test_task_selects_normal_ranges_and_rejects_unknown():
    assert analyze_trace(synthetic_trace(), task="reading").recording["normal_ranges"]["blink_rate_per_min"][1] < 10
    with pytest.raises(ValueError, match="task"):
        analyze_trace(synthetic_trace(), task="sleeping")


@pytest.fixture(scope="module")
def sample_traces(model_info):
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = extract_trace(SAMPLES / f"{name}.mp4", model=model_info)
        return cache[name]

    return get


def labels_convention(event: dict):
    """A synthetic ground-truth event in the real labels' convention: from the lid's first
    movement to the lid back at 90 % of its opening (raised-cosine reopening: 79.5 % of it)."""
    from spasmcv.analysis.evaluation import ReferenceEvent

    end = event["onset_s"] + event["closing_s"] + event["hold_s"] + 0.795 * event["reopening_s"]
    return ReferenceEvent(eye=event["eye"], onset_s=event["onset_s"], offset_s=end, kind=event["kind"])


SAMPLE_CLIPS = ("healthy_control", "bsp_grade1", "bsp_grade2", "bsp_grade3_720p", "bsp_grade4", "hfs_left",
                "hfs_right_60fps", "visit1_baseline", "visit2_week3", "visit3_week12")


#: PERCLOS (closure >= 0.8) reads 2.1 and 2.3 points low on these two flutter-rich clips: the
#: measurement trails a moving lid a little near closed, as it does on real lids (docs/lid-reading.md).
PERCLOS_TOLERANCE = {"bsp_grade2": 0.03, "hfs_left": 0.03}


@pytest.mark.parametrize("name", SAMPLE_CLIPS)
def test_sample_video_detection_matches_ground_truth(name, sample_traces):
    """Through the real landmarker: F1, timing (the labels' convention), time closed, PERCLOS and grade."""
    gt = read_ground_truth(SAMPLES / f"{name}.json")
    fps = gt["video"]["fps"]
    analysis = analyze_trace(sample_traces(name))
    rec = analysis.recording
    for side in ("left", "right"):
        pairs = [(labels_convention(e), peak) for e, peak in zip(gt["events"], gt["reference_peaks"])
                 if e["eye"] in (side, "both")]
        required, optional = split_by_peak([r for r, _ in pairs], [p for _, p in pairs])
        c = compare_events(closures(analysis.events.per_eye[side]), required, tolerance_s=0.1, optional=optional)
        print(f"{name} {side}: F1 {c.f1:.3f}, onset {np.median(c.onset_errors_s) * fps:+.2f} f, "
              f"offset {np.median(c.offset_errors_s) * fps:+.2f} f")
        assert c.f1 >= 0.97
        assert abs(np.median(c.onset_errors_s)) <= 1 / fps
        assert abs(np.median(c.offset_errors_s)) <= 1 / fps
        assert abs(rec["metrics"][side]["share_closed"] - gt["summary"]["share_closed_50"][side]) <= 0.02
        assert abs(rec["metrics"][side]["perclos"] - gt["summary"]["share_closed_80"][side]) <= PERCLOS_TOLERANCE.get(name, 0.02)
        assert rec["metrics"][side]["spasm_count"] == gt["summary"]["events_per_eye"][side]["spasm"]
        assert abs(rec["metrics"][side]["longest_closure_s"] - gt["summary"]["longest_closure_s"][side]) <= 0.15
        assert rec["severity"][side]["jankovic_frequency_grade"] == gt["jankovic_frequency_grade_per_eye"][side]
    if name == "hfs_left":  # one-sided events on the affected side only
        assert rec["metrics"]["unilateral_left_count"] >= 10 and rec["metrics"]["unilateral_right_count"] == 0
    if name == "hfs_right_60fps":
        assert rec["metrics"]["unilateral_right_count"] >= 8 and rec["metrics"]["unilateral_left_count"] == 0


@pytest.mark.parametrize("name", SAMPLE_CLIPS)
def test_sample_video_grades_time_closed_and_sides(name, sample_traces):
    """Every sample clip: the grade per eye, time closed within 2 percentage points, one-sided
    events on the right side."""
    gt = read_ground_truth(SAMPLES / f"{name}.json")
    rec = analyze_trace(sample_traces(name)).recording
    for side in ("left", "right"):
        assert rec["severity"][side]["jankovic_frequency_grade"] == gt["jankovic_frequency_grade_per_eye"][side]
        assert abs(rec["metrics"][side]["share_closed"] - gt["summary"]["share_closed_50"][side]) <= 0.02
    if name == "hfs_left":
        assert rec["metrics"]["unilateral_left_count"] >= 10 and rec["metrics"]["unilateral_right_count"] == 0
    if name == "hfs_right_60fps":
        assert rec["metrics"]["unilateral_right_count"] >= 8 and rec["metrics"]["unilateral_left_count"] == 0


def test_gaze_down_is_flagged_not_counted(sample_traces):
    gt = read_ground_truth(SAMPLES / "visit2_week3.json")
    analysis = analyze_trace(sample_traces("visit2_week3"))
    (gaze,) = gt["gaze_down_intervals"]
    for side in ("left", "right"):
        inside = [e for e in analysis.events.per_eye[side]
                  if e.onset_s < gaze["offset_s"] and e.offset_s > gaze["onset_s"] and e.kind == "spasm"]
        assert inside == []


@pytest.fixture(scope="module")
def franck(real_video, model_info):
    trace = extract_trace(real_video("talkingface/franck.webm"), model=model_info, max_frames=300)
    return analyze_trace(trace), read_tag_file(real_video("talkingface/talkingface_first300.tag"), fps=25)


def test_intensity_indicators_are_the_change_from_open_to_closed_frames():
    """Arrays: medians over closed frames (closure >= 0.5) minus medians over open ones (< 0.1);
    brow lowering is the fall of the brow-to-eye distance; the mouth corner the largest of three
    blendshapes' rises; an eye never closed has none (NaN)."""
    from spasmcv.analysis.severity import intensity_indicators

    closure = np.array([0.0, 0.05, 0.9, 1.0, 0.3, 0.0])
    columns = {"bs_eyeSquint_left": np.array([0.1, 0.1, 0.6, 0.6, 0.3, 0.1]),
               "brow_eye_mm_left": np.array([20.0, 20.0, 17.0, 17.0, 19.0, 20.0]),
               "bs_mouthSmile_left": np.array([0.0, 0.0, 0.1, 0.1, 0.0, 0.0]),
               "bs_mouthStretch_left": np.array([0.0, 0.0, 0.3, 0.3, 0.0, 0.0]),
               "bs_mouthPress_left": np.zeros(6)}
    out = intensity_indicators(columns, {"left": closure, "right": np.zeros(6)})
    assert out["left"] == pytest.approx({"squint": 0.5, "brow_lowering_mm": 3.0, "mouth_corner": 0.3})
    assert all(np.isnan(v) for v in out["right"].values())


def test_intensity_indicators_follow_the_rendered_squeeze_on_the_affected_side(sample_traces):
    """Rendered hemifacial spasm of the left eye, whose closures lower the brow and pull the mouth
    corner on that side only: the affected eye reads more of both (the only ground truth there is
    for forcefulness; docs/severity.md)."""
    intensity = analyze_trace(sample_traces("hfs_left")).recording["intensity"]
    left, right = intensity["left"], intensity["right"]
    assert set(left) == {"squint", "brow_lowering_mm", "mouth_corner"}   # no cheek_raise (analysis-25)
    assert left["brow_lowering_mm"] > right["brow_lowering_mm"] + 1.0
    assert left["mouth_corner"] > right["mouth_corner"] + 0.04


def test_mediapipe_cheek_squint_stays_near_zero_on_real_faces(real_trace):
    """Why cheek_raise is not reported: on 200 s of a real face, blinks included, MediaPipe's
    cheekSquint never leaves 0 (under 2e-4 on every frame); should a model make it respond, this
    fails and the indicator can come back."""
    trace = real_trace("talkingface/franck.webm")
    for side in ("left", "right"):
        values = np.asarray(trace.columns[f"bs_cheekSquint_{side}"], dtype=float)
        assert np.isfinite(values).sum() > 4000 and np.nanmax(values) < 2e-4


def test_talking_face_first_blink_is_timed_within_a_frame(franck):
    """Compared as labelled: the frames the detected movement spans against the labelled frames."""
    analysis, reference = franck
    first = reference[0]
    for side in ("left", "right"):
        blinks = [e for e in closures(analysis.events.per_eye[side]) if e.onset_s < 7.2]
        assert len(blinks) == 1, blinks  # the smile at frames 30-80 narrows the eyes: not a blink
        (span,) = frame_spans(blinks, analysis.signal.time_s, fps=25)
        assert abs(span.onset_frame - first.onset_frame) <= 1
        assert abs(span.offset_frame - first.offset_frame) <= 1


@pytest.mark.xfail(strict=True, reason="known limitation: from the landmarks alone, the lowered lids of the "
                   "downward gaze in frames 233-273 read as closed as blinks 2 and 3, so the three "
                   "merge into one long closure, listed as 'review', not counted (docs/analysis.md)")
def test_talking_face_three_blinks_and_no_spasm(franck):
    analysis, reference = franck
    for side in ("left", "right"):
        found = closures(analysis.events.per_eye[side])
        assert [e.kind for e in found] == ["blink"] * 3
        c = compare_events(frame_spans(found, analysis.signal.time_s, fps=25), reference, tolerance_s=0.1)
        assert c.f1 == 1.0
        assert np.all(np.abs(c.onset_errors_s * 25) <= 1.0 + 1e-9)
        assert np.all(np.abs(c.offset_errors_s * 25) <= 1.0 + 1e-9)


def test_cli_analyze_video_and_trace(tmp_path, model_info):
    video = SAMPLES / "hfs_right_60fps.mp4"
    result = run_cli("analyze", video, "-o", tmp_path / "hfs", "--save-trace", "--model", model_info.path)
    assert result.returncode == 0, result.stderr
    assert "Jankovic frequency grade (objective): 3" in result.stdout
    assert "right only:" in result.stdout
    trace = read_trace(tmp_path / "hfs.trace.csv")
    assert len(trace) == 1200
    again = run_cli("analyze", tmp_path / "hfs.trace.csv", "-o", tmp_path / "from_trace", "--quiet")
    assert again.returncode == 0, again.stderr
    first = json.loads((tmp_path / "hfs.analysis.json").read_text())
    second = json.loads((tmp_path / "from_trace.analysis.json").read_text())
    # the trace stores 7 significant digits, so results agree to that precision
    assert _flat(second["severity"]) == pytest.approx(_flat(first["severity"]), rel=1e-4)
    assert _flat(second["metrics"]) == pytest.approx(_flat(first["metrics"]), rel=1e-4, abs=1e-4)


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and v is not None:
            out[prefix + k] = v
    return out


def test_cli_analyze_bad_trace(tmp_path):
    bad = tmp_path / "x.trace.csv"
    bad.write_text('# format: "spasmcv-trace"\n# format_version: 7\n')
    result = run_cli("analyze", bad)
    assert result.returncode == 5 and "version 7" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("columns, message", [
    ({"time_s": np.zeros(0), "valid": np.zeros(0), "ear_left": np.zeros(0), "ear_right": np.zeros(0)}, "no frames"),
    ({"time_s": np.zeros(3), "valid": np.ones(3)}, "ear_left, ear_right"),
])
def test_unusable_traces_give_a_trace_error(columns, message):
    from spasmcv.errors import TraceError

    with pytest.raises(TraceError, match=message):
        analyze_trace(Trace(columns=columns, metadata={"recording_id": "r9"}))


def test_the_summary_gives_a_sliver_of_unmeasured_time_as_under_1_percent():
    """A reason that kept one frame in 1000 from being measured reads "under 1 %", not "0 %"."""
    from spasmcv.analysis.summary import format_summary

    trace = synthetic_trace()
    n = len(trace.columns["time_s"])
    yaw = np.zeros(n)
    yaw[n // 2] = 70.0
    lines = format_summary(analyze_trace(Trace(columns={**trace.columns, "head_yaw_deg": yaw},
                                               metadata=trace.metadata))).splitlines()
    assert [line for line in lines if line.startswith("not measured:")] == [
        "not measured: head turned or pitched away under 1 %"]
