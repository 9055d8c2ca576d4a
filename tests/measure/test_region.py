"""The face region: a face too small for the model in the whole picture is found in tiles."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from spasmcv.measure.region import (FaceRegion, face_places, pixel_box, pixel_change, region_from_boxes, sample_frames,
                                    sample_frames_among, search_face_region, tile_windows)
from spasmcv.measure.video import Frame
from tests.conftest import REPO


def test_tiles_cover_the_whole_picture_and_overlap_by_half():
    for width, height in ((1920, 1080), (1662, 1080), (1080, 1920), (641, 361)):
        covered = np.zeros((height, width), bool)
        tiles = tile_windows(width, height)
        for x, y, side in tiles:
            assert side == int(min(width, height) * 0.5) and x + side <= width and y + side <= height
            covered[y:y + side, x:x + side] = True
        assert covered.all()
        xs = sorted({x for x, _, _ in tiles})
        assert xs[0] == 0 and xs[-1] == width - tiles[0][2] and max(np.diff(xs)) <= tiles[0][2] // 2


def test_the_region_is_the_faces_union_widened_by_a_face_within_the_picture():
    region = region_from_boxes(np.array([[1000, 300, 1100, 420], [1040, 320, 1150, 440]]), 1920, 1080)
    assert region == FaceRegion(1000 - 120, 300 - 120, 1150 + 120, 440 + 120)
    assert region_from_boxes(np.array([[10, 950, 110, 1070]]), 1920, 1080) == FaceRegion(0, 830, 230, 1080)


def _square_finder(min_fraction=0.2):
    """Stands in for the detector's limit in these unit tests of the search's logic: "finds" the
    white square of a picture only when it is at least ``min_fraction`` of the picture's shorter
    side (the real model on a real face is tested below)."""

    def find(rgb):
        count, _, stats, _ = cv2.connectedComponentsWithStats((rgb[..., 0] > 200).astype(np.uint8))
        boxes = [[x, y, x + w, y + h] for x, y, w, h, _ in stats[1:count]
                 if max(w, h) >= min_fraction * min(rgb.shape[:2])]
        return np.array(boxes, dtype=float).reshape(-1, 4)

    return find


def _picture(x, y, side=120, shape=(1080, 1920)):
    rgb = np.full((*shape, 3), 60, np.uint8)
    if side:
        rgb[y:y + side, x:x + side] = 255
    return rgb


def test_a_small_face_seen_only_in_tiles_gives_its_region_in_display_pixels():
    frames = [_picture(1500 + 10 * k, 700) for k in range(8)]
    region = search_face_region(frames, _square_finder())
    assert region == region_from_boxes(np.array([[1500, 700, 1620, 820], [1570, 700, 1690, 820]]), 1920, 1080)
    # frames downscaled for the model (0.5 model pixels per display pixel): the region is in display pixels
    half = [cv2.resize(f, (960, 540), interpolation=cv2.INTER_NEAREST) for f in frames]
    assert search_face_region(half, _square_finder(), scale=0.5) == region


def test_no_region_when_the_whole_picture_shows_a_face_or_tiles_find_one_only_once():
    large = [_picture(500, 300, side=400)] + [_picture(0, 0, side=0)] * 7   # a large face enters later
    assert search_face_region(large, _square_finder()) is None
    once = [_picture(1500, 700)] + [_picture(0, 0, side=0)] * 7            # a one-off find
    assert search_face_region(once, _square_finder()) is None
    assert search_face_region([], _square_finder()) is None


def test_sample_frames_spread_over_the_video_from_its_first_frame():
    video = [Frame(index=i, time_s=i / 25, rgb=np.zeros((2, 2, 3), np.uint8), scale=1.0) for i in range(400)]
    assert [f.index for f in sample_frames(iter(video), 16, 400)] == list(range(0, 391, 26))
    assert [f.index for f in sample_frames(iter(video[:10]), 16, 10)] == list(range(10))
    assert [f.index for f in sample_frames(iter(video), 4, None)] == [0, 1, 2, 3]   # length unknown


def _small_face_video(source, target, *, size=208, at=(1560, 780), max_frames=None, large_first=0, still_at=None):
    """A real face video shrunk and pasted into a 1920x1080 grey picture (a face of about 100 px);
    its first ``large_first`` frames large instead (a title), and with a still of its first frame,
    as small, at ``still_at`` (a picture of the face on a page) after them; ``at=None``: only the
    still after the title (the subject has left)."""
    capture = cv2.VideoCapture(str(source))
    still = None
    with av.open(str(target), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.options = {"crf": "18"}
        written = 0
        while max_frames is None or written < max_frames:
            ok, bgr = capture.read()
            if not ok:
                break
            written += 1
            canvas = np.full((1080, 1920, 3), 110, np.uint8)
            small = cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA)
            still = small if still is None else still
            if written <= large_first:
                canvas[90:990, 510:1410] = cv2.resize(bgr, (900, 900), interpolation=cv2.INTER_AREA)
            else:
                if at is not None:
                    canvas[at[1]:at[1] + size, at[0]:at[0] + size] = small
                if still_at is not None:
                    canvas[still_at[1]:still_at[1] + size, still_at[0]:still_at[0] + size] = still
            for packet in stream.encode(av.VideoFrame.from_ndarray(cv2.cvtColor(canvas, cv2.COLOR_BGR2RGB),
                                                                   format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    capture.release()


def test_a_real_face_small_in_a_large_picture_is_found_and_its_blinks_measured(tmp_path, real_video, model_info):
    """LivePortrait d12 (512x512, three labelled blinks) shrunk to 208 px in a 1920x1080 picture:
    the model finds no face in the whole picture; with the tile search every frame is measured,
    in full-picture pixels, and the three blinks are found as labelled."""
    from spasmcv.analysis.analyze import analyze_trace
    from spasmcv.analysis.evaluation import read_labels, real_clip_scores, reported_closures
    from spasmcv.measure.extract import MeasureSettings, extract_trace
    from spasmcv.measure.landmarks import TrackerSettings

    video = tmp_path / "small_face.mp4"
    _small_face_video(real_video("liveportrait/d12.mp4"), video)
    unaided = extract_trace(video, model=model_info,
                            settings=MeasureSettings(tracker=TrackerSettings(find_small_faces=False)))
    assert not unaided["face_detected"].any() and "face_region" not in unaided.metadata
    counted = []
    trace = extract_trace(video, model=model_info, progress=counted.append)
    assert sum(counted) == len(trace["time_s"]) == 183          # the probe's frames are not counted twice
    region = trace.metadata["face_region"]
    assert region["x0"] <= 1560 and region["y0"] <= 780 and region["x1"] >= 1768 and region["y1"] >= 988
    assert any("search of the frame in tiles" in w for w in trace.metadata["warnings"])
    assert trace["face_detected"].mean() > 0.95 and trace["valid"].mean() > 0.9
    x = trace["face_x_px"][trace["valid"].astype(bool)]
    assert 1560 < np.median(x) < 1768                              # landmarks in the full picture
    labels = read_labels(REPO / "labels" / "lp_d12.csv")
    analysis = analyze_trace(trace, task="conversation")
    scores = real_clip_scores(reported_closures(analysis.events, trace["time_s"]), labels, fps=25.0)
    assert scores["tp"] == 3 and scores["fp"] == 0


def test_a_video_shorter_than_the_probe_is_searched_too(tmp_path, real_video, model_info):
    """40 frames (1.6 s), fewer than the 64 the search waits for: the whole video shows no face, so
    it is searched at its end, and every frame is measured."""
    from spasmcv.measure.extract import PROBE_FRAMES, extract_trace

    video = tmp_path / "short_small_face.mp4"
    _small_face_video(real_video("liveportrait/d12.mp4"), video, max_frames=40)
    counted = []
    trace = extract_trace(video, model=model_info, progress=counted.append)
    assert len(trace["time_s"]) == sum(counted) == 40 < PROBE_FRAMES
    assert "face_region" in trace.metadata and trace["face_detected"].mean() > 0.95


def test_a_face_large_at_first_then_small_beside_a_still_one_is_found_in_the_frames_without_a_face(
        tmp_path, real_video, model_info):
    """A title with the face large (frames 0-59), then the same face small, with a still picture of
    it elsewhere in the frame (vid2md's screen recording): the whole picture shows a face only in
    the title, so the frames without one are searched in tiles; the moving face, not the still,
    gives the region, and the blinks after the title are found."""
    from spasmcv.analysis.analyze import analyze_trace
    from spasmcv.analysis.evaluation import LabelSet, read_labels, real_clip_scores, reported_closures
    from spasmcv.measure.extract import extract_trace

    video = tmp_path / "title_then_small_face.mp4"
    _small_face_video(real_video("liveportrait/d12.mp4"), video, large_first=60, still_at=(300, 300))
    counted, passes = [], []
    trace = extract_trace(video, model=model_info, progress=counted.append, on_pass=passes.append)
    assert passes == [len(trace["time_s"])] and len(trace["time_s"]) == 183   # the second pass is announced
    assert sum(counted) == 2 * 183                                             # and its frames reported
    assert trace.metadata["subject_reacquisitions"] == 1            # the title's face, then the small one
    # a review video made from the trace alone measures the landmarks again: in the same frames,
    # the title's large face included
    from spasmcv.clinic.annotate import Retracker
    from spasmcv.measure.landmarks import TrackerSettings
    from spasmcv.measure.video import iter_frames
    with Retracker(model_info, TrackerSettings(), trace.metadata, (1920, 1080)) as again:
        found = [again(frame) is not None for frame in iter_frames(video, max_side_px=TrackerSettings().max_side_px)]
    assert found == trace["face_detected"].astype(bool).tolist() and all(found[:60])
    region = trace.metadata["face_region"]
    assert region["found_in"] == "the frames without a face"
    assert 1000 < region["x0"] <= 1560 and region["y0"] <= 780 and region["x1"] >= 1768 and region["y1"] >= 988
    assert any("in most frames" in w for w in trace.metadata["warnings"])
    assert trace["face_detected"][60:].mean() > 0.95
    labels = read_labels(REPO / "labels" / "lp_d12.csv")
    after_title = LabelSet(labels.clip, tuple(c for c in labels.closures if c.start_frame > 60), ((0, 60),))
    analysis = analyze_trace(trace, task="conversation")
    scores = real_clip_scores(reported_closures(analysis.events, trace["time_s"]), after_title, fps=25.0)
    assert scores["tp"] == 2 and scores["fp"] == 0


def test_a_still_picture_alone_after_the_title_is_not_measured(tmp_path, real_video, model_info):
    """The title shows the face large, then only a still picture of it stays (the subject has
    left): the frames without a face are searched, the tiles find only the still, and it is not
    taken for the subject; those frames stay without a face and the trace says so."""
    from spasmcv.measure.extract import extract_trace

    video = tmp_path / "title_then_still.mp4"
    _small_face_video(real_video("liveportrait/d12.mp4"), video, at=None, large_first=60, still_at=(1560, 780))
    trace = extract_trace(video, model=model_info)
    assert "face_region" not in trace.metadata
    assert trace["face_detected"][:60].all() and not trace["face_detected"][60:].any()
    assert any("measurable in only" in w for w in trace.metadata["warnings"])


def test_the_subject_is_the_face_seen_most_often_and_moving_not_a_still_picture():
    moving = [_picture(1500 + 10 * k, 700) for k in range(8)]
    for k, rgb in enumerate(moving):
        rgb[200:320, 300:420] = 255 if k % 4 else 60    # a still face, seen in 6 of the 8 frames
    region = search_face_region(moving, _square_finder())
    assert region == region_from_boxes(np.array([[1500, 700, 1620, 820], [1570, 700, 1690, 820]]), 1920, 1080)
    still_everywhere = [_picture(1500 + 10 * k, 700) for k in range(8)]
    for rgb in still_everywhere:
        rgb[200:320, 300:420] = 255
    assert search_face_region(still_everywhere, _square_finder()) == region   # as often seen: the one that moves
    # a still face seen in every frame, beside a face that sits still but is alive (camera noise)
    rng = np.random.default_rng(0)
    alive = [_picture(1500, 700) for _ in range(8)]
    for rgb in alive:
        rgb[700:820, 1500:1620] = 200 + rng.integers(0, 50, (120, 120, 3), dtype=np.uint8)
        rgb[200:320, 300:420] = 255
    assert search_face_region(alive, _square_finder()) == region_from_boxes(np.array([[1500, 700, 1620, 820]]),
                                                                             1920, 1080)
    places = face_places(np.array([[0, 0, 100, 100], [50, 0, 150, 100], [140, 0, 240, 100], [600, 0, 700, 100]]))
    assert places[0] == places[1] == places[2] != places[3]


def test_a_still_picture_of_a_face_alone_gives_no_region():
    """A picture of a face on the wall or a paused screen, the only face the tiles find (the subject
    has left): tracking it would read open eyes in every frame, so the frames stay without a face."""
    still = [_picture(1500, 700) for _ in range(8)]
    assert search_face_region(still, _square_finder()) is None
    frames = [_picture(1500, 700), _picture(1500, 700), _picture(1510, 700)]
    boxes = np.array([[1500, 700, 1620, 820], [1500, 700, 1620, 820], [1510, 700, 1630, 820]], dtype=float)
    assert pixel_change(frames, boxes, np.array([0, 1, 2])) == pytest.approx((0 + 195 * 2 * 10 / 130) / 2)
    assert pixel_change(frames, boxes[:1], np.array([0])) == float("inf")   # seen once: nothing to compare
    off = np.array([[2000, 700, 2100, 800], [2000, 700, 2100, 800]], dtype=float)
    assert pixel_change(frames, off, np.array([0, 1])) == float("inf")     # off the picture: nothing to compare


def test_a_box_covers_the_whole_pixels_it_touches_within_the_picture():
    """One rule for every crop of a box (the face region, a place's pixel change, the eye region's
    grey spread): edges rounded outward, clipped to the picture, None when it lies wholly off it."""
    assert pixel_box(10.2, 20.7, 30.1, 40.0, 640, 480) == (10, 20, 31, 40)
    assert pixel_box(-5.0, -3.0, 700.0, 500.0, 640, 480) == (0, 0, 640, 480)
    assert pixel_box(700.0, 100.0, 800.0, 200.0, 640, 480) is None           # to the right
    assert pixel_box(700.0, 500.0, 800.0, 600.0, 640, 480) is None           # to the right and below
    assert pixel_box(100.0, -50.0, 200.0, -1.0, 640, 480) is None            # above


def test_sample_frames_among_given_frames():
    video = [Frame(index=i, time_s=i / 25, rgb=np.zeros((2, 2, 3), np.uint8), scale=1.0) for i in range(400)]
    assert [f.index for f in sample_frames_among(iter(video), np.arange(100, 400), 4)] == [100, 200, 299, 399]
    assert [f.index for f in sample_frames_among(iter(video), [5, 7], 16)] == [5, 7]
    assert sample_frames_among(iter(video), [], 16) == []


@pytest.mark.parametrize("name", ["pyfeat/noface_face.mov"])
def test_a_face_that_enters_later_needs_no_region(real_video, model_info, name):
    """No face in the first frames starts the search, but the whole picture shows the face later:
    no region, the same trace as without the search."""
    from spasmcv.measure.extract import MeasureSettings, extract_trace
    from spasmcv.measure.landmarks import TrackerSettings

    trace = extract_trace(real_video(name), model=model_info)
    plain = extract_trace(real_video(name), model=model_info,
                          settings=MeasureSettings(tracker=TrackerSettings(find_small_faces=False)))
    assert "face_region" not in trace.metadata and trace["face_detected"].any()
    np.testing.assert_array_equal(trace["face_detected"], plain["face_detected"])
    np.testing.assert_allclose(trace["ear_left"], plain["ear_left"], equal_nan=True)
