"""The review video: it decodes, keeps every frame and timestamp, and its labels match the detections."""

from __future__ import annotations

import numpy as np
import pytest

from spasmcv.clinic.annotate import IDLE_RGB, KIND_RGB, annotate_video, draw_overlay, swatch_box
from spasmcv.analysis.events import EyeEvent, event_mask
from test_compare import SAMPLES, visit_series


def _chroma(rgb: np.ndarray, box) -> float:
    x0, y0, x1, y1 = box
    patch = rgb[y0 + 3:y1 - 2, x0 + 3:x1 - 2].reshape(-1, 3).astype(float)
    mean = patch.mean(axis=0)
    return float(mean.max() - mean.min())


def test_overlay_swatch_only_inside_events():
    frame = np.full((480, 640, 3), 128, dtype=np.uint8)
    spasm = EyeEvent(eye="left", onset_s=1.0, apex_s=1.5, offset_s=2.5, peak_closure=1.0, closed_s=1.2,
                     kind="spasm", complete=True, truncated=False)
    events = {"left": [spasm], "right": []}
    for t, inside in ((0.99, False), (1.0, True), (2.0, True), (2.5, True), (2.51, False)):
        out = draw_overlay(frame, time_s=t, frame_index=0, landmarks_px=None, closure={"left": 0.9, "right": 0.0},
                           events=events)
        x0, y0, x1, y1 = swatch_box("left", 640, 480)
        colour = tuple(out[(y0 + y1) // 2, (x0 + x1) // 2])
        assert colour == (KIND_RGB["spasm"] if inside else IDLE_RGB), t
        x0, y0, x1, y1 = swatch_box("right", 640, 480)
        assert tuple(out[(y0 + y1) // 2, (x0 + x1) // 2]) == IDLE_RGB


def test_review_video_matches_detections(model_info, tmp_path):
    import av

    from spasmcv.measure.video import iter_frames

    video = SAMPLES / "visit1_baseline.mp4"
    trace = visit_series(str(model_info.path))["baseline"]
    result = annotate_video(video, tmp_path / "review.mp4", model=model_info, trace=trace)
    assert result.path.is_file() and not list(tmp_path.glob(".*"))  # no temporary file left
    with av.open(str(result.path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert container.metadata.get("comment") == "spasmcv review video"   # may be replaced without --force
    frames = list(iter_frames(result.path))
    source_times = np.array([f.time_s for f in iter_frames(video)])
    times = np.array([f.time_s for f in frames])
    assert len(frames) == len(source_times) == result.frames
    np.testing.assert_allclose(times, source_times, atol=1e-3)
    width, height = frames[0].rgb.shape[1], frames[0].rgb.shape[0]
    for side in ("left", "right"):
        expected = event_mask(result.analysis.signal.time_s, result.analysis.events.per_eye[side])
        assert expected.any() and not expected.all()
        chroma = np.array([_chroma(f.rgb, swatch_box(side, width, height)) for f in frames])
        drawn = chroma > 60
        assert np.array_equal(drawn, expected), np.flatnonzero(drawn != expected)


def test_annotate_command_missing_video(tmp_path, capsys):
    from spasmcv.cli import main

    assert main(["annotate", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "r.mp4")]) == 3
    assert "none.mp4" in capsys.readouterr().err
    assert not (tmp_path / "r.mp4").exists()


@pytest.mark.parametrize("side", ["left", "right"])
def test_swatches_do_not_overlap(side):
    a, b = swatch_box("left", 641, 481), swatch_box("right", 641, 481)
    assert a[0] > b[2] or b[0] > a[2]


def test_one_model_pass_draws_what_a_given_trace_draws(model_info, real_video, tmp_path):
    """Without a trace the lid contours are kept from the extraction pass (the model runs once);
    the review video must be the one drawn with a given trace and the landmarks measured again."""
    from spasmcv.measure.extract import extract_trace
    from spasmcv.measure.video import iter_frames

    video = real_video("pyfeat/single_face.mp4")
    once = annotate_video(video, tmp_path / "once.mp4", model=model_info)
    again = annotate_video(video, tmp_path / "again.mp4", model=model_info,
                           trace=extract_trace(video, model=model_info))
    first, second = list(iter_frames(once.path)), list(iter_frames(again.path))
    assert len(first) == len(second) == once.frames > 0
    source = next(iter_frames(video)).rgb
    assert np.abs(first[0].rgb.astype(int) - source.astype(int)).max() > 100  # an overlay was drawn
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.rgb, b.rgb)


def test_the_review_video_of_a_turned_video_shows_it_upright(model_info, real_video, tmp_path):
    """Talking Face stored upside down without a rotation tag is measured turned upright, and its
    review video shows the picture the model measured, with the contours where the eyes are."""
    from spasmcv.measure.extract import extract_trace
    from spasmcv.measure.video import iter_frames
    from video_helpers import write_turned_copy

    source = real_video("talkingface/franck.webm")
    stored = tmp_path / "upside_down.mp4"
    write_turned_copy(source, stored, 2, frames=60)
    once = annotate_video(stored, tmp_path / "once.mp4", model=model_info)
    again = annotate_video(stored, tmp_path / "again.mp4", model=model_info,
                           trace=extract_trace(stored, model=model_info))
    upright = next(iter_frames(source)).rgb.astype(int)
    for review in (once, again):
        first = next(iter_frames(review.path)).rgb.astype(int)
        assert first.shape == upright.shape
        # upright like the source, but for the overlay (the upside-down picture differs everywhere)
        assert np.median(np.abs(first - upright)) < 4
        assert np.median(np.abs(first - upright[::-1, ::-1])) > 4 * np.median(np.abs(first - upright)) + 4
