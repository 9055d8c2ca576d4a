"""Quality gate: which frames the eyelid measure is valid for, why the others are not, and
whether the recording can be graded.

Pure functions over trace columns. A frame is *measurable* when a subject face with both eyes
in the picture was found and none of the limits below is exceeded; every other frame gets one
reason (the first that applies, in :data:`REASONS` order) and counts as neither open nor closed.
One exception is per eye: a head turned between ``max_yaw_deg`` and ``max_near_eye_yaw_deg``
(reason ``near_eye_only``) keeps the eye nearer the camera measured and only the far one not.
The limits come from the real labelled clips and from real clips made smaller and rotated
frame for frame (``scripts/quality_limits.py``, docs/analysis.md "Quality gate").

A recording is gradable when it has at least ``min_valid_time_s`` of measurable video in
continuous stretches of at least ``min_stretch_s`` (a few seconds here and there between
head turns do not show a patient's frequency of closures).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spasmcv.analysis.closure import SIDES

#: Why a frame is not measured, in the order they are tested (docs/analysis.md).
REASONS = {
    "no_face": "no face found",
    "eyes_outside": "eyes outside the picture",
    "false_detection": "a face seen for under 3 frames (a false detection)",
    "other_face": "another face may have taken over",
    "low_frame_rate": "frame rate too low to see every blink",
    "timing_gap": "a gap in the video's timing (frames missing)",
    "small_face": "eyes too small in the picture",
    "dark_picture": "picture too dark or flat around the eyes",
    "camera_below": "camera too far below the eyes",
    "head_turned": "head turned or pitched away",
    "head_tilted": "head tilted sideways",
    "near_eye_only": "head turned: only the eye nearer the camera measured",
    "narrow_eyes": "eye opening too narrow in the picture to read",
}


@dataclass(frozen=True)
class QualitySettings:
    """Limits of the eyelid measure and of a gradable recording.

    Attributes
    ----------
    max_yaw_deg, max_pitch_deg : float
        Head turned or pitched further: not measured (but see ``max_near_eye_yaw_deg``). In the
        frames they measure, the project's labelled clips reach 22 degrees of yaw (27 in
        ``carphone_distorted``'s warped frames) and 23 of pitch; beyond about 30 degrees the face
        mesh misreads a turned face's far eye (as closed, or as wide open), as it is foreshortened
        toward the face's edge.
    max_camera_below_deg : float
        The camera further below the eyes (pitch under minus this, the face seen from below):
        not measured (``camera_below``). Seen from 17-25 degrees below, through glasses, the face
        mesh read one person's open eyes as half closed (eye aspect ratio median 0.07-0.14) and
        gave 19 false closures in 20 s (the AugLy clips of labels/external/, whose frames beyond 25
        degrees were already not measured; 3 remain); no other labelled clip has a labelled
        closure beyond 20 degrees below (docs/analysis.md "Quality gate").
    max_near_eye_yaw_deg : float or None
        Head turned more than ``max_yaw_deg`` but not more than this: the eye nearer the camera
        (the left eye when the yaw is negative, the right when positive; the one whose iris the
        picture shows wider) is still measured, the far one is not (``near_eye_only``). Further:
        neither. Between 45 and 60 degrees the near eye read 30 false closures against 10 blinks
        on the outside clips in three-quarter view (docs/analysis.md "Quality gate"); ``None`` or
        a value at or under ``max_yaw_deg`` measures neither eye beyond ``max_yaw_deg``.
    min_near_eye_iris_px : float
        ... but only where the iris (``iris_reference_px``) is at least this wide: a turned face's
        near eye needs a larger picture than a frontal one (the turned outside clips made smaller
        read false closures from an iris of 8.7 and 7.7 px on, docs/quality-limits.md); turned frames with
        a smaller iris are ``head_turned``.
    max_roll_deg : float
        Head tilted sideways (in the picture plane) further: not measured. Real labelled clips
        rotated in the picture keep their accuracy up to a median roll of 67 degrees and lose it
        at 90 (docs/quality-limits.md).
    min_iris_px : float
        Iris diameter (the per-frame ruler ``iris_reference_px``) below this: the eyes are too
        small in the picture for the lids to be read. Real labelled clips made smaller keep their
        accuracy down to an iris of 2.8 px (a face about 40 px high) and break at 1.9 px (a 29-px
        face: 46 false closures in 200 s; docs/quality-limits.md).
    min_open_aperture_px : float
        The recording's open-eye fissure height (upper to lower lid margin, px: the larger eye's
        99th percentile over the frames that pass the other tests) below this: no frame is
        measured, as the lids move by a pixel or two and cannot be read, even when the iris is
        large enough (a face in near profile, or looking down). Real labelled clips made smaller
        keep their accuracy with an open fissure of 2.5 px and break at 1.4 px (franck: 46 false
        closures); the man in ``multispeaker`` opens his eyes about 1 px, 1.4 at the widest (5 false closures;
        docs/quality-limits.md).
    min_eye_region_grey_spread : float
        The picture around the eyes (trace column ``eye_region_grey_spread``: the spread of its grey
        levels, 0-255) flatter than this: not measured (``dark_picture``), as in a fade to or
        from black or a dark room. Real labelled clips dimmed frame for frame keep their accuracy
        down to a spread of 28 and gain false closures from 22 down (franck: 2 at 22, 4 at 15, 9
        at 11; docs/quality-limits.md, "Dimmer pictures"); ordinary real video spreads over 33 or
        more. Traces without the column (signals before ``eyelid-7``) are not tested.
    min_frame_rate_fps : float
        Frames filmed at a lower rate than this (:func:`local_frame_rate`, frames per second): not
        measured (``low_frame_rate``): a blink lasts 0.1-0.4 s, and at a low rate it falls between
        frames. Five real labelled clips keeping one frame in k (docs/quality-limits.md, "Lower
        frame rates"; 105 closures, 102 found at their own 24-30 frames/s) lose few closures at
        half their rate (12-15 frames/s: 96 found) and more at each step down (8-10: 91, 6-7.5:
        80, 5-6: 63), with no more false ones; the limit lies between the half-rate and the
        third-rate variants. The labelled real clips are filmed at 15 frames/s or more.
    max_timing_gap_s : float
        A frame followed by more missing time than this (its interval to the next frame minus the
        median interval, s: frames dropped, a recording paused and resumed) is not measured
        (``timing_gap``): otherwise it would stand for the whole gap, counted as measured time,
        and a closure on both sides of the gap would run across it (a blink on either side of a
        10-s pause read as a 10-s closure). Shorter gaps are measured across, as before: a blink
        (under 0.5 s) stretched by one of them stays under the 1 s of a spasm, and a closure is
        not cut in two by a few dropped frames. The longest interval in any labelled clip is
        0.08 s (two frames at 25 frames/s). A video that leaves out unchanged frames (some screen
        recorders) has such gaps wherever the face holds still: they are flagged, not read.
    warn_frame_rate_fps : float
        Measured frames filmed at a lower median rate than this, but not under
        ``min_frame_rate_fps``: measured, with a warning that the shortest blinks may be missed.
    warn_repeated_share : float
        A warning when at least this share of the pairs of consecutive measured frames repeat a
        picture (:func:`repeated_frame_share`): a camera or an editor repeated frames (a dim
        webcam, a slowed copy), so closures may read longer than they were.
    min_valid_time_s : float
        Less measurable video than this (in stretches of ``min_stretch_s`` or more): not gradable.
    min_stretch_s : float
        Measurable stretches shorter than this do not count toward ``min_valid_time_s``.
    """

    max_yaw_deg: float = 30.0
    max_near_eye_yaw_deg: float | None = 45.0
    min_near_eye_iris_px: float = 8.0
    max_pitch_deg: float = 25.0
    max_camera_below_deg: float = 20.0
    max_roll_deg: float = 70.0
    min_iris_px: float = 2.5
    min_open_aperture_px: float = 2.0
    min_eye_region_grey_spread: float = 25.0
    min_frame_rate_fps: float = 11.0
    max_timing_gap_s: float = 0.5
    warn_frame_rate_fps: float = 20.0
    warn_repeated_share: float = 0.3
    min_valid_time_s: float = 15.0
    min_stretch_s: float = 5.0


@dataclass(frozen=True)
class FrameQuality:
    """Per-frame verdict of the quality gate.

    Attributes
    ----------
    measurable : ndarray (n,) bool
        Both eyes measured.
    reason : ndarray (n,) object
        "" where measurable, else a key of :data:`REASONS`.
    eye_measurable : dict side -> ndarray (n,) bool
        Each eye measured: ``measurable``, and the near eye of ``near_eye_only`` frames.
    """

    measurable: np.ndarray
    reason: np.ndarray
    eye_measurable: dict


def near_eye(yaw_deg: np.ndarray) -> np.ndarray:
    """The eye nearer the camera at each head yaw (degrees): "left" for negative yaw, "right" for
    positive, "" at 0 or unknown. In the trace's convention, that is the eye whose iris the
    picture shows wider (checked on every real clip turned more than 10 degrees)."""
    yaw = np.asarray(yaw_deg, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.where(yaw < 0, "left", np.where(yaw > 0, "right", ""))


def _column(columns: dict, name: str, n: int, fill: float = np.nan) -> np.ndarray:
    return np.asarray(columns.get(name, np.full(n, fill)), dtype=float)


def local_frame_rate(time_s: np.ndarray) -> np.ndarray:
    """Per frame, the rate the video was filmed at around it, frames per second: one over the
    median of the four frame intervals around the frame (two before, two after), so that one
    dropped frame does not lower it and a camera slowing down in a dim room does. NaN for a
    single frame."""
    time_s = np.asarray(time_s, dtype=float)
    if len(time_s) < 2:
        return np.full(len(time_s), np.nan)
    padded = np.concatenate([[np.nan, np.nan], np.diff(time_s), [np.nan, np.nan]])
    around = np.lib.stride_tricks.sliding_window_view(padded, 4)[:len(time_s)]
    with np.errstate(divide="ignore"):
        return 1.0 / np.nanmedian(around, axis=1)


def frame_rate_warning(time_s: np.ndarray, measurable: np.ndarray, settings: QualitySettings) -> list[str]:
    """A warning when the measured frames were filmed at a median rate under
    ``warn_frame_rate_fps`` (those under ``min_frame_rate_fps`` are not measured at all)."""
    rate = local_frame_rate(time_s)[np.asarray(measurable, dtype=bool)]
    rate = rate[np.isfinite(rate)]
    if not rate.size or np.median(rate) >= settings.warn_frame_rate_fps:
        return []
    return [f"filmed at {round(float(np.median(rate)), 1):g} frames/s: the shortest blinks may fall between "
            f"frames and be missed; film at 24 frames/s or more"]


#: A measured frame repeats the one before when both eyes' aspect ratios are unchanged to within
#: REPEAT_EAR and the face's position to within REPEAT_POSITION of its size: on real video the
#: face mesh moves more than that between two pictures, even of a person holding still.
REPEAT_EAR = 1e-3
REPEAT_POSITION = 5e-4


def repeated_frame_share(columns: dict, measurable: np.ndarray) -> float:
    """Share of the pairs of consecutive frames, both measurable, in which the frame repeats the
    one before (:data:`REPEAT_EAR`, :data:`REPEAT_POSITION`); NaN without such pairs or without the
    face position columns (a hand-made trace)."""
    if not all(name in columns for name in ("face_x_px", "face_y_px", "face_size_px")):
        return float("nan")
    n = len(measurable)
    ear = np.stack([_column(columns, f"ear_{side}", n) for side in SIDES])
    ear_change = np.max(np.abs(np.diff(ear, axis=1)), axis=0)
    x, y, size = (_column(columns, name, n) for name in ("face_x_px", "face_y_px", "face_size_px"))
    with np.errstate(invalid="ignore", divide="ignore"):
        moved = np.hypot(np.diff(x), np.diff(y)) / size[1:]
    pairs = np.asarray(measurable[1:], dtype=bool) & np.asarray(measurable[:-1], dtype=bool)
    pairs &= np.isfinite(ear_change) & np.isfinite(moved)
    if not pairs.any():
        return float("nan")
    return float(np.mean((ear_change[pairs] < REPEAT_EAR) & (moved[pairs] < REPEAT_POSITION)))


def repeated_frames_warning(columns: dict, measurable: np.ndarray, settings: QualitySettings) -> list[str]:
    """A warning when ``settings.warn_repeated_share`` or more of the measured frames repeat the
    one before (:func:`repeated_frame_share`)."""
    share = repeated_frame_share(columns, measurable)
    if not share >= settings.warn_repeated_share:
        return []
    return [f"{100 * share:.0f} % of the frames repeat the one before (face and eyes unchanged): the camera or "
            "an editor repeated pictures (a dim webcam, a slowed copy), so closures may read longer than they "
            "were and quick blinks be missed; measure the camera's own recording"]


def _other_face(columns: dict, valid: np.ndarray, track: np.ndarray, *, max_size_change: float = 0.3,
                max_shift: float = 1.0) -> np.ndarray:
    """Frames of a re-acquired subject track that may be another person.

    Only when more than one face was visible at some time in the recording: the main track is
    the one with the most valid frames; another track whose median face size differs from the
    main one's by more than ``max_size_change`` (relative), or whose median position is more than
    ``max_shift`` face heights away, is taken to be someone else (the same person coming back
    into view keeps their size and place, as in the labelled clips).
    """
    n = len(valid)
    other = np.zeros(n, dtype=bool)
    if not valid.any() or not np.any(_column(columns, "n_faces", n, 1.0) > 1):
        return other
    size = _column(columns, "face_size_px", n)
    x, y = _column(columns, "face_x_px", n), _column(columns, "face_y_px", n)
    ids, counts = np.unique(track[valid], return_counts=True)
    main = valid & (track == ids[np.argmax(counts)])

    def where(mask):
        with np.errstate(invalid="ignore"):
            return (np.nanmedian(size[mask]) if np.isfinite(size[mask]).any() else np.nan,
                    np.nanmedian(x[mask]) if np.isfinite(x[mask]).any() else np.nan,
                    np.nanmedian(y[mask]) if np.isfinite(y[mask]).any() else np.nan)

    main_size, main_x, main_y = where(main)
    for k in ids:
        mask = valid & (track == k)
        if (mask & main).any():
            continue
        k_size, k_x, k_y = where(mask)
        moved = np.hypot(k_x - main_x, k_y - main_y) > max_shift * main_size
        resized = abs(k_size - main_size) > max_size_change * main_size
        if not (np.isfinite(k_size) and np.isfinite(main_size)) or moved or resized:
            other |= mask
    return other


def open_fissure_px(columns: dict, frames, *, open_quantile: float = 0.99) -> float:
    """The recording's open-eye fissure height, px: the larger eye's ``aperture_px`` (upper to
    lower lid margin) at its ``open_quantile`` quantile over ``frames`` (a boolean mask, or one
    per side: side -> mask) - its open level even if the eyes are shut for nearly all of the
    recording (a severe blepharospasm must not read as "eyes too narrow"). NaN without aperture
    values there."""
    per_side = frames if isinstance(frames, dict) else {side: frames for side in SIDES}
    n = len(per_side[SIDES[0]])
    levels = [_column(columns, f"aperture_px_{side}", n)[np.asarray(per_side[side], dtype=bool)] for side in SIDES]
    levels = [float(np.quantile(v[np.isfinite(v)], open_quantile)) for v in levels if np.isfinite(v).any()]
    return max(levels, default=float("nan"))


def frame_quality(columns: dict, settings: QualitySettings = QualitySettings()) -> FrameQuality:
    """Which frames are measurable, and the reason for each one that is not.

    ``columns`` are trace columns: ``valid`` is required; ``face_detected``, ``eyes_in_frame``,
    ``n_faces``, ``subject_track``, ``time_s``, ``iris_reference_px``, ``eye_region_grey_spread``,
    ``head_yaw/pitch/roll_deg`` and
    ``aperture_px_left/right`` are used when present; *another face may have taken over* is
    :func:`_other_face`, *eye opening too narrow* :func:`open_fissure_px` under
    ``min_open_aperture_px`` (a verdict on the frames
    that pass every other test, so it is tested last; on ``near_eye_only`` frames, the near eye's
    opening counts).
    """
    valid = np.asarray(columns["valid"]).astype(bool)
    n = len(valid)
    detected = _column(columns, "face_detected", n, 1.0) > 0
    eyes_in = _column(columns, "eyes_in_frame", n, 1.0) > 0
    track = _column(columns, "subject_track", n, 0.0)
    other = _other_face(columns, valid, track)
    yaw = _column(columns, "head_yaw_deg", n, 0.0)
    near_limit = max(settings.max_yaw_deg, settings.max_near_eye_yaw_deg or 0.0)
    iris = _column(columns, "iris_reference_px", n, np.inf)
    with np.errstate(invalid="ignore"):
        slow, gap = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        if "time_s" in columns and n > 1:
            time_s = np.asarray(columns["time_s"], dtype=float)
            slow = local_frame_rate(time_s) < settings.min_frame_rate_fps
            step = np.diff(time_s)
            gap[:-1] = step - np.median(step) > settings.max_timing_gap_s + 1e-9
        small = iris < settings.min_iris_px
        dark = _column(columns, "eye_region_grey_spread", n, np.inf) < settings.min_eye_region_grey_spread
        far_eye_turned = np.abs(yaw) > settings.max_yaw_deg
        below = _column(columns, "head_pitch_deg", n, 0.0) < -settings.max_camera_below_deg
        turned = ((np.abs(yaw) > near_limit) | (far_eye_turned & (iris < settings.min_near_eye_iris_px))
                  | (np.abs(_column(columns, "head_pitch_deg", n, 0.0)) > settings.max_pitch_deg))
        tilted = np.abs(_column(columns, "head_roll_deg", n, 0.0)) > settings.max_roll_deg
    tests = {
        "no_face": ~detected,
        "eyes_outside": ~eyes_in,
        "false_detection": ~valid,
        "other_face": other,
        "low_frame_rate": slow,
        "timing_gap": gap,
        "small_face": small,
        "dark_picture": dark,
        "camera_below": below,
        "head_turned": turned,
        "head_tilted": tilted,
        "near_eye_only": far_eye_turned,
    }
    reason = np.full(n, "", dtype=object)
    for name, failed in tests.items():
        reason[(reason == "") & failed] = name
    near = np.where(reason == "near_eye_only", near_eye(yaw), "")
    eye_measurable = {side: (reason == "") | (near == side) for side in SIDES}
    if open_fissure_px(columns, eye_measurable) < settings.min_open_aperture_px:  # NaN (no values): never narrow
        reason[(reason == "") | (reason == "near_eye_only")] = "narrow_eyes"
        eye_measurable = {side: np.zeros(n, dtype=bool) for side in SIDES}
    return FrameQuality(measurable=reason == "", reason=reason, eye_measurable=eye_measurable)


def stretches(mask: np.ndarray) -> list[tuple[int, int]]:
    """Runs of True in ``mask`` as (first index, last index + 1)."""
    padded = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def quality_summary(frame_s: np.ndarray, quality: FrameQuality, measured: np.ndarray,
                    settings: QualitySettings = QualitySettings()) -> dict:
    """Shares of the recording not measured, by reason, and whether it can be graded.

    Parameters
    ----------
    frame_s : ndarray (n,)
        Duration of each frame, seconds.
    quality : FrameQuality
    measured : ndarray (n,) bool
        Frames with a closure value in the end (measurable, or bridged across a short gap).

    Returns
    -------
    dict
        ``invalid_share`` (every reason of :data:`REASONS` -> share of the recording's time),
        ``main_invalid_reason`` (in words, or None), ``graded_time_s`` (measured time in
        stretches of ``min_stretch_s`` or more), ``gradable`` and ``not_gradable_reason``.
    """
    total = float(frame_s.sum())
    shares = {name: float(frame_s[quality.reason == name].sum() / total) if total else 0.0 for name in REASONS}
    measured_s = float(frame_s[measured].sum())
    graded_s = sum(float(frame_s[a:b].sum()) for a, b in stretches(measured)
                   if frame_s[a:b].sum() >= settings.min_stretch_s - 1e-9)
    main = max(shares, key=shares.get) if any(shares.values()) else None
    share = 100 * shares[main] if main else 0.0
    why = (f"; most of the rest: {REASONS[main]}, {f'{share:.0f} %' if share >= 0.5 else 'under 1 %'} of the time"
           if main else "")   # no brackets: the reason is often shown in brackets itself
    reason = None   # times are sums of frame durations: 375 frames of 0.04 s make 14.999999999999998 s
    if measured_s < settings.min_valid_time_s - 1e-9:
        reason = f"under {settings.min_valid_time_s:g} s of measurable video: {measured_s:.1f} s of {total:.1f} s{why}"
    elif graded_s < settings.min_valid_time_s - 1e-9:
        reason = (f"the measurable video is fragmented: {graded_s:.1f} s of its {measured_s:.1f} s are in stretches "
                  f"of {settings.min_stretch_s:g} s or more, {settings.min_valid_time_s:g} s are needed{why}")
    return {"invalid_share": shares, "main_invalid_reason": REASONS[main] if main else None,
            "graded_time_s": graded_s, "gradable": reason is None, "not_gradable_reason": reason}
