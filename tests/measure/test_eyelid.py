"""Eyelid signals: pure tests on arrays, and the patient-side convention on a real wink."""

import numpy as np
import pytest

from spasmcv.measure.eyelid import (IRIS_DIAMETER_MM, PATIENT_EYES, blendshape_column, eye_aspect_ratio,
                            eye_landmarks, eye_region_grey_spread, eyelid_signals, frame_measures, head_pose_deg)
from spasmcv.measure.landmarks import BLENDSHAPE_NAMES, SubjectSelector, short_track_mask, split_tracks


def face(openness=1.0, scale=1.0, shift=(300.0, 200.0)):
    """A crude frontal face: both eyes 30 px wide, lids `openness` * 10 px apart, iris 12 px."""
    pts = np.zeros((478, 3))
    for side, cx in (("right", -32.0), ("left", 32.0)):  # patient's right eye on the image left
        eye = PATIENT_EYES[side]
        outer = cx - 15 if side == "right" else cx + 15
        inner = cx + 15 if side == "right" else cx - 15
        p1, p2, p3, p4, p5, p6 = eye.ear_points
        pts[p1] = (outer, 0, 0)
        pts[p4] = (inner, 0, 0)
        for upper, lower, x in ((p2, p6, (2 * outer + inner) / 3), (p3, p5, (outer + 2 * inner) / 3)):
            pts[upper] = (x, -5 * openness, 0)
            pts[lower] = (x, 5 * openness, 0)
        pts[eye.upper_lid_mid] = (cx, -5 * openness, 0)
        pts[eye.lower_lid_mid] = (cx, 5 * openness, 0)
        pts[eye.iris_center] = (cx, 1, 0)
        a, b = eye.iris_horizontal
        pts[a], pts[b] = (cx - 6, 0, 0), (cx + 6, 0, 0)
        for k, i in enumerate(eye.brow):
            pts[i] = (cx - 10 + 5 * k, -20, 0)
    pts[10] = (0, -60, 0)
    pts[152] = (0, 90, 0)
    pts[:, :2] = pts[:, :2] * scale + shift
    pts[:, 2] *= scale
    return pts


def measures_of(faces, **kw):
    n = len(faces)
    return frame_measures(np.stack(faces), np.zeros((n, 52)), np.tile(np.eye(4), (n, 1, 1)),
                          frame_size=(1000, 1000), **kw)


def test_eye_aspect_ratio_of_known_geometry():
    ear = eye_aspect_ratio(face(1.0)[None], PATIENT_EYES["left"])
    assert ear[0] == pytest.approx(10 / 30)
    assert eye_aspect_ratio(face(0.0)[None], PATIENT_EYES["left"])[0] == pytest.approx(0)


def test_signals_are_scale_invariant_except_pixels():
    small = eyelid_signals(measures_of([face(1.0), face(0.5)]))
    big = eyelid_signals(measures_of([face(1.0, scale=2), face(0.5, scale=2)]))
    for name in ("ear_left", "aperture_iris_right", "aperture_mm_left", "brow_eye_mm_right"):
        np.testing.assert_allclose(small[name], big[name])
    np.testing.assert_allclose(big["aperture_px_left"], 2 * small["aperture_px_left"])
    # 10 px lids over a 12 px iris of 11.7 mm
    assert small["aperture_mm_left"][0] == pytest.approx(10 / 12 * IRIS_DIAMETER_MM)
    assert small["iris_drop_left"][0] == pytest.approx(1 / 12)


def test_lid_positions_are_measured_from_the_canthal_line_along_the_face():
    """Upper lid above and lower lid below the line between the eye's corners, in iris diameters,
    along the forehead-to-chin axis: the same on a face tilted by 90 degrees."""
    upright = eyelid_signals(measures_of([face(1.0), face(0.4)]))
    np.testing.assert_allclose(upright["upper_lid_left"], [5 / 12, 2 / 12])
    np.testing.assert_allclose(upright["lower_lid_right"], [5 / 12, 2 / 12])
    lifted = face(1.0)
    lifted[PATIENT_EYES["left"].lower_lid_mid, 1] -= 3  # the lower lid rises 3 px (a quarter iris)
    assert eyelid_signals(measures_of([lifted]))["lower_lid_left"][0] == pytest.approx(2 / 12)
    turned = [f.copy() for f in (face(1.0), face(0.4))]
    for f in turned:  # rotate the whole face by 90 degrees in the image
        f[:, :2] = np.c_[-f[:, 1], f[:, 0]] + 500
    sideways = eyelid_signals(measures_of(turned))
    for name in ("upper_lid_left", "lower_lid_left", "upper_lid_right", "lower_lid_right", "iris_drop_left"):
        np.testing.assert_allclose(sideways[name], upright[name], atol=1e-9)


def test_iris_reference_ignores_iris_shrinking_in_closed_frames():
    closed = face(0.1)
    for side in ("left", "right"):  # the model's iris shrinks when the lids cover it
        a, b = PATIENT_EYES[side].iris_horizontal
        closed[[a, b], 0] = closed[[a, b], 0] * 0.8 + closed[[a, b], 0].mean() * 0.2
    signals = eyelid_signals(measures_of([face(1.0)] * 3 + [closed]))
    assert signals["iris_reference_px"] == pytest.approx(np.full(4, 12.0))
    assert signals["aperture_iris_left"][3] == pytest.approx(1 / 12)


def test_mirrored_swaps_sides():
    f = face(1.0)
    left = PATIENT_EYES["left"]
    for i in (left.upper_lid_mid, *left.ear_points[1:3]):
        f[i, 1] += 4  # the patient's left eye half closed
    for i in (left.lower_lid_mid, *left.ear_points[4:6]):
        f[i, 1] -= 4
    plain, mirrored = measures_of([f]), measures_of([f], mirrored=True)
    assert plain["ear_left"][0] < plain["ear_right"][0]
    assert mirrored["ear_right"][0] == pytest.approx(plain["ear_left"][0])
    assert eye_landmarks("left", mirrored=True) == PATIENT_EYES["right"]


def test_no_face_frames_are_nan_and_invalid():
    nan_face = np.full((478, 3), np.nan)
    signals = eyelid_signals(measures_of([face(1.0), nan_face, face(1.0)]))
    assert list(signals["valid"]) == [1, 0, 1]
    assert np.isnan(signals["ear_left"][1]) and np.isnan(signals["aperture_mm_right"][1])


def test_eyes_outside_the_picture_are_invalid():
    signals = eyelid_signals(measures_of([face(1.0), face(1.0, shift=(10.0, 200.0))]))
    assert list(signals["eyes_in_frame"]) == [1, 0]
    assert list(signals["valid"]) == [1, 0]


def test_eye_region_grey_spread_is_the_spread_of_grey_levels_around_the_eyes_and_falls_in_a_fade():
    """The 10th-90th percentile spread of the grey levels in the box around both eyes and brows
    (x 253-347, y 180-217.5 for :func:`face`: the brows at -20, the lower lids at +5, and half that
    height below), at any decoding scale; a picture dimmed five times reads a fifth of it."""
    rng = np.random.default_rng(0)
    picture = np.full((400, 600, 3), 255, np.uint8)              # white outside the box: not counted
    picture[180:218, 253:347] = rng.integers(50, 151, size=(38, 94, 1), dtype=np.uint8)  # grey levels 50-150
    landmarks = face()
    assert eye_region_grey_spread(picture, 1.0, landmarks) == pytest.approx(80.0, abs=2.0)
    dimmed = np.rint(picture * 0.2).astype(np.uint8)
    assert eye_region_grey_spread(dimmed, 1.0, landmarks) == pytest.approx(16.0, abs=1.0)
    half = picture[1::2, 1::2]                                     # decoded at half the display size
    assert eye_region_grey_spread(half, 0.5, landmarks) == pytest.approx(80.0, abs=3.0)
    flat = np.full_like(picture, 90)
    assert eye_region_grey_spread(flat, 1.0, landmarks) == 0.0
    assert np.isnan(eye_region_grey_spread(picture, 1.0, np.full((478, 3), np.nan)))
    assert np.isnan(eye_region_grey_spread(picture, 1.0, face(shift=(900.0, 200.0))))  # off the picture
    assert np.isnan(eye_region_grey_spread(picture, 1.0, face(shift=(900.0, 600.0))))  # off it to the right and below


def test_percentiles_read_from_the_histogram_are_numpys():
    from spasmcv.measure.eyelid import _percentile_of_levels

    rng = np.random.default_rng(3)
    for shape in [(1, 1), (1, 7), (45, 94), (120, 200)]:
        for grey in (rng.integers(0, 256, size=shape, dtype=np.uint8),
                     (rng.integers(0, 256, size=shape) // 9 + 100).astype(np.uint8)):
            for q in (0, 10, 50, 90, 100):
                assert _percentile_of_levels(grey, q) == pytest.approx(np.percentile(grey, q), abs=1e-9)


def test_blendshape_columns_use_the_patients_side():
    assert blendshape_column("eyeBlinkLeft") == "bs_eyeBlink_left"
    assert blendshape_column("eyeBlinkLeft", mirrored=True) == "bs_eyeBlink_right"
    assert blendshape_column("jawOpen") == "bs_jawOpen"
    columns = [c for c in measures_of([face()]) if c.startswith("bs_")]
    assert len(columns) == len(BLENDSHAPE_NAMES) - 1  # all but _neutral


def rx(deg):
    p = np.radians(deg)
    return np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])


def ry(deg):
    y = np.radians(deg)
    return np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])


def rz(deg):
    r = np.radians(deg)
    return np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])


def transform(rot, to_face=(0.0, 0.0, -60.0)):
    m = np.eye(4)
    m[:3, :3] = 1.7 * rot  # with a scale, as MediaPipe's matrices have
    m[:3, 3] = to_face
    return m


@pytest.mark.parametrize("angles", [(0, 0, 0), (20, 0, 0), (-45, 0, 0), (0, -15, 0), (0, 20, 0), (0, 0, 10)])
def test_head_pose_recovers_one_rotation_at_a_time(angles):
    yaw, pitch, roll = angles
    np.testing.assert_allclose(head_pose_deg(transform(rz(roll) @ ry(yaw) @ rx(pitch))), angles, atol=1e-9)


@pytest.mark.parametrize("yaw", [0, 30, 50, -60])
def test_a_camera_above_a_level_head_reads_the_same_pitch_at_every_yaw(yaw):
    """The head turns about the vertical while the camera looks down at it from 15 degrees above.

    An Euler decomposition of the rotation alone read 15, 17, 23 and 28 degrees of pitch here,
    the pattern of a real interview filmed from above eye level (median pitch 16 frontal, 26 at 30-45 yaw, 30 at 45-60).
    """
    np.testing.assert_allclose(head_pose_deg(transform(rx(15) @ ry(yaw)))[:2], [yaw, 15], atol=1e-9)


def test_the_translation_does_not_change_the_angles():
    here, there = transform(ry(20) @ rx(10)), transform(ry(20) @ rx(10), to_face=(30.0, -25.0, -70.0))
    np.testing.assert_allclose(head_pose_deg(here), head_pose_deg(there), atol=1e-12)


def test_the_same_picture_of_a_face_anywhere_in_the_frame_reads_about_the_same_angles(real_video, model_info):
    """Why the matrix's translation is ignored (head_pose_deg).

    One Talking Face frame is pasted into the centre and the corners of a frame three times its
    size. MediaPipe fits the same appearance with nearly the same rotation wherever it sits
    (within 7 degrees on this frame), while its translation moves by about 20 degrees of its
    assumed 63-degree camera: angles against that line of sight would change by 15-20 degrees
    with no change in the picture.
    """
    from spasmcv.measure.landmarks import FaceTracker
    from spasmcv.measure.video import iter_frames

    frame = next(f.rgb for f in iter_frames(real_video("talkingface/franck.mp4")) if f.index == 100)
    h, w = frame.shape[:2]
    poses, directions = [], []
    for top, left in ((h, w), (0, w), (2 * h, w), (h, 0), (h, 2 * w), (0, 0)):
        canvas = np.full((3 * h, 3 * w, 3), 90, np.uint8)
        canvas[top:top + h, left:left + w] = frame
        with FaceTracker(model_info.path) as tracker:
            face = tracker.process(canvas, 0.0, display_size=(3 * w, 3 * h))
        assert face is not None
        poses.append(head_pose_deg(face.transform)[:2])
        t = face.transform[:3, 3]
        directions.append(np.degrees(np.arctan2(t[:2], -t[2])))
    poses, directions = np.array(poses), np.array(directions)
    assert np.abs(poses - poses[0]).max() < 10
    assert np.abs(directions - directions[0]).max() > 15  # the face did move across the frame


def test_head_pose_without_a_face_is_nan():
    assert np.isnan(head_pose_deg(np.full((2, 4, 4), np.nan))).all()


def test_subject_selector_follows_one_face_and_ignores_another():
    sel = SubjectSelector()
    assert sel.choose(np.array([[100, 100], [400, 100]]), np.array([80.0, 120.0]), 0.0) == 1
    for k in range(1, 5):  # the subject moves a little; the other face stays
        assert sel.choose(np.array([[100, 100], [400 + k, 100]]), np.array([80.0, 120.0]), k / 25) == 1
    # the subject disappears: the other face is not swapped in ...
    assert sel.choose(np.array([[100, 100]]), np.array([80.0]), 0.3) is None
    # ... until the subject has been gone for longer than reacquire_after_s
    assert sel.choose(np.array([[100, 100]]), np.array([80.0]), 1.5) == 0
    assert sel.track == 1 and sel.reacquisitions == 1


def test_a_spurious_one_frame_detection_does_not_lock_the_subject():
    sel = SubjectSelector()
    assert sel.choose(np.array([[50, 50]]), np.array([40.0]), 0.0) == 0  # text mistaken for a face
    assert sel.choose(np.array([[300, 200]]), np.array([100.0]), 0.04) == 0  # the real face
    assert short_track_mask(np.array([-1, 0, 1, 1, 1]), min_frames=3).tolist() == [False, True, False, False, False]


def test_patient_left_eye_is_left_on_a_real_wink(real_video, model_info):
    """liveportrait/d3: frame 11 winks the eye on the image's right (the patient's left)."""
    from spasmcv.measure.extract import extract_trace

    trace = extract_trace(real_video("liveportrait/d3.mp4"), model=model_info, max_frames=50)
    assert trace["ear_left"][11] < 0.6 * trace["ear_right"][11]
    assert trace["bs_eyeBlink_left"][11] > trace["bs_eyeBlink_right"][11] + 0.2
    assert trace["ear_right"][43] < 0.6 * trace["ear_left"][43]
    assert trace["bs_eyeBlink_right"][43] > trace["bs_eyeBlink_left"][43] + 0.2
    # the patient's left eye appears on the image's right in this unmirrored video
    assert trace["valid"].all()


def test_no_track_spans_a_hard_cut():
    """The selector follows the face at the same place across a cut; after it the track is new."""
    tracks = np.array([-1, 0, 0, 0, 0, -1, 0, 0, 1, 1])
    shots = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    assert split_tracks(tracks, shots).tolist() == [-1, 0, 0, 1, 1, -1, 1, 2, 3, 3]
    assert split_tracks(tracks, np.zeros(10)).tolist() == tracks.tolist()  # one shot: unchanged
