"""Clinical metrics per eye, per recording and per minute (pure: arrays and events in, numbers out).

Every metric is defined in docs/analysis.md with its unit. Rates are per minute of *valid*
video (frames with a closure value), so lost-face time neither adds nor removes blinks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spasmcv.analysis.closure import SIDES, ClosureSignal
from spasmcv.analysis.events import Events, closures, event_mask, flutter_bursts, frame_durations

#: Normal spontaneous blink rates (blinks/min) by recording task: mean, and the range used
#: as normal. Rest: about 17/min, 95 % range roughly 8-21 (Bentivoglio et al., Mov Disord
#: 1997); conversation about 26/min and reading about 4.5/min (same source); their ranges are
#: the rest range scaled by the ratio of means (an assumption, stated in docs/analysis.md).
#: ``bsp_threshold`` is the resting rate best separating blepharospasm from controls (about
#: 27/min), scaled the same way.
TASK_NORMS = {
    "rest": {"blink_rate_mean": 17.0, "blink_rate_range": (8.0, 21.0), "bsp_threshold": 27.0},
    "conversation": {"blink_rate_mean": 26.0, "blink_rate_range": (12.2, 32.1), "bsp_threshold": 41.3},
    "reading": {"blink_rate_mean": 4.5, "blink_rate_range": (2.1, 5.6), "bsp_threshold": 7.1},
}
#: Normal blink duration (onset to offset), seconds.
NORMAL_BLINK_DURATION_S = (0.1, 0.4)


@dataclass(frozen=True)
class MetricSettings:
    """Parameters of the metrics.

    Attributes
    ----------
    closed_level, perclos_level : float
        Closure counted as "closed" for ``share_closed`` (0.5) and PERCLOS (0.8).
    open_level : float
        Frames below this closure count as open (for the open-eye aperture).
    minute_s : float
        Length of the per-minute bins, seconds.
    """

    closed_level: float = 0.5
    perclos_level: float = 0.8
    open_level: float = 0.1
    minute_s: float = 60.0


def _quantiles(values, qs) -> list[float]:
    values = np.asarray(values, dtype=float)
    return [float(np.quantile(values, q)) if values.size else float("nan") for q in qs]


def frame_contributions(time_s: np.ndarray, closure: np.ndarray, events: list, *,
                        aperture_mm: np.ndarray | None = None, settings: MetricSettings = MetricSettings(),
                        carried: list = ()) -> dict:
    """Per-frame contributions of one eye from which each headline metric is a sum, a maximum or
    a median over frames (:data:`HEADLINE_RULES`). The visit comparison's bootstrap resamples
    these frames and applies the same definitions.

    Keys: ``valid_s`` (seconds the frame stands for if it has a closure value), ``closed_s``
    (the same, inside a counted closure with closure >= ``closed_level``), event counts at each
    counted closure's onset frame (``closures``, ``blinks`` outside flutter bursts,
    ``prolonged``, ``spasms``, ``bursts`` at a burst's first closure), ``duration_s`` (a
    closure's duration at its onset frame, else 0) and ``aperture_open_mm`` (``aperture_mm`` on
    open-eye frames, else NaN). ``carried``: closures listed in a neighbouring part
    (:attr:`Events.carried`) that run into these frames: their frames here are closed time, they
    are counted where they are listed.
    """
    time_s = np.asarray(time_s, dtype=float)
    closure = np.asarray(closure, dtype=float)
    n = len(time_s)
    frame_s = frame_durations(time_s)
    measured = np.isfinite(closure)
    events = closures(events)
    onset = np.clip(np.searchsorted(time_s, [e.onset_s for e in events], side="left"), 0, max(n - 1, 0))

    def count(selected) -> np.ndarray:
        array = np.zeros(n)
        mask = np.asarray(selected, dtype=bool)
        if mask.any():
            np.add.at(array, onset[mask], 1.0)
        return array

    first_of_burst, seen = [], set()
    for e in events:
        first_of_burst.append(e.flutter_burst is not None and e.flutter_burst not in seen)
        seen.add(e.flutter_burst)
    duration = np.zeros(n)
    if events:
        np.maximum.at(duration, onset, np.array([e.duration_s for e in events]))
    # closed time counts only inside closure events: lids lowered by looking down or by the
    # other eye's closure, and quick glances (partial/coupled/glance events) are not eyes closed
    in_closure = event_mask(time_s, events + closures(list(carried)))
    with np.errstate(invalid="ignore"):
        closed = in_closure & (closure >= settings.closed_level)
        is_open = measured & (closure < settings.open_level)
    aperture = np.full(n, np.nan) if aperture_mm is None else np.asarray(aperture_mm, dtype=float)
    return {
        "valid_s": np.where(measured, frame_s, 0.0),
        "closed_s": np.where(closed, frame_s, 0.0),
        "closures": count([True] * len(events)),
        "blinks": count([e.kind == "blink" and e.flutter_burst is None for e in events]),
        "prolonged": count([e.kind == "prolonged" for e in events]),
        "spasms": count([e.kind == "spasm" for e in events]),
        "bursts": count(first_of_burst),
        "duration_s": duration,
        "aperture_open_mm": np.where(is_open, aperture, np.nan),
    }


def _rate(counts, valid_s):
    """Events per minute of measured time (NaN without measured time)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid_s > 0, counts / np.where(valid_s > 0, valid_s, 1.0) * 60.0, np.nan)


def _nanmedian_last(values: np.ndarray):
    has = np.isfinite(values).any(axis=-1)
    out = np.full(has.shape, np.nan)
    if np.any(has):
        out[has] = np.nanmedian(values[has], axis=-1)
    return out


def _sum(name):
    return lambda c: c[name].sum(axis=-1)


#: The headline metrics as functions of :func:`frame_contributions` (frames on the last axis;
#: earlier axes are bootstrap replicates). The one definition of each rate and share.
HEADLINE_RULES = {
    "valid_time_s": _sum("valid_s"),
    "closure_rate_per_min": lambda c: _rate(c["closures"].sum(axis=-1), c["valid_s"].sum(axis=-1)),
    "blink_rate_per_min": lambda c: _rate(c["blinks"].sum(axis=-1), c["valid_s"].sum(axis=-1)),
    "prolonged_rate_per_min": lambda c: _rate(c["prolonged"].sum(axis=-1), c["valid_s"].sum(axis=-1)),
    "spasm_rate_per_min": lambda c: _rate(c["spasms"].sum(axis=-1), c["valid_s"].sum(axis=-1)),
    "flutter_bursts_per_min": lambda c: _rate(c["bursts"].sum(axis=-1), c["valid_s"].sum(axis=-1)),
    "share_closed": lambda c: np.where(c["valid_s"].sum(axis=-1) > 0,
                                       c["closed_s"].sum(axis=-1) / np.maximum(c["valid_s"].sum(axis=-1), 1e-12),
                                       np.nan),
    "longest_closure_s": lambda c: np.where(c["valid_s"].sum(axis=-1) > 0, c["duration_s"].max(axis=-1, initial=0.0),
                                            np.nan),
    "open_aperture_mm": lambda c: _nanmedian_last(c["aperture_open_mm"]),
}


#: the per-eye event counts; ``None`` for an eye without measured time
COUNT_KEYS = ("closure_count", "blink_count", "prolonged_count", "spasm_count", "flutter_burst_count", "review_count")


def eye_metrics(time_s: np.ndarray, closure: np.ndarray, events: list, *, aperture_mm: np.ndarray | None = None,
                settings: MetricSettings = MetricSettings(), carried: list = ()) -> dict:
    """Metrics of one eye over the frames given (see docs/analysis.md for each key); the headline
    rates and shares through :data:`HEADLINE_RULES` (``carried``: :func:`frame_contributions`)."""
    closure = np.asarray(closure, dtype=float)
    review = [e for e in events if e.kind == "review"]
    events = closures(events)
    frame_s = frame_durations(time_s)
    contributions = frame_contributions(time_s, closure, events, aperture_mm=aperture_mm, settings=settings,
                                        carried=carried)
    headline = {name: float(rule(contributions)) for name, rule in HEADLINE_RULES.items()}
    valid_s = headline["valid_time_s"]
    blinks = [e for e in events if e.kind == "blink" and e.flutter_burst is None]
    spasms = [e for e in events if e.kind == "spasm"]
    prolonged = [e for e in events if e.kind == "prolonged"]
    bursts = {e.flutter_burst for e in events if e.flutter_burst is not None}
    durations = [e.duration_s for e in blinks]
    onsets = np.array([e.onset_s for e in events])
    intervals = np.diff(onsets)
    q25, q50, q75, q90 = _quantiles(durations, (0.25, 0.5, 0.75, 0.9))
    in_closure = event_mask(time_s, events + closures(list(carried)))
    out = {
        "valid_time_s": valid_s,
        "closure_count": len(events),
        "closure_rate_per_min": headline["closure_rate_per_min"],
        "blink_count": len(blinks),
        "blink_rate_per_min": headline["blink_rate_per_min"],
        "incomplete_blink_share": float(np.mean([not e.complete for e in blinks])) if blinks else float("nan"),
        "blink_duration_median_s": q50,
        "blink_duration_q25_s": q25,
        "blink_duration_q75_s": q75,
        "blink_duration_p90_s": q90,
        "prolonged_count": len(prolonged),
        "prolonged_rate_per_min": headline["prolonged_rate_per_min"],
        "spasm_count": len(spasms),
        "spasm_rate_per_min": headline["spasm_rate_per_min"],
        "spasm_total_s": float(sum(e.duration_s for e in spasms)) if valid_s else float("nan"),
        "flutter_burst_count": len(bursts),
        "flutter_bursts_per_min": headline["flutter_bursts_per_min"],
        "longest_closure_s": headline["longest_closure_s"],
        "review_count": len(review),
        "share_closed": headline["share_closed"],
        "perclos": float(frame_s[in_closure & (closure >= settings.perclos_level)].sum() / valid_s) if valid_s else float("nan"),
        "inter_closure_interval_median_s": float(np.median(intervals)) if intervals.size else float("nan"),
        "inter_closure_interval_cv": float(np.std(intervals) / np.mean(intervals)) if intervals.size > 1 else float("nan"),
        "open_aperture_mm": headline["open_aperture_mm"],
    }
    if not valid_s:  # nothing measured is not "nothing happened": no count either
        out.update({key: None for key in COUNT_KEYS})
    return out


def shown_metric(eye: dict, key: str, gradable: bool) -> float | None:
    """The value of metric ``key`` of one eye's metrics (``metrics[side]`` of the analysis) as a
    summary, comparison or report shows it: a rate per minute (``..._per_min``) of a recording too
    short or too poorly measured to grade is not a rate (one blink in 1.25 s reads 48 a minute) and
    is NaN; anything else (an aperture, a count, a duration) as measured."""
    value = eye.get(key)
    return float("nan") if key.endswith("_per_min") and not gradable else value


def asymmetry(left: float, right: float) -> float:
    """(left - right) / (left + right): -1 only the right, 0 equal, +1 only the left (NaN if both 0)."""
    total = left + right
    return float((left - right) / total) if total and np.isfinite(total) else float("nan")


def recording_metrics(signal: ClosureSignal, events: Events, columns: dict, *, gate: dict | None = None,
                      settings: MetricSettings = MetricSettings()) -> dict:
    """Per-eye metrics, bilateral/unilateral counts, left/right asymmetry and data quality
    (``gate``: the quality gate's verdict, :func:`spasmcv.analysis.quality.quality_summary`, added as is)."""
    per_eye = {side: eye_metrics(signal.time_s, signal.closure[side], events.per_eye[side],
                                 aperture_mm=columns.get(f"aperture_mm_{side}"), settings=settings,
                                 carried=events.carried.get(side, []))
               for side in SIDES}
    paired = events.paired
    frame_s = frame_durations(signal.time_s)
    total_s = float(frame_s.sum())
    valid = np.asarray(columns["valid"]).astype(bool)
    head = {}
    for angle in ("yaw", "pitch", "roll"):
        values = np.asarray(columns.get(f"head_{angle}_deg", np.full(len(valid), np.nan)), dtype=float)[valid]
        head[f"head_{angle}_median_deg"] = float(np.median(values)) if values.size else float("nan")
        head[f"head_{angle}_sd_deg"] = float(np.std(values)) if values.size else float("nan")
    measured = per_eye["left"]["valid_time_s"] > 0 or per_eye["right"]["valid_time_s"] > 0
    return {
        "left": per_eye["left"],
        "right": per_eye["right"],
        "bilateral_count": sum(p.eye == "both" for p in paired) if measured else None,
        "unilateral_left_count": sum(p.eye == "left" and p.left.other_eye_measured for p in paired)
        if measured else None,
        "unilateral_right_count": sum(p.eye == "right" and p.right.other_eye_measured for p in paired)
        if measured else None,
        "one_eye_measured_count": sum(p.eye != "both" and not (p.left or p.right).other_eye_measured
                                      for p in paired) if measured else None,
        "asymmetry": {
            "closure_rate": asymmetry(per_eye["left"]["closure_rate_per_min"], per_eye["right"]["closure_rate_per_min"]),
            "share_closed": asymmetry(per_eye["left"]["share_closed"], per_eye["right"]["share_closed"]),
            "open_aperture": asymmetry(per_eye["left"]["open_aperture_mm"], per_eye["right"]["open_aperture_mm"]),
        },
        "quality": {
            "duration_s": total_s,
            "valid_time_s": float(frame_s[signal.valid].sum()),
            "valid_share": float(frame_s[signal.valid].sum() / total_s) if total_s else float("nan"),
            "bridged_share": float(frame_s[signal.bridged].sum() / total_s) if total_s else float("nan"),
            "longest_gap_s": _longest_run_s(~signal.valid, frame_s),
            **head,
            **(gate or {}),
        },
    }


def _longest_run_s(mask: np.ndarray, frame_s: np.ndarray) -> float:
    best = current = 0.0
    for m, d in zip(mask, frame_s):
        current = current + d if m else 0.0
        best = max(best, current)
    return float(best)


def _minute_of(time_s: float, t0: float, n_bins: int, minute_s: float) -> int:
    """The per-minute bin of a time (s); one before the first frame or past the last bin (a part's
    closure listed there though it begins before the part or after its last minute's start) in the
    first or last bin."""
    starts = [t0 + k * minute_s for k in range(n_bins)]   # as the bins' own lo, so no rounding moves one
    return int(np.clip(np.searchsorted(starts, time_s, side="right") - 1, 0, n_bins - 1))


def per_minute(signal: ClosureSignal, events: Events, *, settings: MetricSettings = MetricSettings()) -> list[dict]:
    """One row per eye and minute: valid seconds, closures, blinks, spasms, share closed (a
    closure counts in the minute it begins in; its frames in later minutes are their time closed)."""
    rows = []
    if len(signal.time_s) == 0:
        return rows
    t0, t_end = float(signal.time_s[0]), float(signal.time_s[-1])
    t_stop = t_end + float(frame_durations(signal.time_s)[-1])   # the last frame stands for its own time too
    n_bins = max(1, int(np.ceil((t_end - t0 + 1e-9) / settings.minute_s)))
    # a burst counts in the minute its first closure begins in, like a closure: one whose closures
    # run across a minute's edge was counted in both minutes (analysis-27)
    burst_minutes = {side: [_minute_of(b.onset_s, t0, n_bins, settings.minute_s)
                            for b in flutter_bursts(events.per_eye[side])] for side in SIDES}
    for k in range(n_bins):
        lo, hi = t0 + k * settings.minute_s, t0 + (k + 1) * settings.minute_s
        in_bin = (signal.time_s >= lo) & (signal.time_s < hi)
        for side in SIDES:
            evs = [e for e in events.per_eye[side] if _minute_of(e.onset_s, t0, n_bins, settings.minute_s) == k]
            # closures running into the minute: from an earlier minute, or carried into a part
            before = ([e for e in events.per_eye[side] if e.onset_s < lo <= e.offset_s]
                      + [e for e in events.carried.get(side, []) if e.offset_s >= lo])
            m = eye_metrics(signal.time_s[in_bin], signal.closure[side][in_bin], evs, settings=settings, carried=before)
            if m["flutter_burst_count"] is not None and np.isfinite(m["flutter_burst_count"]):
                m["flutter_burst_count"] = burst_minutes[side].count(k)
            rows.append({"minute": k, "start_s": lo, "end_s": min(hi, t_stop), "eye": side,
                         "valid_time_s": m["valid_time_s"], "closure_count": m["closure_count"],
                         "blink_count": m["blink_count"], "blink_rate_per_min": m["blink_rate_per_min"],
                         "spasm_count": m["spasm_count"], "flutter_burst_count": m["flutter_burst_count"],
                         "share_closed": m["share_closed"]})
    return rows
