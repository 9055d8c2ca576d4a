"""Closure events per eye and across eyes: blinks, prolonged closures, spasms, flutter bursts.

Pure functions over a :class:`~spasmcv.closure.ClosureSignal`. There is deliberately **no
upper limit** on an event's duration: a closure lasting many seconds is a spasm, the very thing
being measured, not an artefact. Frames without a closure value end an event (marked
``truncated``); they are never counted as closed.

Definitions (docs/analysis.md):

* an event's *core* starts where closure reaches ``core_threshold`` and ends where it falls
  below ``release_threshold`` (hysteresis);
* onset and offset are where closure crosses ``boundary_threshold`` before and after the core,
  or, if the lid stops moving earlier (below half the event's peak, closure no longer falling
  by ``valley_tolerance`` per frame: the eye settled at a narrower-than-usual opening), there;
  linearly interpolated between frames, then (``extrapolate_boundaries``) extended down to
  closure 0 - the lid's first and last movement - assuming the lid leaves and reaches rest
  smoothly (sqrt(closure) linear in time through the boundary and core crossings), by at
  most one frame interval or ``max_extrapolation_s``, whichever is longer; adjacent events
  are split at the deepest reopening;
* kind by duration (offset - onset): blink < ``prolonged_s`` <= prolonged < ``spasm_s`` <= spasm;
* a lowering that lasts at least ``prolonged_s`` but never passes ``partial_peak`` closure is
  kind ``partial``: the lids lowered without closing (looking down, an expression); it is
  reported but not counted as a closure;
* an event whose peak stays under ``partial_peak`` while, at its apex, the other eye is in a
  closure at least ``coupled_margin`` deeper is kind ``coupled``: the face mesh couples the
  eyes, so a one-eye closure drags the open eye's reading down to about half (hemifacial
  spasm); not counted;
* a flutter burst is ``flutter_min_closures`` or more consecutive events each shorter than
  ``prolonged_s``, separated by reopenings shorter than ``flutter_max_gap_s``;
* left and right events overlapping by at least half of the shorter one are one bilateral event.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .closure import SIDES, ClosureSignal


@dataclass(frozen=True)
class EventSettings:
    """Thresholds of event detection (closure fractions 0-1 and seconds)."""

    core_threshold: float = 0.45
    release_threshold: float = 0.3
    boundary_threshold: float = 0.1
    complete_threshold: float = 0.85
    partial_peak: float = 0.8
    coupled_margin: float = 0.3
    prolonged_s: float = 0.5
    spasm_s: float = 1.0
    flutter_min_closures: int = 3
    flutter_max_gap_s: float = 0.3
    pair_min_overlap: float = 0.5
    extrapolate_boundaries: bool = True
    valley_tolerance: float = 0.02
    max_extrapolation_s: float = 0.05


@dataclass(frozen=True)
class EyeEvent:
    """One closure of one eye (times in seconds from the first frame)."""

    eye: str
    onset_s: float
    apex_s: float
    offset_s: float
    peak_closure: float
    closed_s: float
    kind: str
    complete: bool
    truncated: bool
    flutter_burst: int | None = None

    @property
    def duration_s(self) -> float:
        return self.offset_s - self.onset_s


@dataclass(frozen=True)
class FlutterBurst:
    """A run of quick closures of one eye."""

    eye: str
    burst_id: int
    onset_s: float
    offset_s: float
    n_closures: int

    @property
    def duration_s(self) -> float:
        return self.offset_s - self.onset_s


@dataclass(frozen=True)
class PairedEvent:
    """A closure event across both eyes: bilateral (``eye="both"``) or unilateral."""

    eye: str
    onset_s: float
    apex_s: float
    offset_s: float
    kind: str
    left: EyeEvent | None
    right: EyeEvent | None

    @property
    def duration_s(self) -> float:
        return self.offset_s - self.onset_s


@dataclass(frozen=True)
class Events:
    """All events of a recording; ``summary()`` gives one row per event."""

    per_eye: dict = field(default_factory=dict)        # side -> list[EyeEvent]
    bursts: dict = field(default_factory=dict)         # side -> list[FlutterBurst]
    paired: list = field(default_factory=list)         # list[PairedEvent]
    settings: EventSettings = EventSettings()

    def summary(self) -> list[dict]:
        """One dict per eye event, in time order (columns: eye, kind, onset_s, apex_s, ...)."""
        rows = []
        for side in SIDES:
            for event in self.per_eye.get(side, []):
                row = asdict(event)
                row["duration_s"] = event.duration_s
                rows.append(row)
        return sorted(rows, key=lambda r: (r["onset_s"], r["eye"]))


_KIND_ORDER = {"coupled": -2, "partial": -1, "blink": 0, "prolonged": 1, "spasm": 2}
#: Kinds that count as eyelid closures in rates, durations and severity.
CLOSURE_KINDS = ("blink", "prolonged", "spasm")


def _crossing(time_s, closure, i_below, i_above, level) -> float:
    """Time where closure crosses ``level`` between frames ``i_below`` and ``i_above``."""
    c0, c1 = closure[i_below], closure[i_above]
    if not (np.isfinite(c0) and np.isfinite(c1)) or c0 == c1:
        return float(time_s[i_above])
    frac = np.clip((level - c0) / (c1 - c0), 0.0, 1.0)
    return float(time_s[i_below] + frac * (time_s[i_above] - time_s[i_below]))


def _rest_factor(boundary: float, core: float) -> float:
    """Time from the boundary crossing to the lid at rest, per unit of core-to-boundary time.

    The lid starts and ends a movement at rest, so near either end closure grows with the
    square of the time from rest (constant acceleration): sqrt(closure) is linear in time.
    """
    return float(np.sqrt(boundary) / (np.sqrt(core) - np.sqrt(boundary)))


def _cores(closure: np.ndarray, high: float, low: float) -> list[tuple[int, int]]:
    """Index ranges [start, stop) where closure is in a hysteresis 'closed' state."""
    cores, start = [], None
    for i, c in enumerate(closure):
        if start is None:
            if np.isfinite(c) and c >= high:
                start = i
        elif not np.isfinite(c) or c < low:
            cores.append((start, i))
            start = None
    if start is not None:
        cores.append((start, len(closure)))
    return cores


def detect_eye_events(time_s: np.ndarray, closure: np.ndarray, *, eye: str,
                      settings: EventSettings = EventSettings()) -> list[EyeEvent]:
    """Closure events of one eye.

    Parameters
    ----------
    time_s : ndarray (n,)
        Frame times, s.
    closure : ndarray (n,)
        0-1 closure with NaN where not measurable.
    eye : {"left", "right"}
    settings : EventSettings
    """
    time_s = np.asarray(time_s, dtype=float)
    closure = np.asarray(closure, dtype=float)
    n = len(closure)
    cores = _cores(closure, settings.core_threshold, settings.release_threshold)
    # Split points between neighbouring cores: the deepest reopening between them.
    limits = [0]
    for (_, stop_a), (start_b, _) in zip(cores, cores[1:]):
        between = closure[stop_a - 1:start_b + 1]
        limits.append(stop_a - 1 + int(np.nanargmin(between)))
    limits.append(n - 1)
    frame_s = frame_durations(time_s)
    b = settings.boundary_threshold
    events = []
    for k, (start, stop) in enumerate(cores):
        lo, hi = limits[k], limits[k + 1]
        truncated = False
        half = 0.5 * float(np.nanmax(closure[start:stop]))
        i = start  # walk back to the onset
        while i > lo and np.isfinite(closure[i - 1]) and closure[i - 1] >= b and not (
                closure[i] < half and closure[i - 1] > closure[i] - settings.valley_tolerance):
            i -= 1
        if i == 0:
            onset, truncated = float(time_s[0]), True
        elif i == lo or closure[i - 1] >= b:  # split at the deepest reopening, or a plateau
            onset = float(time_s[i])
        elif not np.isfinite(closure[i - 1]):
            onset, truncated = float(time_s[i]), True
        else:
            onset = _crossing(time_s, closure, i - 1, i, b)
            if settings.extrapolate_boundaries and start > 0:
                # extend the closing movement (boundary -> core crossing) back to rest
                t_core = _crossing(time_s, closure, start - 1, start, settings.core_threshold)
                onset = max(onset - (t_core - onset) * _rest_factor(b, settings.core_threshold),
                            min(float(time_s[i - 1]), onset - settings.max_extrapolation_s))
        j = stop - 1  # walk forward to the offset
        while j < hi and np.isfinite(closure[j + 1]) and closure[j + 1] >= b and not (
                closure[j] < half and closure[j + 1] > closure[j] - settings.valley_tolerance):
            j += 1
        if j == n - 1:
            offset, truncated = float(time_s[j]), True
        elif j == hi or (np.isfinite(closure[j + 1]) and closure[j + 1] >= b):
            offset = float(time_s[j])
        elif not np.isfinite(closure[j + 1]):
            offset, truncated = float(time_s[j]), True
        else:
            offset = _crossing(time_s, closure, j + 1, j, b)
            last_core = start + int(np.flatnonzero(closure[start:stop] >= settings.core_threshold)[-1])
            if settings.extrapolate_boundaries and last_core + 1 < n and np.isfinite(closure[last_core + 1]):
                t_core = _crossing(time_s, closure, last_core + 1, last_core, settings.core_threshold)
                offset = min(offset + (offset - t_core) * _rest_factor(b, settings.core_threshold),
                             max(float(time_s[j + 1]), offset + settings.max_extrapolation_s))
        apex = start + int(np.nanargmax(closure[start:stop]))
        peak = float(closure[apex])
        closed = float(np.sum(frame_s[i:j + 1][closure[i:j + 1] >= 0.5]))
        duration = offset - onset
        kind = ("spasm" if duration >= settings.spasm_s
                else "prolonged" if duration >= settings.prolonged_s else "blink")
        if kind != "blink" and peak < settings.partial_peak:
            kind = "partial"
        events.append(EyeEvent(eye=eye, onset_s=onset, apex_s=float(time_s[apex]), offset_s=offset,
                               peak_closure=peak, closed_s=closed, kind=kind,
                               complete=peak >= settings.complete_threshold, truncated=truncated))
    return events


def closures(events: list[EyeEvent]) -> list[EyeEvent]:
    """The events that count as eyelid closures (blink, prolonged, spasm)."""
    return [e for e in events if e.kind in CLOSURE_KINDS]


def event_mask(time_s: np.ndarray, events: list) -> np.ndarray:
    """True for frames between an event's onset and offset (inclusive)."""
    time_s = np.asarray(time_s, dtype=float)
    mask = np.zeros(len(time_s), dtype=bool)
    for event in events:
        lo = np.searchsorted(time_s, event.onset_s, side="left")
        hi = np.searchsorted(time_s, event.offset_s, side="right")
        mask[lo:hi] = True
    return mask


def frame_durations(time_s: np.ndarray) -> np.ndarray:
    """Seconds each frame stands for: the interval to the next frame (the median for the last)."""
    time_s = np.asarray(time_s, dtype=float)
    if len(time_s) < 2:
        return np.zeros(len(time_s))
    step = np.diff(time_s)
    return np.r_[step, np.median(step)]


def _mark_flutter(events: list[EyeEvent], settings: EventSettings) -> list[EyeEvent]:
    """Give consecutive short closures with short reopenings a shared flutter burst id."""
    out = list(events)
    run: list[int] = []
    burst = 0

    def close_run():
        nonlocal burst
        if len(run) >= settings.flutter_min_closures:
            for i in run:
                out[i] = EyeEvent(**{**asdict(out[i]), "flutter_burst": burst})
            burst += 1

    for i, event in enumerate(events):
        if event.kind not in CLOSURE_KINDS:
            continue
        short = event.duration_s < settings.prolonged_s
        if short and run and event.onset_s - events[run[-1]].offset_s <= settings.flutter_max_gap_s:
            run.append(i)
        else:
            close_run()
            run = [i] if short else []
    close_run()
    return out


def flutter_bursts(events: list[EyeEvent]) -> list[FlutterBurst]:
    """Group events sharing a ``flutter_burst`` id into bursts."""
    bursts: dict[int, list[EyeEvent]] = {}
    for event in events:
        if event.flutter_burst is not None:
            bursts.setdefault(event.flutter_burst, []).append(event)
    return [FlutterBurst(eye=members[0].eye, burst_id=bid, onset_s=members[0].onset_s,
                         offset_s=members[-1].offset_s, n_closures=len(members))
            for bid, members in sorted(bursts.items())]


def pair_events(left: list[EyeEvent], right: list[EyeEvent], *, min_overlap: float = 0.5) -> list[PairedEvent]:
    """Join left and right events that overlap by ``min_overlap`` of the shorter one."""
    used_right: set[int] = set()
    paired = []
    for l_event in left:
        best, best_overlap = None, 0.0
        for k, r_event in enumerate(right):
            if k in used_right:
                continue
            overlap = min(l_event.offset_s, r_event.offset_s) - max(l_event.onset_s, r_event.onset_s)
            shorter = max(min(l_event.duration_s, r_event.duration_s), 1e-9)
            if overlap / shorter >= min_overlap and overlap > best_overlap:
                best, best_overlap = k, overlap
        if best is None:
            paired.append(_paired("left", l_event, None))
        else:
            used_right.add(best)
            paired.append(_paired("both", l_event, right[best]))
    paired += [_paired("right", None, r) for k, r in enumerate(right) if k not in used_right]
    return sorted(paired, key=lambda p: p.onset_s)


def _paired(eye: str, left: EyeEvent | None, right: EyeEvent | None) -> PairedEvent:
    members = [e for e in (left, right) if e is not None]
    apex_event = max(members, key=lambda e: e.peak_closure)
    kind = max((e.kind for e in members), key=_KIND_ORDER.get)
    return PairedEvent(eye=eye, onset_s=min(e.onset_s for e in members), apex_s=apex_event.apex_s,
                       offset_s=max(e.offset_s for e in members), kind=kind, left=left, right=right)


def mark_coupled(events: list[EyeEvent], other: list[EyeEvent], *, settings: EventSettings) -> list[EyeEvent]:
    """Re-label shallow events whose apex falls inside a deeper closure of the other eye as ``coupled``."""
    out = []
    for event in events:
        deep_other = any(
            o.peak_closure >= event.peak_closure + settings.coupled_margin
            and o.onset_s <= event.apex_s <= o.offset_s
            for o in other)
        if deep_other and event.peak_closure < settings.partial_peak:
            event = EyeEvent(**{**asdict(event), "kind": "coupled", "flutter_burst": None})
        out.append(event)
    return out


def detect_events(signal: ClosureSignal, settings: EventSettings = EventSettings()) -> Events:
    """Per-eye events, flutter bursts and bilateral pairing for a closure signal.

    Only closures (:data:`CLOSURE_KINDS`) are grouped into flutter bursts and paired across
    eyes; ``partial`` and ``coupled`` events stay in ``per_eye`` for inspection.
    """
    raw = {side: detect_eye_events(signal.time_s, signal.closure[side], eye=side, settings=settings)
           for side in SIDES}
    per_eye = {"left": mark_coupled(raw["left"], raw["right"], settings=settings),
               "right": mark_coupled(raw["right"], raw["left"], settings=settings)}
    per_eye = {side: _mark_flutter(events, settings) for side, events in per_eye.items()}
    bursts = {side: flutter_bursts(per_eye[side]) for side in SIDES}
    paired = pair_events(closures(per_eye["left"]), closures(per_eye["right"]),
                         min_overlap=settings.pair_min_overlap)
    return Events(per_eye=per_eye, bursts=bursts, paired=paired, settings=settings)
