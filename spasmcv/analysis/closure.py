"""Closure signal per eye: how far each eyelid is closed, 0 (open) to 1 (closed).

Pure functions over trace columns. The eyelid measure (by default the eye aspect ratio) is
divided by a per-recording *open-eye reference* that follows slow drift in head pose and
distance (a 60-s moving window), giving the openness ratio ``r`` (1 = as open as usual). The
ratio is mapped to closure **linearly between this person's open and closed levels**:
``closure = (1 - r) / (1 - closed_ratio)``, clipped to 0-1, where ``closed_ratio`` is the ratio
the face mesh reads when this eye is shut, learned from the recording's own deepest closures
(the lower quartile of the frames below half the open level), within
``closed_ratio_bounds``. The closed reading differs between people (0.04-0.26 of the open level
on the real labelled clips), so a per-person closed level and a linear map replace the steep
curve analysis-2 took from its own rendered lids (docs/analysis.md).

Only the frames the quality gate passes are measured (quality.py: head turned or tilted, eyes
too small, another face...; a head turned 30-45 degrees keeps only its near eye). Short gaps
(unmeasured frames) inside one subject track are bridged by linear interpolation; longer gaps stay
NaN and are never counted as closed. See docs/analysis.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

SIDES = ("left", "right")


@dataclass(frozen=True)
class ClosureSettings:
    """Parameters of the closure signal.

    Attributes
    ----------
    measure : str
        Trace column stem driving closure (``"ear"`` -> ``ear_left``/``ear_right``).
    reference_window_s : float
        Width of the moving window for the open-eye reference, seconds.
    reference_quantile, reference_open_fraction : float
        In each window the reference is the median of the frames whose measure is at least
        ``reference_open_fraction`` times the window's ``reference_quantile`` quantile: the
        typical open eye, found even when the eyes are closed most of the time (eyes must be
        open in at least ``1 - reference_quantile`` of each window).
    reference_step_s : float
        The reference is computed every this many seconds and interpolated between.
    min_reference_frames : int
        Windows with fewer valid frames use the whole recording's value.
    closed_ratio_default : float
        Closed level (measure / open reference) used when the recording has too few deep
        closures to learn its own (fewer than ``min_closed_frames`` frames below half open).
    closed_ratio_bounds : (float, float)
        The learned closed level is kept inside this range.
    min_closed_frames : int
        Frames below half open a recording needs to learn its own closed level.
    max_bridge_s : float
        Gaps of invalid frames up to this long are interpolated; longer ones stay NaN.
    """

    measure: str = "ear"
    reference_window_s: float = 60.0
    reference_quantile: float = 0.95
    reference_open_fraction: float = 0.9
    reference_step_s: float = 1.0
    min_reference_frames: int = 50
    closed_ratio_default: float = 0.15
    closed_ratio_bounds: tuple = (0.02, 0.35)
    min_closed_frames: int = 5
    max_bridge_s: float = 0.1


def _open_level(values: np.ndarray, *, quantile: float, open_fraction: float) -> float:
    high = np.quantile(values, quantile)
    return float(np.median(values[values >= open_fraction * high]))


def _windowed(t_valid, v_valid, grid, window_s, min_frames, func, fallback):
    starts = np.searchsorted(t_valid, grid - window_s / 2, side="left")
    stops = np.searchsorted(t_valid, grid + window_s / 2, side="right")
    return np.array([func(v_valid[a:b]) if b - a >= min_frames else fallback for a, b in zip(starts, stops)])


def open_reference(values: np.ndarray, time_s: np.ndarray, *, window_s: float, quantile: float,
                   open_fraction: float, step_s: float, min_frames: int) -> np.ndarray:
    """Typical open-eye value of ``values`` (NaN = invalid) in a centred moving window, per frame.

    In each window: the median of the values at least ``open_fraction`` times the window's
    ``quantile`` quantile, so the open eye is found even when the eyes are closed most of the
    time. Quicker changes of the open eye (a smile, talking) are left to event detection,
    which compares each closure with the levels just before and after it.

    Returns NaN everywhere if the recording has no valid value.
    """
    values = np.asarray(values, dtype=float)
    time_s = np.asarray(time_s, dtype=float)
    valid = np.isfinite(values)
    if not valid.any():
        return np.full(values.shape, np.nan)
    overall = _open_level(values[valid], quantile=quantile, open_fraction=open_fraction)
    t_valid, v_valid = time_s[valid], values[valid]
    grid = np.arange(time_s[0], time_s[-1] + step_s, step_s)
    level = partial(_open_level, quantile=quantile, open_fraction=open_fraction)
    ref = _windowed(t_valid, v_valid, grid, window_s, min_frames, level, overall)
    return np.interp(time_s, grid, ref)


def bridge_gaps(signal: np.ndarray, time_s: np.ndarray, *, max_gap_s: float,
                segment: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate NaN runs no longer than ``max_gap_s`` between valid neighbours.

    A run is bridged only if both neighbours exist and belong to the same ``segment`` (e.g.
    the subject track). The gap length is the time between the two valid neighbours minus
    one median frame interval, i.e. the time actually missing.

    Returns
    -------
    bridged_signal, bridged_mask
    """
    out = np.array(signal, dtype=float)
    bridged = np.zeros(out.shape, dtype=bool)
    missing = ~np.isfinite(out)
    if not missing.any() or missing.all():
        return out, bridged
    frame_s = float(np.median(np.diff(time_s))) if len(time_s) > 1 else 0.0
    edges = np.diff(np.r_[0, missing.astype(np.int8), 0])
    for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        if start == 0 or stop == len(out):
            continue
        before, after = start - 1, stop
        if segment is not None and segment[before] != segment[after]:
            continue
        if time_s[after] - time_s[before] - frame_s > max_gap_s + 1e-9:
            continue
        out[start:stop] = np.interp(time_s[start:stop], [time_s[before], time_s[after]],
                                    [out[before], out[after]])
        bridged[start:stop] = True
    return out, bridged


def closed_ratio(ratio: np.ndarray, *, default: float, bounds: tuple, min_frames: int) -> float:
    """This eye's closed level: the lower quartile of the openness ratios below 0.5 (its deepest
    closures), within ``bounds``; ``default`` with fewer than ``min_frames`` such frames."""
    ratio = np.asarray(ratio, dtype=float)
    deep = ratio[np.isfinite(ratio) & (ratio < 0.5)]
    if deep.size < min_frames:
        return float(default)
    return float(np.clip(np.quantile(deep, 0.25), *bounds))


def closure_fraction(ratio: np.ndarray, closed: float) -> np.ndarray:
    """Closure 0-1 from the openness ratio (measure / open reference) and the closed level,
    linear in between (NaN stays NaN)."""
    ratio = np.asarray(ratio, dtype=float)
    out = np.clip((1.0 - ratio) / (1.0 - closed), 0.0, 1.0)
    return np.where(np.isfinite(ratio), out, np.nan)


@dataclass(frozen=True)
class ClosureSignal:
    """Per-eye closure of one recording.

    Attributes
    ----------
    time_s : ndarray (n,)
    closure : dict side -> ndarray (n,)
        0 open to 1 closed; NaN where not measurable (long gaps, no face).
    reference : dict side -> ndarray (n,)
        The open-eye reference of the measure, per frame.
    closed_ratio : dict side -> float
        The eye's closed level as a ratio of the open reference.
    iris_px : float
        Median iris diameter in pixels (the ruler); NaN if unknown. Small eyes in the picture
        cannot show a held closure apart from a lowered gaze (events.py).
    lower_lid : dict side -> ndarray (n,), or None
        The lower-lid midpoint below the line between the eye's corners, iris diameters, on the
        measured frames (NaN elsewhere): a blink lifts it, a downward glance lowers it
        (events.py, ``glance``). None for traces without it (signals before ``eyelid-2``).
    bridged : ndarray (n,) bool
        Frames whose value was interpolated across a short gap (in either eye).
    measurable : ndarray (n,) bool
        Frames the quality gate passed for both eyes (before bridging).
    eye_measured : dict side -> ndarray (n,) bool, or None
        Frames the quality gate passed for each eye (before bridging): ``measurable`` and, for
        the near eye of a turned head, its ``near_eye_only`` frames.
    valid : ndarray (n,) bool
        Frames with a closure value (measured or bridged), for both eyes.
    settings : ClosureSettings
    """

    time_s: np.ndarray
    closure: dict
    reference: dict
    closed_ratio: dict
    iris_px: float
    bridged: np.ndarray
    measurable: np.ndarray
    valid: np.ndarray
    settings: ClosureSettings
    lower_lid: dict | None = None
    eye_measured: dict | None = None


def closure_signal(columns: dict, settings: ClosureSettings = ClosureSettings(),
                   measurable: np.ndarray | None = None, eye_measurable: dict | None = None,
                   calibration: np.ndarray | None = None) -> ClosureSignal:
    """Compute both eyes' closure from trace columns (``time_s``, ``valid``, ``subject_track``,
    ``<measure>_left/right`` and, when present, ``iris_reference_px`` and ``lower_lid_left/right``)
    on the frames the quality gate passed (``measurable``,
    :func:`spasmcv.analysis.quality.frame_quality`; default: ``valid``), each eye also on the
    frames where it alone passed (``eye_measurable``: side -> mask, the near eye of a turned head).
    The open reference, closed levels and iris size are learned from the ``calibration`` frames
    only (a mask; default: all): a part of a recording keeps its own levels while the frames
    around it are measured with them."""
    time_s = np.asarray(columns["time_s"], dtype=float)
    valid = np.asarray(columns["valid"]).astype(bool)
    if measurable is not None:
        valid = valid & np.asarray(measurable, dtype=bool)
    eye_valid = {side: valid | (np.asarray(columns["valid"]).astype(bool)
                                & np.asarray(eye_measurable[side], dtype=bool))
                 if eye_measurable is not None else valid for side in SIDES}
    track = np.asarray(columns.get("subject_track", np.zeros(len(time_s))))
    learn = np.ones(len(time_s), dtype=bool) if calibration is None else np.asarray(calibration, dtype=bool)
    closure, reference, closed = {}, {}, {}
    bridged_any = np.zeros(len(time_s), dtype=bool)
    for side in SIDES:
        values = np.where(eye_valid[side], np.asarray(columns[f"{settings.measure}_{side}"], dtype=float), np.nan)
        values, bridged = bridge_gaps(values, time_s, max_gap_s=settings.max_bridge_s, segment=track)
        ref = open_reference(values[learn], time_s[learn], window_s=settings.reference_window_s,
                             quantile=settings.reference_quantile,
                             open_fraction=settings.reference_open_fraction,
                             step_s=settings.reference_step_s, min_frames=settings.min_reference_frames)
        if calibration is not None:   # the levels of the calibration frames, held beyond them
            ref = np.interp(time_s, time_s[learn], ref) if learn.any() else np.full(len(time_s), np.nan)
        ratio = values / ref
        closed[side] = closed_ratio(ratio[learn], default=settings.closed_ratio_default,
                                    bounds=settings.closed_ratio_bounds, min_frames=settings.min_closed_frames)
        closure[side] = closure_fraction(ratio, closed[side])
        reference[side] = ref
        bridged_any |= bridged
    both = np.isfinite(closure["left"]) & np.isfinite(closure["right"])
    any_eye = eye_valid["left"] | eye_valid["right"]
    iris = np.asarray(columns.get("iris_reference_px", np.full(len(time_s), np.nan)), dtype=float)[any_eye & learn]
    iris_px = float(np.nanmedian(iris)) if np.isfinite(iris).any() else float("nan")
    lower_lid = ({side: np.where(eye_valid[side], np.asarray(columns[f"lower_lid_{side}"], dtype=float), np.nan)
                  for side in SIDES}
                 if all(f"lower_lid_{side}" in columns for side in SIDES) else None)
    return ClosureSignal(time_s=time_s, closure=closure, reference=reference, closed_ratio=closed,
                         iris_px=iris_px, bridged=bridged_any, measurable=valid, valid=both,
                         settings=settings, lower_lid=lower_lid, eye_measured=eye_valid)
