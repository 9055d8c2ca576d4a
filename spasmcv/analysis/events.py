"""Closure events per eye and across eyes: blinks, prolonged closures, spasms, flutter bursts.

Pure functions over a :class:`~spasmcv.analysis.closure.ClosureSignal`. There is deliberately **no
upper limit** on an event's duration: a closure lasting many seconds is a spasm, the very thing
being measured, not an artefact. Frames without a closure value end an event (marked
``truncated``); they are never counted as closed.

Definitions (docs/analysis.md), made to reproduce the hand labels of real video
(labels/README.md), so every boundary is a frame of the video:

* a *core* starts where closure reaches ``core_threshold`` and at least ``min_depth`` of the
  way from the most open level of the last ``pre_s`` to fully closed (lids lowered by a
  downward gaze or an expression do not start one: a blink or spasm closes in about 0.1 s,
  a slow lowering moves that level with it; lids that stay at a lowered level without
  closing further, under ``partial_peak`` for ``prolonged_s``, make that the new level) and
  ends at the first frame where the lid has come back ``reopen_fraction`` of the way from the
  deepest closure to the level before the event (the most open frame in the ``pre_s`` before
  it); a new core after a reopening needs
  the closure to rise again by ``reentry`` above the reopening, so a double blink stays two;
  a core also ends at a partial reopening: where the eye reopens by ``partial_reopening`` from
  the deepest closure, in the 3-frame median or, when the other eye reopens as far on the same
  frame, for a single frame, and then closes again by ``reentry`` (a blink into a lowered gaze
  followed by another blink, a flutter whose reopenings stop short of half way), except in a
  video whose iris is smaller than ``min_iris_px``, where lowered and shut lids read alike;
* start (``onset_s``): walking back from the core, the last frame before the lid moved down by
  more than ``onset_step`` of the event's depth in one frame - the last open frame;
* end (``offset_s``): the first frame after the deepest closure at which the eye is back to
  ``end_fraction`` of its opening before the event **or of the narrower level it settles at**
  (the ``settle_quantile`` of the closure in the ``settle_s`` after the reopening; a blink
  reopening into a smile or a lowered gaze ends there); where the next closure starts first,
  the most open frame between them, which is then also the settled level (a flutter's
  one-frame reopenings);
* a core is a closure only if it goes at least ``min_depth`` of the way from that reference
  level to fully closed: a smile or speech narrowing the eye, or a dip from an already
  narrowed eye, is not;
* kind by duration (end - start): blink < ``prolonged_s`` <= prolonged < ``spasm_s`` <= spasm;
  a lowering of ``prolonged_s`` or more whose peak stays under ``partial_peak`` is ``partial``
  (lids lowered without closing; reported, not counted), unless it is one eye's alone: its
  median closure at least ``coupled_margin`` above the other eye's (a wink or hemifacial spasm,
  which the face mesh reads at 0.6-0.8 beside an open eye; lowered lids lower both eyes);
* an event whose peak stays under ``partial_peak`` while, at its apex, the other eye is in a
  closure at least ``coupled_margin`` deeper is ``coupled``: the face mesh couples the eyes,
  so a one-eye closure (a wink, hemifacial spasm) drags the open eye's reading down; not counted;
* a shallow closure (the deeper eye's peak under ``glance_peak``) during which the lower lid did
  not rise by ``min_lower_lid_rise`` (iris diameters, at the deeper eye's apex against its
  median over ``lid_before_s`` before it) is ``glance``: a blink brings the upper lid down and
  lifts the lower lid a little, a quick downward glance takes both lids down; not counted;
* a *shallow blink* (an incomplete blink whose closure stays under ``core_threshold``) is found
  by a second pass with ``shallow_core`` as core threshold and depth; it is counted only when
  both eyes dip together (overlapping shallow events and no other event of either eye there),
  within ``shallow_max_s``, and the deeper eye's lower lid rises by ``min_lower_lid_rise``:
  talking, smiling and glances narrow the eyes as far, but not all three ways at once;
* a closure of ``spasm_s`` or more in a video whose iris is smaller than ``min_iris_px`` is
  ``review``: at that size lids lowered over a downward gaze look exactly like closed lids, to
  a person and to the face mesh, so it is listed for checking by eye and not counted;
* a closure that rests on a face just found again (at most ``lone_max_frames`` consecutive
  measured, not bridged, frames of the eye reach the core threshold, and a neighbour of them has
  no measurement, the face lost or the frame dropped by the quality gate, or the closure starts
  on the first frame measured after one and reads at least half the core threshold on every
  frame before its core: the eye never seen open before it), in both
  eyes or in the only eye that closed, is ``lone_frame``: the face mesh locking on again to a
  face it lost reads a frame or two of the eye shut; not counted;
* a flutter burst is ``flutter_min_closures`` or more consecutive closures each shorter than
  ``prolonged_s`` whose onsets follow each other within ``flutter_max_interval_s`` (about 3 per
  second or faster; a healthy double or triple blink repeats at about 2.5 per second);
* left and right events overlapping by at least half of the longer one are one bilateral event
  (of the shorter one where either is ``truncated``); an event during which the other eye had no
  closure value at all (``other_eye_measured`` False: only the near eye of a turned head is
  measured) is neither bilateral nor unilateral.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from spasmcv.analysis.closure import SIDES, ClosureSignal


@dataclass(frozen=True)
class EventSettings:
    """Thresholds of event detection (the module's docstring gives the rules they enter).

    Attributes
    ----------
    core_threshold : float
        Closure (0-1) at which a core, and so a closure event, starts.
    reopen_fraction : float
        A core ends where the lid has come back this fraction of the way from its deepest
        closure to the level before the event.
    reentry : float
        Closure (0-1) the lid must close again by, above a reopening, to start a new core: a
        double blink stays two.
    onset_step : float
        The start is the last frame before the lid moved down by more than this fraction of the
        event's depth in one frame (the last open frame).
    end_fraction : float
        The end is the first frame back to this fraction of the opening before the event, or of
        the narrower level it settles at.
    settle_s, settle_quantile : float
        The settled level is the ``settle_quantile`` quantile of closure in the ``settle_s``
        seconds after the reopening.
    pre_s : float
        Seconds before a core in which its reference (most open) level is read.
    min_depth : float
        A core must go at least this fraction of the way from the reference level to fully
        closed (a smile, speech, or a dip of a narrowed eye does not).
    complete_threshold : float
        An event whose peak closure reaches this is ``complete``; below it, an incomplete blink.
    partial_peak : float
        A lowering of ``prolonged_s`` or more whose peak stays under this is ``partial`` (lids
        lowered without closing; not counted), unless it is one eye's alone.
    coupled_margin : float
        Closure (0-1) by which one eye must read above the other for its closure to be one eye's
        (a wink, hemifacial spasm), and by which the other eye must be deeper for a shallow
        event to be ``coupled``.
    prolonged_s, spasm_s : float
        Kind by duration, seconds: blink < ``prolonged_s`` <= prolonged < ``spasm_s`` <= spasm.
    min_iris_px : float
        Iris diameter (px) under which a closure of ``spasm_s`` or more is ``review`` (lowered and
        shut lids read alike), and the partial-reopening split is not made.
    glance_peak : float
        A closure whose deeper eye peaks under this is checked for a downward ``glance``.
    min_lower_lid_rise : float or None
        Rise of the lower lid, iris diameters, a shallow closure needs to count (a blink lifts
        it, a glance lowers it); None counts shallow closures whatever the lower lid does.
    lid_before_s : (float, float)
        The lower lid's rise is read against its median from this many seconds before the apex
        to this many seconds before it.
    shallow_core : float or None
        Core threshold and depth of the second pass that finds shallow (incomplete) blinks of both
        eyes; None finds no closure that stays under ``core_threshold``.
    shallow_max_s : float
        Longest shallow blink, seconds.
    flutter_min_closures : int
        A flutter burst is at least this many consecutive closures shorter than ``prolonged_s``...
    flutter_max_interval_s : float
        ...whose onsets follow each other within this many seconds (about 3 per second or faster).
    pair_min_overlap : float
        Left and right events overlapping by at least this fraction of the longer one are one
        bilateral event.
    partial_reopening : float or None
        A core also ends where the eye reopens by this much (closure 0-1) from its deepest closure
        and then closes again by ``reentry``; None turns this off.
    lone_max_frames : int
        A closure resting on at most this many measured frames next to a frame without a face
        (the face mesh locking on again) is ``lone_frame``, not counted.
    """

    core_threshold: float = 0.55
    reopen_fraction: float = 0.5
    reentry: float = 0.3
    onset_step: float = 0.05
    end_fraction: float = 0.9
    settle_s: float = 0.25
    settle_quantile: float = 0.25
    pre_s: float = 0.3
    min_depth: float = 0.4
    complete_threshold: float = 0.85
    partial_peak: float = 0.8
    coupled_margin: float = 0.3
    prolonged_s: float = 0.5
    spasm_s: float = 1.0
    min_iris_px: float = 15.0
    glance_peak: float = 0.6
    min_lower_lid_rise: float | None = 0.05
    lid_before_s: tuple = (0.32, 0.12)
    shallow_core: float | None = 0.3
    shallow_max_s: float = 0.3
    flutter_min_closures: int = 3
    flutter_max_interval_s: float = 0.36
    pair_min_overlap: float = 0.5
    partial_reopening: float | None = 0.3
    lone_max_frames: int = 2


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
    lower_lid_rise: float = float("nan")  # iris diameters at the apex (NaN without lid positions)
    other_eye_measured: bool = True  # False: the other eye had no closure value during it (a turned head)

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
    #: side -> closures listed in a neighbouring part that run into these frames (a part of a
    #: recording, docs/analysis.md): their frames here are time closed; they are counted there
    carried: dict = field(default_factory=dict)

    def summary(self) -> list[dict]:
        """One dict per eye event, in time order: the event's fields, ``duration_s`` and
        ``bilateral`` (paired with the other eye's event; a ``review`` event with the other eye's
        ``review`` event, by the same rule). The rows of ``PREFIX.events.csv`` and of a batch's
        ``events.csv``."""
        review = {side: [e for e in self.per_eye.get(side, []) if e.kind == "review"] for side in SIDES}
        both = [p for p in self.paired + pair_events(review["left"], review["right"],
                                                     min_overlap=self.settings.pair_min_overlap) if p.eye == "both"]
        bilateral = {id(p.left) for p in both} | {id(p.right) for p in both}
        rows = []
        for side in SIDES:
            for event in self.per_eye.get(side, []):
                row = asdict(event)
                row["duration_s"] = event.duration_s
                row["bilateral"] = id(event) in bilateral
                rows.append(row)
        return sorted(rows, key=lambda r: (r["onset_s"], r["eye"]))


def display_kind(event) -> str:
    """How an event is shown and named in every picture and table for people: a blink inside a
    flutter burst is ``flutter``; ``partial``, ``coupled``, ``glance`` and ``lone_frame`` (not
    counted) are all ``partial``; every other kind is itself."""
    if event.kind in ("partial", "coupled", "glance", "lone_frame"):
        return "partial"
    if event.kind == "blink" and event.flutter_burst is not None:
        return "flutter"
    return event.kind


_KIND_ORDER = {"lone_frame": -5, "glance": -4, "coupled": -3, "partial": -2, "review": -1, "blink": 0, "prolonged": 1,
               "spasm": 2}
#: Kinds that count as eyelid closures in rates, durations and severity.
CLOSURE_KINDS = ("blink", "prolonged", "spasm")


def one_eye(closure: np.ndarray, other: np.ndarray | None, first: int, last: int, *,
            settings: EventSettings) -> bool:
    """Whether frames ``first..last`` close this eye alone: its median closure there is at least
    ``coupled_margin`` above the other eye's (False without the other eye's closure). Lids
    lowered over a downward gaze or by a smile lower both eyes alike; a wink or a hemifacial
    spasm does not, though the face mesh reads the shut eye shallower beside an open one."""
    if other is None:
        return False
    here, there = closure[first:last + 1], other[first:last + 1]
    if not (np.isfinite(here).any() and np.isfinite(there).any()):
        return False
    return bool(np.nanmedian(here) - np.nanmedian(there) >= settings.coupled_margin)


def _median3(closure: np.ndarray) -> np.ndarray:
    """Each frame's median with its two neighbours (NaN where the frame has no value): a single
    frame that reads more open or more closed than both neighbours is the face mesh's noise, not
    the eye's level."""
    smooth = closure.copy()
    if len(closure) > 2:
        with warnings.catch_warnings():  # all-NaN triples (gaps) stay NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            inner = np.nanmedian(np.stack([closure[:-2], closure[1:-1], closure[2:]]), axis=0)
        smooth[1:-1] = np.where(np.isfinite(closure[1:-1]), inner, np.nan)
    return smooth


class _PartialReopenings:
    """Where a core may end at a partial reopening, as its frames are walked from the apex:
    ``dip``, the most open frame since the apex in ``smooth`` (the closure's 3-frame median), and
    ``both_dip``, the most open single frame at which the other eye, too, reopened by ``amount``
    from its own peak. The core ends at one of them when the eye then closes again by ``reentry``
    above it (a blink into a lowered gaze and the next blink; a flutter reopening short of half way).
    ``amount`` None: a core never ends at a partial reopening."""

    def __init__(self, closure, smooth, other, amount: float | None, reentry: float, first: int):
        self.closure, self.smooth, self.other = closure, smooth, other
        self.amount, self.reentry = amount, reentry
        self.other_peak = other[first] if other is not None and np.isfinite(other[first]) else -np.inf
        self.dip = self.both_dip = None

    def split_before(self, j: int, peak: float) -> int | None:
        """The reopening to end the core at, when frame ``j`` has closed again by ``reentry``
        above a dip that reopened by ``amount`` from ``peak``; None otherwise."""
        if self.amount is None:
            return None
        if self.other is not None and self.other[j] > self.other_peak:  # NaN compares False
            self.other_peak = self.other[j]
        for d, level in ((self.dip, self.smooth), (self.both_dip, self.closure)):
            if d is not None and level[d] <= peak - self.amount and self.closure[j] >= level[d] + self.reentry:
                return d
        return None

    def new_peak(self) -> None:
        self.dip = self.both_dip = None

    def track(self, j: int) -> None:
        """Frame ``j`` is not a new peak: it may be the most open so far."""
        if self.amount is None:
            return
        if self.dip is None or self.smooth[j] < self.smooth[self.dip]:
            self.dip = j
        if (self.other is not None and self.other[j] <= self.other_peak - self.amount
                and (self.both_dip is None or self.closure[j] < self.closure[self.both_dip])):
            self.both_dip = j


def _cores(closure: np.ndarray, time_s: np.ndarray, settings: EventSettings,
           other: np.ndarray | None = None, partial_reopening: float | None = None,
           smooth: np.ndarray | None = None) -> list[tuple[int, int, int]]:
    """(first frame, apex frame, reopening frame) of each closure core, in frame order
    (``other``: the other eye's closure, for :func:`one_eye` and partial reopenings;
    ``partial_reopening``: how far the eye must reopen from the peak, in ``smooth``, the closure's
    3-frame median, or on a single frame where ``other`` reopens as far from its own peak, for a
    core to end there when it then closes again by ``reentry`` (:class:`_PartialReopenings`);
    None: a core ends only at ``reopen_fraction``)."""
    n = len(closure)
    valid = np.isfinite(closure)
    if partial_reopening is not None and smooth is None:
        smooth = _median3(closure)
    frame_s = float(np.median(np.diff(time_s))) if n > 1 else 1.0
    pre_frames = max(1, int(round(settings.pre_s / frame_s)))
    cores, i, trough = [], 0, None
    while i < n:
        c = closure[i]
        if not valid[i] or c < settings.core_threshold or (trough is not None and c < trough + settings.reentry):
            if valid[i] and trough is not None:
                trough = min(trough, c)
            elif not valid[i]:
                trough = None
            i += 1
            continue
        window = closure[max(0, i - pre_frames):i]
        pre = float(np.nanmin(window)) if np.isfinite(window).any() else 0.0
        if c < pre + settings.min_depth * (1.0 - pre):  # from a lowered level: not far enough to closed
            i += 1
            continue
        apex, peak, j, lowered, split = i, c, i, False, None
        reopenings = _PartialReopenings(closure, smooth, other, partial_reopening, settings.reentry, i)
        while j + 1 < n and valid[j + 1]:
            j += 1
            split = reopenings.split_before(j, peak)
            if split is not None:
                break
            if closure[j] > peak:
                apex, peak = j, closure[j]
                reopenings.new_peak()
            else:
                reopenings.track(j)
            if closure[j] <= peak - settings.reopen_fraction * (peak - pre):
                break
            if (peak < settings.partial_peak and time_s[j] - time_s[i] >= settings.prolonged_s
                    and not one_eye(closure, other, i, j, settings=settings)):
                lowered = True  # the lids settled at a lowered level: that level is the new open one
                break
        if split is not None:
            cores.append((i, apex, split))
            trough, i = float(closure[split]), split + 1
        elif lowered:
            trough, i = None, j
        else:
            cores.append((i, apex, j))
            trough, i = float(closure[j]), j + 1
    return cores


def detect_eye_events(time_s: np.ndarray, closure: np.ndarray, *, eye: str,
                      settings: EventSettings = EventSettings(), iris_px: float = float("nan"),
                      other: np.ndarray | None = None) -> list[EyeEvent]:
    """Closure events of one eye.

    Parameters
    ----------
    time_s : ndarray (n,)
        Frame times, s.
    closure : ndarray (n,)
        0-1 closure with NaN where not measurable.
    eye : {"left", "right"}
    settings : EventSettings
    iris_px : float
        Median iris diameter in pixels (below ``settings.min_iris_px`` long closures are ``review``).
    other : ndarray (n,), optional
        The other eye's closure: a long shallow closure of this eye alone (:func:`one_eye`) is
        a closure, not lowered lids.
    """
    time_s = np.asarray(time_s, dtype=float)
    closure = np.asarray(closure, dtype=float)
    n = len(closure)
    if n == 0:
        return []
    valid = np.isfinite(closure)
    frame_s = frame_durations(time_s)
    step_s = float(np.median(np.diff(time_s))) if n > 1 else 1.0
    pre_frames = max(1, int(round(settings.pre_s / step_s)))
    settle_frames = max(1, int(round(settings.settle_s / step_s)))
    smooth = _median3(closure)  # single frames that read more open than both neighbours are noise
    other = None if other is None else np.asarray(other, dtype=float)
    small_iris = iris_px < settings.min_iris_px  # lowered and shut lids read alike: no partial reopenings
    cores = _cores(closure, time_s, settings, other, None if small_iris else settings.partial_reopening, smooth)
    events, lo = [], 0
    for k, (first, apex, reopen) in enumerate(cores):
        hi = cores[k + 1][0] if k + 1 < len(cores) else n  # the next core's first frame (exclusive)
        peak = float(closure[apex])
        window = closure[max(lo, first - pre_frames):first]
        pre = float(np.nanmin(window)) if np.isfinite(window).any() else 0.0
        # start: back from the core while the lid is still visibly moving
        step = settings.onset_step * max(peak - pre, 1e-6)
        start = first
        while start > lo and valid[start - 1] and closure[start] - closure[start - 1] > step:
            start -= 1
        truncated = bool((start == 0 and closure[0] >= settings.core_threshold) or (start > lo and not valid[start - 1]))
        # the level the eye settles at after reopening (smoothed; settle_quantile toward open);
        # when the next closure starts within that window, the most open frame before it (the
        # smoothing would erase a one-frame reopening between two closures of a flutter)
        if hi <= reopen + settle_frames:
            after = closure[reopen:hi]
            settle = float(np.nanmin(after)) if np.isfinite(after).any() else pre
        else:
            after = smooth[reopen:reopen + settle_frames + 1]
            settle = float(np.nanquantile(after, settings.settle_quantile)) if np.isfinite(after).any() else pre
        level = max(pre, settle)  # the narrower of the two openings
        target = level + (1.0 - settings.end_fraction) * (1.0 - level)
        end = None
        for j in range(apex + 1, hi):
            if not valid[j]:
                end, truncated = j - 1, True
                break
            if closure[j] <= target:
                end = j
                break
        if end is None:
            if hi < n:  # runs straight into the next closure: the most open frame between
                between = closure[apex + 1:hi]
                end = apex + 1 + int(np.nanargmin(between)) if np.isfinite(between).any() else apex
            else:
                end, truncated = n - 1, True
        lo = end
        depth = (peak - level) / max(1.0 - level, 1e-6)
        if depth < settings.min_depth:
            continue
        onset, offset = float(time_s[start]), float(time_s[end])
        # each frame stands for the time to the next, so the frames from onset to the one before
        # the offset cover the event's duration: time closed never exceeds it
        closed = float(np.sum(frame_s[start:end][closure[start:end] >= 0.5]))
        kind = kind_by_duration(offset - onset, settings)
        if kind != "blink" and peak < settings.partial_peak and not one_eye(closure, other, start, end,
                                                                            settings=settings):
            kind = "partial"
        elif kind == "spasm" and iris_px < settings.min_iris_px:
            kind = "review"
        events.append(EyeEvent(eye=eye, onset_s=onset, apex_s=float(time_s[apex]), offset_s=offset,
                               peak_closure=peak, closed_s=closed, kind=kind,
                               complete=peak >= settings.complete_threshold, truncated=truncated))
    return events


def kind_by_duration(duration_s: float, settings: EventSettings = EventSettings()) -> str:
    """A closure's kind by its duration (end - start, s): ``blink`` under ``prolonged_s``,
    ``prolonged`` under ``spasm_s``, else ``spasm`` (before the peak and iris tests)."""
    return ("spasm" if duration_s >= settings.spasm_s
            else "prolonged" if duration_s >= settings.prolonged_s else "blink")


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
                out[i] = replace(out[i], flutter_burst=burst)
            burst += 1

    for i, event in enumerate(events):
        if event.kind not in CLOSURE_KINDS:
            continue
        short = event.duration_s < settings.prolonged_s
        if short and run and event.onset_s - events[run[-1]].onset_s <= settings.flutter_max_interval_s:
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
    """Join left and right events that overlap by ``min_overlap`` of the longer one.

    Relative to the longer event, so a wink that the other eye joins only at its end (the labels'
    ``lp_d3`` 28-53) stays a one-eye closure plus a short closure of the other eye, instead of
    becoming one bilateral event. Relative to the shorter one when either is ``truncated``: its
    eye stopped being measured, so its length is unknown (a head turning away mid-blink leaves
    only the near eye measured, and the far eye's closure ends where its measurement does)."""
    used_right: set[int] = set()
    paired = []
    for l_event in left:
        best, best_overlap = None, 0.0
        for k, r_event in enumerate(right):
            if k in used_right:
                continue
            overlap = min(l_event.offset_s, r_event.offset_s) - max(l_event.onset_s, r_event.onset_s)
            pick = min if l_event.truncated or r_event.truncated else max
            reference = max(pick(l_event.duration_s, r_event.duration_s), 1e-9)
            if overlap / reference >= min_overlap and overlap > best_overlap:
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
            event = replace(event, kind="coupled", flutter_burst=None)
        out.append(event)
    return out


def lid_change(position: np.ndarray, time_s: np.ndarray, apex_s: float, *,
               settings: EventSettings = EventSettings()) -> float:
    """How far a lid position moved down the scale by ``apex_s``: its median over the frames
    ``lid_before_s`` (far, near) before the apex minus its value at the apex (the unit of
    ``position``; NaN without readings there). For the lower lid's depth below the canthal line
    it is the lid's rise; for the upper lid's height above it, the lid's descent."""
    time_s = np.asarray(time_s, dtype=float)
    k = min(int(np.searchsorted(time_s, apex_s - 1e-9)), len(time_s) - 1)
    step_s = float(np.median(np.diff(time_s))) if len(time_s) > 1 else 1.0
    far, near = (int(round(s / step_s)) for s in settings.lid_before_s)
    before = position[max(0, k - far):max(0, k - near + 1)]
    if not np.isfinite(before).any() or not np.isfinite(position[k]):
        return float("nan")
    return float(np.nanmedian(before) - position[k])


def with_lid_rise(events: list[EyeEvent], lower_lid: dict | None, time_s: np.ndarray, *,
                  settings: EventSettings) -> list[EyeEvent]:
    """The events with ``lower_lid_rise`` measured in their own eye at their apex (unchanged
    without lid positions)."""
    if lower_lid is None:
        return events
    return [replace(e, lower_lid_rise=lid_change(lower_lid[e.eye], time_s, e.apex_s, settings=settings))
            for e in events]


def mark_glances(events: list[EyeEvent], other: list[EyeEvent], *, settings: EventSettings) -> list[EyeEvent]:
    """Re-label shallow closures without a lower-lid rise as ``glance``.

    One episode, one verdict for both eyes: the episode is this closure and the other eye's
    closures overlapping it, judged in its deepest eye (peak under ``glance_peak``,
    ``lower_lid_rise`` under ``min_lower_lid_rise``). Nothing changes where the rise is unknown
    (no lid positions) or with ``min_lower_lid_rise`` None."""
    if settings.min_lower_lid_rise is None:
        return events
    out = []
    for event in events:
        if event.kind in CLOSURE_KINDS:
            episode = [event] + [o for o in other if o.kind in CLOSURE_KINDS
                                 and o.onset_s <= event.offset_s and event.onset_s <= o.offset_s]
            deepest = max(episode, key=lambda e: e.peak_closure)
            if deepest.peak_closure < settings.glance_peak and deepest.lower_lid_rise < settings.min_lower_lid_rise:
                event = replace(event, kind="glance", flutter_burst=None)
        out.append(event)
    return out


def _overlapping(event, others: list) -> list:
    return [o for o in others if o.onset_s <= event.offset_s and event.onset_s <= o.offset_s]


def shallow_blinks(signal: ClosureSignal, found: dict, settings: EventSettings) -> dict:
    """Per side, the shallow blinks (:data:`EventSettings.shallow_core`) among the closures that
    stay under ``core_threshold``, outside every event already ``found`` in either eye: fast
    (within ``shallow_max_s``), in both eyes together (the two dips pair as one closure,
    :func:`pair_events` with ``pair_min_overlap``), and with the deeper eye's lower lid rising by
    ``min_lower_lid_rise`` (unknown lid positions: none counted)."""
    none = {side: [] for side in SIDES}
    if settings.shallow_core is None or signal.lower_lid is None or settings.min_lower_lid_rise is None:
        return none
    low = replace(settings, core_threshold=settings.shallow_core, min_depth=settings.shallow_core)
    candidates = {}
    for side, other in (("left", "right"), ("right", "left")):
        events = detect_eye_events(signal.time_s, signal.closure[side], eye=side, settings=low,
                                   iris_px=signal.iris_px, other=signal.closure[other])
        events = [e for e in events if e.kind == "blink" and e.peak_closure < settings.core_threshold
                  and e.duration_s <= settings.shallow_max_s
                  and not _overlapping(e, found[side] + found[other])]
        candidates[side] = with_lid_rise(events, signal.lower_lid, signal.time_s, settings=settings)
    kept = dict(none)
    for side, other in (("left", "right"), ("right", "left")):
        for event in candidates[side]:
            partners = [p for p in _overlapping(event, candidates[other])
                        if pair_events([event], [p], min_overlap=settings.pair_min_overlap)[0].eye == "both"]
            if not partners:
                continue
            deepest = max([event] + partners, key=lambda e: e.peak_closure)
            if deepest.lower_lid_rise >= settings.min_lower_lid_rise:
                kept[side].append(event)
    return kept


def seen_on_few_frames(event: EyeEvent, signal: ClosureSignal, settings: EventSettings) -> bool:
    """Whether ``event``'s closure rests on a face just found again: at most ``lone_max_frames``
    consecutive measured (not bridged) frames of its eye reach the core threshold it was found
    with (``shallow_core`` for a shallow blink), and either a neighbour of them has no
    measurement (the face lost, or the frame dropped by the quality gate) or the closure starts
    on the first frame measured after such a frame while its frames from there to the core read
    at least half that threshold (the eye never seen open before it: a real blink right after a
    loss starts from an open frame; docs/analysis.md)."""
    closure, time_s = signal.closure[event.eye], signal.time_s
    measured = np.isfinite(closure) & (signal.eye_measured[event.eye] if signal.eye_measured is not None
                                       else ~signal.bridged)
    lo = int(np.searchsorted(time_s, event.onset_s, side="left"))
    hi = int(np.searchsorted(time_s, event.offset_s, side="right"))
    shallow = settings.shallow_core is not None and event.peak_closure < settings.core_threshold
    threshold = settings.shallow_core if shallow else settings.core_threshold
    with np.errstate(invalid="ignore"):
        closed = np.flatnonzero(measured[lo:hi] & (closure[lo:hi] >= threshold)) + lo
    if not 1 <= len(closed) <= settings.lone_max_frames or closed[-1] - closed[0] != len(closed) - 1:
        return False
    first, last = int(closed[0]), int(closed[-1])
    if first == 0 or last == len(closure) - 1 or not (measured[first - 1] and measured[last + 1]):
        return True
    return lo > 0 and not measured[lo - 1] and bool(np.all(closure[lo:first] >= threshold / 2))


def mark_lone_frames(found: dict, signal: ClosureSignal, settings: EventSettings) -> dict:
    """Per side, the closures :func:`seen_on_few_frames` re-labelled ``lone_frame`` (not counted),
    unless the other eye has a closure there that is not one itself: one episode, one verdict."""
    lone = {side: [e.kind in CLOSURE_KINDS and seen_on_few_frames(e, signal, settings) for e in found[side]]
            for side in SIDES}
    out = {}
    for side, other in (("left", "right"), ("right", "left")):
        out[side] = [replace(e, kind="lone_frame") if flag and not any(
            o.kind in CLOSURE_KINDS and not other_flag for o, other_flag in zip(found[other], lone[other])
            if o.onset_s <= e.offset_s and e.onset_s <= o.offset_s) else e
            for e, flag in zip(found[side], lone[side])]
    return out


def mark_review(events: list[EyeEvent], other: list[EyeEvent]) -> list[EyeEvent]:
    """A closure that overlaps the other eye's ``review`` event is ``review`` too: one episode,
    one verdict for both eyes."""
    review = [o for o in other if o.kind == "review"]
    return [replace(e, kind="review")
            if e.kind in CLOSURE_KINDS and any(o.onset_s <= e.offset_s and e.onset_s <= o.offset_s for o in review)
            else e for e in events]


def counting_review(events: Events) -> Events:
    """The events as if every ``review`` event were a closure (its kind by its duration, paired
    across eyes again): the recording the grade would describe if the closures listed for
    checking are closures rather than lowered gazes (``severity.if_review_closed``)."""
    per_eye = {side: [replace(e, kind=kind_by_duration(e.duration_s, events.settings)) if e.kind == "review" else e
                      for e in found] for side, found in events.per_eye.items()}
    paired = pair_events(closures(per_eye["left"]), closures(per_eye["right"]),
                         min_overlap=events.settings.pair_min_overlap)
    return Events(per_eye=per_eye, bursts=events.bursts, paired=paired, settings=events.settings,
                  carried=events.carried)


def with_other_eye_measured(events: list[EyeEvent], other: np.ndarray, time_s: np.ndarray) -> list[EyeEvent]:
    """The events with ``other_eye_measured`` False where the other eye has no closure value from
    their onset to their offset (its side of a turned head was not measured): such a closure is
    neither bilateral nor one eye's alone, only this eye's."""
    measured = np.isfinite(np.asarray(other, dtype=float))
    out = []
    for event in events:
        lo = np.searchsorted(time_s, event.onset_s, side="left")
        hi = np.searchsorted(time_s, event.offset_s, side="right")
        out.append(event if measured[lo:hi].any() else replace(event, other_eye_measured=False))
    return out


def detect_events(signal: ClosureSignal, settings: EventSettings = EventSettings()) -> Events:
    """Per-eye events, flutter bursts and bilateral pairing for a closure signal.

    Only closures (:data:`CLOSURE_KINDS`) are grouped into flutter bursts and paired across
    eyes; ``partial``, ``coupled``, ``glance`` and ``review`` events stay in ``per_eye`` for inspection.
    """
    raw = {side: detect_eye_events(signal.time_s, signal.closure[side], eye=side, settings=settings,
                                   iris_px=signal.iris_px, other=signal.closure[other])
           for side, other in (("left", "right"), ("right", "left"))}
    shallow = shallow_blinks(signal, raw, settings)
    raw = {side: sorted(raw[side] + shallow[side], key=lambda e: e.onset_s) for side in SIDES}
    raw = mark_lone_frames(raw, signal, settings)
    raw = {side: mark_review(raw[side], raw[other]) for side, other in (("left", "right"), ("right", "left"))}
    per_eye = {"left": mark_coupled(raw["left"], raw["right"], settings=settings),
               "right": mark_coupled(raw["right"], raw["left"], settings=settings)}
    per_eye = {side: with_lid_rise(events, signal.lower_lid, signal.time_s, settings=settings)
               for side, events in per_eye.items()}
    per_eye = {side: mark_glances(per_eye[side], per_eye[other], settings=settings)
               for side, other in (("left", "right"), ("right", "left"))}
    per_eye = {side: _mark_flutter(events, settings) for side, events in per_eye.items()}
    per_eye = {side: with_other_eye_measured(per_eye[side], signal.closure[other], signal.time_s)
               for side, other in (("left", "right"), ("right", "left"))}
    bursts = {side: flutter_bursts(per_eye[side]) for side in SIDES}
    paired = pair_events(closures(per_eye["left"]), closures(per_eye["right"]),
                         min_overlap=settings.pair_min_overlap)
    return Events(per_eye=per_eye, bursts=bursts, paired=paired, settings=settings)
