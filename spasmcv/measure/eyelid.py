"""Eyelid signals per eye from face landmarks (pure: arrays in, arrays out).

**Sides.** ``left`` and ``right`` always mean the *patient's* left and right. This module is the
one place where that is defined. MediaPipe's face mesh is anatomical: in an ordinary,
unmirrored video landmark 33 (outer corner of the patient's right eye) lies on the image's
left, and the blendshape ``eyeBlinkLeft`` rises when the patient's left eye closes (checked on
winking clips, tests/measure/test_eyelid.py). A mirrored video (some selfie cameras) shows a mirror
image, which the mesh reads as a face with the sides swapped; pass ``mirrored=True`` to swap
them back.

All distances are 2-D, in display pixels of the image plane. MediaPipe's depth estimate (z)
is not used: it kept a closed eye's lid gap at about a third of its open value (eye aspect
ratio 0.12 closed vs 0.32 open in 3-D, 0.075 vs 0.32 in 2-D on the synthetic clips), which
would blur the difference between open and closed.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from spasmcv.measure.landmarks import BLENDSHAPE_NAMES
from spasmcv.measure.region import pixel_box

#: Average horizontal visible iris diameter of adults, mm: 11.71 +/- 0.42 mm (white-to-white,
#: Rüfer F, Schröder A, Erb C. Cornea 2005;24(3):259-261).
IRIS_DIAMETER_MM = 11.7

SIDES = ("left", "right")


@dataclass(frozen=True)
class EyeLandmarks:
    """MediaPipe landmark indices of one anatomical eye (see module docstring for sides)."""

    ear_points: tuple[int, int, int, int, int, int]  # p1..p6 of Soukupova & Cech (2016)
    upper_lid_mid: int
    lower_lid_mid: int
    outer_corner: int
    inner_corner: int
    iris_center: int
    iris_horizontal: tuple[int, int]
    brow: tuple[int, ...]
    upper_lid_contour: tuple[int, ...] = ()  # corner to corner, by increasing image x (unmirrored)
    lower_lid_contour: tuple[int, ...] = ()


#: The patient's eyes in an unmirrored video. p1 = outer corner, p4 = inner corner,
#: p2/p3 upper lid, p6/p5 lower lid (p2 above p6, p3 above p5).
PATIENT_EYES: dict[str, EyeLandmarks] = {
    "right": EyeLandmarks(ear_points=(33, 160, 158, 133, 153, 144), upper_lid_mid=159,
                          lower_lid_mid=145, outer_corner=33, inner_corner=133, iris_center=468,
                          iris_horizontal=(469, 471), brow=(70, 63, 105, 66, 107),
                          upper_lid_contour=(33, 246, 161, 160, 159, 158, 157, 173, 133),
                          lower_lid_contour=(33, 7, 163, 144, 145, 153, 154, 155, 133)),
    "left": EyeLandmarks(ear_points=(263, 387, 385, 362, 380, 373), upper_lid_mid=386,
                         lower_lid_mid=374, outer_corner=263, inner_corner=362, iris_center=473,
                         iris_horizontal=(474, 476), brow=(300, 293, 334, 296, 336),
                         upper_lid_contour=(362, 398, 384, 385, 386, 387, 388, 466, 263),
                         lower_lid_contour=(362, 382, 381, 380, 374, 373, 390, 249, 263)),
}
FOREHEAD_TOP, CHIN = 10, 152


def eye_landmarks(side: str, *, mirrored: bool = False) -> EyeLandmarks:
    """Landmark indices of the patient's ``side`` eye (``"left"`` or ``"right"``)."""
    if side not in SIDES:
        raise ValueError(f"side must be 'left' or 'right', not {side!r}")
    if mirrored:
        side = "left" if side == "right" else "right"
    return PATIENT_EYES[side]


def blendshape_column(name: str, *, mirrored: bool = False) -> str:
    """Trace column of a MediaPipe blendshape, with Left/Right turned into the patient's side.

    ``eyeBlinkLeft`` -> ``bs_eyeBlink_left`` (``bs_eyeBlink_right`` when ``mirrored``);
    names without a side keep their form: ``jawOpen`` -> ``bs_jawOpen``.
    """
    for suffix, side in (("Left", "left"), ("Right", "right")):
        if name.endswith(suffix):
            if mirrored:
                side = "right" if side == "left" else "left"
            return f"bs_{name[: -len(suffix)]}_{side}"
    return f"bs_{name}"


def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """2-D distance in the image plane (x, y only)."""
    return np.linalg.norm(a[..., :2] - b[..., :2], axis=-1)


def eye_aspect_ratio(landmarks: np.ndarray, eye: EyeLandmarks) -> np.ndarray:
    """6-point eye aspect ratio (Soukupova & Cech 2016), unitless.

    ``(|p2 - p6| + |p3 - p5|) / (2 |p1 - p4|)``; about 0.25-0.35 open, below 0.1 closed.

    Parameters
    ----------
    landmarks : ndarray (..., 478, 3)
    eye : EyeLandmarks
    """
    p1, p2, p3, p4, p5, p6 = (landmarks[..., i, :] for i in eye.ear_points)
    return (_dist(p2, p6) + _dist(p3, p5)) / (2.0 * _dist(p1, p4))


def head_pose_deg(transform: np.ndarray) -> np.ndarray:
    """Yaw, pitch and roll in degrees: where the camera lies as seen from the head.

    From the rotation ``R`` (scale removed) of MediaPipe's facial transformation matrix, in its
    camera frame (x right, y up, z towards the viewer). ``v = R^T z`` is the direction to the
    camera in the head's own frame. Then

    - yaw = ``atan2(-v_x, v_z)``, the camera's azimuth: how far the head is turned, positive when
      the face turns towards the image's right (in an unmirrored video the patient's right eye
      then comes nearer the camera);
    - pitch = ``asin(v_y)``, the camera's elevation: positive when the head tips forward (chin
      down, the camera above the eyes);
    - roll = ``atan2(R_10, R_00)``: the tilt of the head's ear-to-ear axis in the picture,
      positive counter-clockwise as seen in the image.

    0, 0, 0 is a face seen straight on. Azimuth and elevation are what foreshortens the eyes, and
    a head turning about its own vertical axis keeps its pitch. The Euler angles of ``R = Rz(roll)
    Ry(yaw) Rx(pitch)`` (signals ``eyelid-2``) did not: with the camera 15 degrees above a level
    head they read 15, 17, 23 and 28 degrees of pitch at 0, 30, 50 and 60 degrees of yaw, and an
    interview filmed from above eye level read a median pitch of 16 degrees facing the camera, 26 at 30-45
    degrees of yaw and 30 at 45-60 (now 16, 19 and 18).

    The matrix's translation is not used. MediaPipe fits ``R`` to the face's appearance as if it
    were seen along the optical axis: the same picture of a face moved to a corner of a larger
    frame keeps its angles within 7 degrees, while turning them towards the line of sight of
    MediaPipe's assumed 63-degree camera would add 15-20 degrees that are not in the picture
    (tests/measure/test_eyelid.py).

    Parameters
    ----------
    transform : ndarray (..., 4, 4)

    Returns
    -------
    ndarray (..., 3)
        ``[yaw, pitch, roll]`` in degrees; NaN where the matrix is NaN.
    """
    rot = np.asarray(transform, dtype=float)[..., :3, :3]
    rot = rot / np.linalg.norm(rot, axis=-2, keepdims=True)
    to_camera = rot[..., 2, :]  # R^T z
    yaw = np.arctan2(-to_camera[..., 0], to_camera[..., 2])
    pitch = np.arcsin(np.clip(to_camera[..., 1], -1.0, 1.0))
    roll = np.arctan2(rot[..., 1, 0], rot[..., 0, 0])
    return np.degrees(np.stack([yaw, pitch, roll], axis=-1))


#: Landmarks whose bounding box, extended below, is the eye region of :func:`eye_region_grey_spread`:
#: both eyes' lid contours and brows.
EYE_REGION_POINTS = tuple(sorted({i for eye in PATIENT_EYES.values()
                                  for i in (*eye.upper_lid_contour, *eye.lower_lid_contour, *eye.brow)}))
#: The eye region reaches below the eyes by this share of its height (the upper cheeks).
EYE_REGION_BELOW = 0.5


def eye_region_grey_spread(rgb: np.ndarray, scale: float, landmarks_px: np.ndarray) -> float:
    """How much the picture shows around the eyes: the spread of its grey levels (0-255).

    The 90th minus the 10th percentile of the grey levels (ITU-R BT.601 luma in whole levels) in
    the box around both eyes and brows (:data:`EYE_REGION_POINTS`), extended below by
    :data:`EYE_REGION_BELOW` of its height: skin, brows, lashes and the eyes themselves. A fade
    to black or a dark room squeezes it toward 0; a blink changes it little, since the brows and
    the lash line stay dark (at the apex of 685 labelled real closures: 4 % under the open eyes'
    value in the median, 32 % at most; scripts/grey_spread.py). NaN without a face or when under 16 pixels of the box lie
    in the picture.

    Parameters
    ----------
    rgb : ndarray (height, width, 3) uint8
        The decoded frame, ``scale`` times the display size.
    landmarks_px : ndarray (478, 3)
        The face's landmarks in display pixels (NaN when no face).
    """
    xy = np.asarray(landmarks_px, dtype=float)[list(EYE_REGION_POINTS), :2] * scale
    if not np.all(np.isfinite(xy)):
        return float("nan")
    (x0, y0), (x1, y1) = xy.min(axis=0), xy.max(axis=0)
    y1 += EYE_REGION_BELOW * (y1 - y0)
    box = pixel_box(x0, y0, x1, y1, rgb.shape[1], rgb.shape[0])
    if box is None or (box[2] - box[0]) * (box[3] - box[1]) < 16:
        return float("nan")
    x0, y0, x1, y1 = box
    grey = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
    return _percentile_of_levels(grey, 90) - _percentile_of_levels(grey, 10)


def _percentile_of_levels(grey: np.ndarray, q: float) -> float:
    """``np.percentile(grey, q)`` (linear interpolation) of uint8 grey levels, read from their
    histogram: 0.10 ms a frame against ``np.percentile``'s 0.42 for a close-up 720p face's box
    (280 x 140 px), on the extraction's critical path."""
    at_or_below = np.cumsum(np.bincount(grey.ravel(), minlength=256))
    position = q / 100 * (grey.size - 1)
    rank = int(position)
    below, above = np.searchsorted(at_or_below, [rank, min(rank + 1, grey.size - 1)], side="right")
    return float(below + (above - below) * (position - rank))


def frame_measures(landmarks: np.ndarray, blendshapes: np.ndarray, transform: np.ndarray, *,
                   frame_size: tuple[int, int], mirrored: bool = False) -> dict[str, np.ndarray]:
    """Per-frame raw measures that need no recording-level reference.

    Parameters
    ----------
    landmarks : ndarray (n, 478, 3)
        Display pixels (see :class:`spasmcv.measure.landmarks.FaceObservation`); NaN where no face.
    blendshapes : ndarray (n, 52)
    transform : ndarray (n, 4, 4)
    frame_size : (width, height)
        Display size in pixels, to tell whether the eyes are inside the picture.
    mirrored : bool

    Returns
    -------
    dict of column name -> ndarray (n,)
        See docs/trace.md for every column's definition and unit.
    """
    width, height = frame_size
    out: dict[str, np.ndarray] = {}
    face_found = np.isfinite(landmarks[:, 0, 0])
    eye_points = sorted({i for side in SIDES for i in PATIENT_EYES[side].ear_points})
    xy = landmarks[:, eye_points, :2]
    inside = np.all((xy[..., 0] >= 0) & (xy[..., 0] < width) & (xy[..., 1] >= 0) & (xy[..., 1] < height), axis=1)
    out["eyes_in_frame"] = (face_found & inside).astype(np.int8)
    lo, hi = np.min(landmarks[..., :2], axis=1), np.max(landmarks[..., :2], axis=1)
    out["face_x_px"], out["face_y_px"] = ((lo + hi) / 2).T
    out["face_size_px"] = np.linalg.norm(landmarks[:, FOREHEAD_TOP, :2] - landmarks[:, CHIN, :2], axis=-1)
    yaw_pitch_roll = head_pose_deg(transform)
    out["head_yaw_deg"], out["head_pitch_deg"], out["head_roll_deg"] = yaw_pitch_roll.T
    right, left = PATIENT_EYES["right"], PATIENT_EYES["left"]
    out["intercanthal_px"] = _dist(landmarks[:, right.inner_corner], landmarks[:, left.inner_corner])
    # the face's forehead-to-chin direction in the image: "down" for every lid and iris position
    down = landmarks[:, CHIN, :2] - landmarks[:, FOREHEAD_TOP, :2]
    down = down / np.linalg.norm(down, axis=-1, keepdims=True)
    for side in SIDES:
        eye = eye_landmarks(side, mirrored=mirrored)
        out[f"ear_{side}"] = eye_aspect_ratio(landmarks, eye)
        out[f"aperture_px_{side}"] = _dist(landmarks[:, eye.upper_lid_mid], landmarks[:, eye.lower_lid_mid])
        a, b = eye.iris_horizontal
        out[f"iris_diameter_px_{side}"] = _dist(landmarks[:, a], landmarks[:, b])
        canthal_mid = (landmarks[:, eye.outer_corner] + landmarks[:, eye.inner_corner]) / 2
        brow = landmarks[:, list(eye.brow)].mean(axis=1)
        out[f"brow_eye_px_{side}"] = _dist(brow, canthal_mid)
        # Signed distances from the canthal line (the eye's corners) along the face's down axis:
        # the iris centre below it, the upper-lid midpoint above it, the lower-lid midpoint below it.
        def below_canthal(index: int) -> np.ndarray:
            return np.sum((landmarks[:, index, :2] - canthal_mid[:, :2]) * down, axis=-1)

        out[f"iris_drop_px_{side}"] = below_canthal(eye.iris_center)
        out[f"upper_lid_px_{side}"] = -below_canthal(eye.upper_lid_mid)
        out[f"lower_lid_px_{side}"] = below_canthal(eye.lower_lid_mid)
    for k, name in enumerate(BLENDSHAPE_NAMES):
        if name != "_neutral":
            out[blendshape_column(name, mirrored=mirrored)] = blendshapes[:, k].copy()
    return out


def iris_reference_px(measures: dict[str, np.ndarray], *, open_quantile: float = 0.75) -> np.ndarray:
    """Per-frame iris diameter reference in pixels, robust to eyelid closure.

    MediaPipe's iris points shrink when the lids cover the iris (about -17 % at full closure
    on Talking Face), so the raw per-frame diameter would inflate closed-eye apertures. The
    reference is the recording's median ratio of iris diameter (mean of both eyes) to the
    intercanthal distance, taken over open-eye frames (mean eye aspect ratio at or above its
    ``open_quantile``), times each frame's intercanthal distance, which follows the face's
    distance to the camera but not the lids.

    Returns
    -------
    ndarray (n,)
        NaN where the frame has no face or the recording has no usable frame.
    """
    iris = (measures["iris_diameter_px_left"] + measures["iris_diameter_px_right"]) / 2
    ear = (measures["ear_left"] + measures["ear_right"]) / 2
    usable = np.isfinite(iris) & np.isfinite(ear) & (measures["eyes_in_frame"] > 0)
    if not usable.any():
        return np.full_like(iris, np.nan)
    open_frames = usable & (ear >= np.quantile(ear[usable], open_quantile))
    ratio = float(np.median(iris[open_frames] / measures["intercanthal_px"][open_frames]))
    return ratio * measures["intercanthal_px"]


def eyelid_signals(measures: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add the iris-normalised and millimetre columns to :func:`frame_measures`' output.

    New columns per side: ``aperture_iris`` (vertical palpebral aperture in iris diameters),
    ``aperture_mm`` (the same times :data:`IRIS_DIAMETER_MM`), ``brow_eye_mm``,
    ``iris_drop`` (iris centre below the canthal line, in iris diameters), ``upper_lid`` and
    ``lower_lid`` (the upper-lid midpoint above and the lower-lid midpoint below the canthal
    line, in iris diameters), plus ``iris_reference_px`` and ``valid``.
    """
    out = dict(measures)
    iris_ref = iris_reference_px(measures)
    out["iris_reference_px"] = iris_ref
    for side in SIDES:
        out[f"aperture_iris_{side}"] = measures[f"aperture_px_{side}"] / iris_ref
        out[f"aperture_mm_{side}"] = out[f"aperture_iris_{side}"] * IRIS_DIAMETER_MM
        out[f"brow_eye_mm_{side}"] = measures[f"brow_eye_px_{side}"] / iris_ref * IRIS_DIAMETER_MM
        out[f"iris_drop_{side}"] = measures[f"iris_drop_px_{side}"] / iris_ref
        out[f"upper_lid_{side}"] = measures[f"upper_lid_px_{side}"] / iris_ref
        out[f"lower_lid_{side}"] = measures[f"lower_lid_px_{side}"] / iris_ref
    out["valid"] = ((measures["eyes_in_frame"] > 0) & np.isfinite(iris_ref)).astype(np.int8)
    return out
