"""Closure signal per eye: how far each eyelid is closed, 0 (open) to 1 (closed).

Pure functions over trace columns. The eyelid measure (by default the eye aspect ratio) is
divided by a per-recording *open-eye reference* that follows slow drift in head pose and
distance; the ratio (1 = as open as usual) is mapped to closure by a monotone calibration
curve measured against ground truth, because the face mesh responds non-linearly: half a lid
closure lowers the eye aspect ratio by only about 18 %, the last third of the travel by 60 %.

Short gaps (invalid frames) inside one subject track are bridged by linear interpolation;
longer gaps stay NaN and are never counted as closed. See docs/analysis.md.
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
    local_reference_window_s : float
        Short window (s) in which the reference may follow the open eye's quicker changes
        (smiling, talking), within 70-100 % of the long-window reference (0 disables).
    min_reference_frames : int
        Windows with fewer valid frames use the whole recording's value.
    calibration : tuple of (ratio, closure) pairs
        Piecewise-linear map from ``measure / open_reference`` (ascending) to closure 0-1,
        measured on the synthetic sample videos (bilateral closures, medians per 0.05 of
        closure; docs/analysis.md). Ratios beyond the ends clip to 1 (closed) and 0 (open).
    max_bridge_s : float
        Gaps of invalid frames up to this long are interpolated; longer ones stay NaN.
    """

    measure: str = "ear"
    reference_window_s: float = 60.0
    reference_quantile: float = 0.95
    reference_open_fraction: float = 0.9
    reference_step_s: float = 1.0
    min_reference_frames: int = 50
    local_reference_window_s: float = 2.0
    calibration: tuple = ((0.22, 1.0), (0.29, 0.875), (0.39, 0.825), (0.565, 0.775), (0.67, 0.725),
                          (0.76, 0.625), (0.84, 0.475), (0.90, 0.33), (0.95, 0.22), (1.0, 0.0))
    max_bridge_s: float = 0.1


def _open_level(values: np.ndarray, *, quantile: float, open_fraction: float) -> float:
    high = np.quantile(values, quantile)
    return float(np.median(values[values >= open_fraction * high]))


def _windowed(t_valid, v_valid, grid, window_s, min_frames, func, fallback):
    starts = np.searchsorted(t_valid, grid - window_s / 2, side="left")
    stops = np.searchsorted(t_valid, grid + window_s / 2, side="right")
    return np.array([func(v_valid[a:b]) if b - a >= min_frames else fallback for a, b in zip(starts, stops)])


def open_reference(values: np.ndarray, time_s: np.ndarray, *, window_s: float, quantile: float,
                   open_fraction: float, step_s: float, min_frames: int, local_window_s: float = 0.0,
                   local_floor: float = 0.7, local_open_share: float = 0.6) -> np.ndarray:
    """Typical open-eye value of ``values`` (NaN = invalid) in a centred moving window, per frame.

    With ``local_window_s`` > 0 the reference also follows quicker changes of the open eye
    (a smile or talking narrows the eyes for a few seconds): in each short window where at
    least ``local_open_share`` of the frames look open (>= ``local_floor`` x the long-window reference),
    the short window's own open level is used, but never below ``local_floor`` x and never
    above the long-window reference. Windows dominated by closure keep the long reference,
    so a long spasm is never taken for the open eye.

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
    if local_window_s > 0:
        local_grid = np.arange(time_s[0], time_s[-1] + step_s / 4, step_s / 4)
        long_ref = np.interp(local_grid, grid, ref)
        local = _windowed(t_valid, v_valid, local_grid, local_window_s, 3, level, np.nan)
        frames = np.searchsorted(t_valid, local_grid + local_window_s / 2, side="right") - \
            np.searchsorted(t_valid, local_grid - local_window_s / 2, side="left")
        open_counts = np.array([np.sum(v_valid[(t_valid >= g - local_window_s / 2) & (t_valid <= g + local_window_s / 2)]
                                       >= local_floor * r) for g, r in zip(local_grid, long_ref)])
        use_local = np.isfinite(local) & (open_counts >= local_open_share * np.maximum(frames, 1))
        adjusted = np.where(use_local, np.clip(local, local_floor * long_ref, long_ref), long_ref)
        return np.interp(time_s, local_grid, adjusted)
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


def closure_fraction(values: np.ndarray, reference: np.ndarray, *, calibration) -> np.ndarray:
    """Map an eyelid measure to closure 0-1 given its open reference (NaN stays NaN)."""
    ratio = np.asarray(values, dtype=float) / np.asarray(reference, dtype=float)
    knots = np.asarray(calibration, dtype=float)
    out = np.interp(ratio, knots[:, 0], knots[:, 1])
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
    bridged : ndarray (n,) bool
        Frames whose value was interpolated across a short gap.
    valid : ndarray (n,) bool
        Frames with a closure value (measured or bridged), for both eyes.
    settings : ClosureSettings
    """

    time_s: np.ndarray
    closure: dict
    reference: dict
    bridged: np.ndarray
    valid: np.ndarray
    settings: ClosureSettings


def closure_signal(columns: dict, settings: ClosureSettings = ClosureSettings()) -> ClosureSignal:
    """Compute both eyes' closure from trace columns (``time_s``, ``valid``, ``subject_track``,
    and ``<measure>_left/right``)."""
    time_s = np.asarray(columns["time_s"], dtype=float)
    valid = np.asarray(columns["valid"]).astype(bool)
    track = np.asarray(columns.get("subject_track", np.zeros(len(time_s))))
    closure, reference = {}, {}
    bridged_any = np.zeros(len(time_s), dtype=bool)
    for side in SIDES:
        values = np.where(valid, np.asarray(columns[f"{settings.measure}_{side}"], dtype=float), np.nan)
        ref = open_reference(values, time_s, window_s=settings.reference_window_s,
                             quantile=settings.reference_quantile,
                             open_fraction=settings.reference_open_fraction,
                             step_s=settings.reference_step_s, min_frames=settings.min_reference_frames,
                             local_window_s=settings.local_reference_window_s)
        raw = closure_fraction(values, ref, calibration=settings.calibration)
        closure[side], bridged = bridge_gaps(raw, time_s, max_gap_s=settings.max_bridge_s, segment=track)
        reference[side] = ref
        bridged_any |= bridged
    both = np.isfinite(closure["left"]) & np.isfinite(closure["right"])
    return ClosureSignal(time_s=time_s, closure=closure, reference=reference, bridged=bridged_any,
                         valid=both, settings=settings)
