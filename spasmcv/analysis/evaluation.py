"""Checking detections against reference labels: matching, precision/recall/F1, timing errors.

Reference events come from Eyeblink8 / Talking Face ``.tag`` files or from the ground truth
JSON written next to each synthetic sample video. Conventions differ between datasets, so
every score states which convention it was computed against (``convention``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from spasmcv.analysis.events import EventSettings, kind_by_duration


@dataclass(frozen=True)
class ReferenceEvent:
    """A labelled closure: ``eye`` in left/right/both, times in seconds, frames if known."""

    eye: str
    onset_s: float
    offset_s: float
    kind: str = "blink"
    onset_frame: int | None = None
    offset_frame: int | None = None


@dataclass(frozen=True)
class EventScore:
    """Result of :func:`compare_events`.

    Attributes
    ----------
    true_positives, false_positives, false_negatives : int
    precision, recall, f1 : float
    onset_errors_s, offset_errors_s : ndarray
        Detected minus reference, for matched pairs (positive = detected later).
    matches : list of (detected_index, reference_index)
    tolerance_s : float
    convention : str
    """

    true_positives: int
    false_positives: int
    false_negatives: int
    precision: float
    recall: float
    f1: float
    onset_errors_s: np.ndarray
    offset_errors_s: np.ndarray
    matches: list
    tolerance_s: float
    convention: str

    def as_dict(self) -> dict:
        def med(x):
            return float(np.median(x)) if len(x) else float("nan")

        def medabs(x):
            return float(np.median(np.abs(x))) if len(x) else float("nan")

        return {"tp": self.true_positives, "fp": self.false_positives, "fn": self.false_negatives,
                "precision": self.precision, "recall": self.recall, "f1": self.f1,
                "onset_error_median_s": med(self.onset_errors_s), "offset_error_median_s": med(self.offset_errors_s),
                "onset_abs_error_median_s": medabs(self.onset_errors_s),
                "offset_abs_error_median_s": medabs(self.offset_errors_s),
                "tolerance_s": self.tolerance_s, "convention": self.convention}


def compare_events(detected, reference, *, tolerance_s: float = 0.2, convention: str = "",
                   optional=()) -> EventScore:
    """Match detected to reference events one-to-one and score the detection.

    A detected and a reference event can match when their intervals overlap, or their onsets
    lie within ``tolerance_s``; among candidates the pair with the largest overlap (then the
    closest onsets) is matched first. Objects need ``onset_s`` and ``offset_s`` attributes.
    ``optional`` reference events (e.g. movements too shallow to call) are matched too, but a
    detection matching one is not a false positive and an unmatched one is not a miss; they
    are excluded from every count and timing error.
    """
    detected, optional = list(detected), list(optional)
    n_required = len(reference)
    reference = list(reference) + optional
    candidates = []
    for i, d in enumerate(detected):
        for j, r in enumerate(reference):
            overlap = min(d.offset_s, r.offset_s) - max(d.onset_s, r.onset_s)
            gap = abs(d.onset_s - r.onset_s)
            if overlap > 0 or gap <= tolerance_s:
                candidates.append((-max(overlap, 0.0), gap, i, j))
    matches = _one_to_one(candidates)
    optional_hits = [(i, j) for i, j in matches if j >= n_required]
    matches = [(i, j) for i, j in matches if j < n_required]
    tp = len(matches)
    fp = len(detected) - tp - len(optional_hits)
    fn = n_required - tp
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = f1_from_counts(tp, fp, fn)
    matches.sort(key=lambda m: m[1])
    onset_err = np.array([detected[i].onset_s - reference[j].onset_s for i, j in matches])
    offset_err = np.array([detected[i].offset_s - reference[j].offset_s for i, j in matches])
    return EventScore(tp, fp, fn, precision, recall, f1, onset_err, offset_err, matches, tolerance_s, convention)


def f1_from_counts(tp: int, fp: int, fn: int, *, empty: float = 1.0) -> float:
    """F1 = 2 TP / (2 TP + FP + FN); ``empty`` when there is nothing to find and nothing was found
    (1.0 for a detector that rightly reports nothing)."""
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else empty


def _one_to_one(candidates) -> list[tuple[int, int]]:
    """Greedy one-to-one matching: ``candidates`` are (sort key..., i, j) tuples, best first when sorted."""
    used_d, used_r, matches = set(), set(), []
    for *_, i, j in sorted(candidates):
        if i not in used_d and j not in used_r:
            used_d.add(i)
            used_r.add(j)
            matches.append((i, j))
    return matches


def read_tag_file(path: str | os.PathLike, *, fps: float) -> list[ReferenceEvent]:
    """Blinks from an Eyeblink8 / Talking Face ``.tag`` file (one event per blink id).

    Convention: a blink spans every frame the annotator gave its id, from the first visible
    lid movement to the eye's return to open; ``onset_s``/``offset_s`` are the times of the
    first and last labelled frames, ``frame / fps`` (the ``.tag`` format counts frames, so the
    video's frame rate is needed).
    """
    frames: dict[int, list[int]] = {}
    for line in Path(path).read_text().splitlines():
        if not line[:1].isdigit():
            continue
        fields = line.split(":")
        frame, blink_id = int(fields[0]), int(fields[1])
        if blink_id >= 0:
            frames.setdefault(blink_id, []).append(frame)
    out = []
    for blink_id in sorted(frames):
        first, last = min(frames[blink_id]), max(frames[blink_id])
        out.append(ReferenceEvent(eye="both", onset_s=first / fps, offset_s=last / fps,
                                  onset_frame=first, offset_frame=last))
    return out


def frame_spans(detected, time_s, *, fps: float, eye: str | None = None) -> list[ReferenceEvent]:
    """Detected events as the frames they cover, for comparison with frame-labelled data.

    A ``.tag`` label says which frames show the lid moved; a detected event says when the
    movement started and ended. Frame ``k`` (at ``time_s[k]``) belongs to the event when
    ``onset_s <= time_s[k] <= offset_s``; the result carries the first and last such frame
    (``onset_frame``/``offset_frame``) and their times as ``frame / fps``, the ``.tag`` timing.
    Events covering no frame are dropped.
    """
    time_s = np.asarray(time_s, dtype=float)
    out = []
    for e in detected:
        first = int(np.searchsorted(time_s, e.onset_s - 1e-9, side="left"))
        last = int(np.searchsorted(time_s, e.offset_s + 1e-9, side="right")) - 1
        if last >= first:
            out.append(ReferenceEvent(eye=eye or e.eye, onset_s=first / fps, offset_s=last / fps,
                                      kind=e.kind, onset_frame=first, offset_frame=last))
    return out


def read_ground_truth(path: str | os.PathLike) -> dict:
    """The synthetic sample video's ground truth JSON, with its events as :class:`ReferenceEvent`."""
    data = json.loads(Path(path).read_text())
    data["reference_events"] = [
        ReferenceEvent(eye=e["eye"], onset_s=e["onset_s"], offset_s=e["offset_s"], kind=e["kind"])
        for e in data["events"]
    ]
    data["reference_peaks"] = [shown_peak(data, e) for e in data["events"]]
    return data


def shown_peak(ground_truth: dict, event: dict) -> float:
    """The deepest true closure a **frame** of the video shows during ``event`` (its eye, or the
    deeper eye for ``both``), 0-1. A quick blink's continuous peak can fall between two frames
    (a 0.15-s blink at 25 fps: true peak 0.66, frames 0.54 and 0.55); no method working from the
    video can see it, and the real labels judge frames too. Falls back to the event's
    ``peak_closure`` when the file has no per-frame closure."""
    frames = ground_truth.get("frames") or {}
    if "time_s" not in frames:
        return float(event["peak_closure"])
    time_s = np.asarray(frames["time_s"], dtype=float)
    inside = (time_s >= event["onset_s"] - 1e-9) & (time_s <= event["offset_s"] + 1e-9)
    sides = ("left", "right") if event["eye"] == "both" else (event["eye"],)
    values = [np.asarray(frames[f"closure_{side}"], dtype=float)[inside] for side in sides]
    return float(max((v.max() for v in values if v.size), default=0.0))


def reference_for_eye(reference: list[ReferenceEvent], eye: str) -> list[ReferenceEvent]:
    """The reference events that involve ``eye`` (``"both"`` events count for each eye)."""
    return [r for r in reference if r.eye in (eye, "both")]


#: Synthetic ground truth convention: closures that a frame of the video shows at least this far
#: closed (:func:`shown_peak`) are required; shallower lid movements are optional (neither a miss
#: when undetected nor a false positive when detected), as the real labels' incomplete blinks are
#: "lid 60-90 % down" (labels/README.md).
REQUIRED_PEAK_CLOSURE = 0.6


def split_by_peak(reference: list[ReferenceEvent], peaks, *, required_peak: float = REQUIRED_PEAK_CLOSURE):
    """(required, optional) reference events by their peak closure (the deepest a frame shows,
    :func:`shown_peak`)."""
    required = [r for r, p in zip(reference, peaks) if p >= required_peak]
    optional = [r for r, p in zip(reference, peaks) if p < required_peak]
    return required, optional


# --- Frame-labelled real video (labels/*.csv; convention in labels/README.md) -----------------

@dataclass(frozen=True)
class LabelledClosure:
    """One hand-labelled closure, in 0-based frame numbers of the video's decode order.

    ``start_frame`` is the last open frame before the lid visibly starts down, ``end_frame`` the
    first frame back at about 90 % of the opening before (or of the narrower level the eye
    settles at), ``apex_frame`` a frame in the most-closed part; ``complete`` whether the lids
    meet; ``eye`` ``both``/``left``/``right`` (the person's own side).
    """

    start_frame: int
    end_frame: int
    apex_frame: int
    complete: bool
    eye: str
    confidence: str = "high"
    note: str = ""

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame


@dataclass(frozen=True)
class LabelSet:
    """A clip's labelled closures and the frame intervals whose eye state cannot be judged."""

    clip: str
    closures: tuple
    excluded: tuple = ()


def read_labels(path: str | os.PathLike) -> LabelSet:
    """Read ``CLIP.csv`` (and ``CLIP.exclude.csv`` beside it, when present)."""
    import csv

    path = Path(path)
    with open(path, newline="") as handle:
        closures = tuple(LabelledClosure(start_frame=int(r["start_frame"]), end_frame=int(r["end_frame"]),
                                         apex_frame=int(r["apex_frame"]), complete=r["complete"].strip() == "yes",
                                         eye=r["eye"].strip(), confidence=r.get("confidence", "").strip(),
                                         note=r.get("note", "") or "")
                         for r in csv.DictReader(handle))
    bad = [c for c in closures if c.eye not in ("both", "left", "right") or c.end_frame < c.start_frame]
    if bad:
        raise ValueError(f"{path}: malformed label rows: {bad[:3]}")
    exclude = path.with_name(path.name[:-len(".csv")] + ".exclude.csv")
    excluded = ()
    if exclude.exists():
        with open(exclude, newline="") as handle:
            excluded = tuple((int(r["start_frame"]), int(r["end_frame"])) for r in csv.DictReader(handle))
    return LabelSet(clip=path.name[:-len(".csv")], closures=closures, excluded=excluded)


def read_third_labellings(labels_dir: str | os.PathLike) -> list[tuple[LabelSet, int, int]]:
    """The third labellings of ``labels_dir/third/`` (its ``clips.csv``: ``clip``, ``frames`` "a-b"),
    each a blind labelling of the frames a-b where the first two labellers disagreed widely: (the
    third's labels, a, b). Empty without that folder."""
    import csv

    folder = Path(labels_dir) / "third"
    if not (folder / "clips.csv").exists():
        return []
    with open(folder / "clips.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [(read_labels(folder / f"{row['clip']}.csv"), *(int(v) for v in row["frames"].split("-")))
            for row in rows]


def closures_starting_within(labels: LabelSet, first_frame: int, last_frame: int) -> LabelSet:
    """``labels`` with only the closures that start in frames ``first_frame``-``last_frame``."""
    return replace(labels, closures=tuple(c for c in labels.closures if first_frame <= c.start_frame <= last_frame))


def read_lid_reading(path: str | os.PathLike) -> dict[int, float]:
    """One reader's hand-read lid apertures (``labels/lid_readings/readerN.csv``) as closure per
    sheet: ``1 - sample fissure height / reference fissure height``, at least 0; sheets the reader
    could not read (``na``) are left out."""
    import csv

    out = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                reference = float(row["a_lower"]) - float(row["a_upper"])
                sample = float(row["b_lower"]) - float(row["b_upper"])
            except ValueError:
                continue
            if reference > 0:
                out[int(row["sheet"])] = max(0.0, 1.0 - sample / reference)
    return out


@dataclass(frozen=True)
class FrameSpan:
    """A detected closure as frames: ``start_frame`` to ``end_frame`` inclusive, with its eye and kind."""

    start_frame: int
    end_frame: int
    eye: str = "both"
    kind: str = "blink"


def event_frames(events, time_s) -> list[FrameSpan]:
    """Detected events (``onset_s``/``offset_s``/``eye``/``kind``) as the nearest frames."""
    time_s = np.asarray(time_s, dtype=float)

    def nearest(t: float) -> int:
        k = int(np.clip(np.searchsorted(time_s, t), 1, len(time_s) - 1))
        return k - 1 if abs(time_s[k - 1] - t) <= abs(time_s[k] - t) else k

    return [FrameSpan(nearest(e.onset_s), nearest(e.offset_s), e.eye, e.kind) for e in events]


@dataclass(frozen=True)
class FrameScore:
    """Detections scored against frame labels (:func:`score_frames`).

    ``onset_errors``/``offset_errors`` are detected minus labelled frame numbers of the matched
    pairs (positive = detected later); ``matches`` pairs (detection index, label index);
    ``false_positives``/``misses`` list the unmatched detections and labels that were scored.
    """

    tp: int
    fp: int
    fn: int
    onset_errors: np.ndarray
    offset_errors: np.ndarray
    matches: list
    false_positives: list
    misses: list

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    @property
    def f1(self) -> float:
        return f1_from_counts(self.tp, self.fp, self.fn)


def mostly_excluded(start: int, end: int, excluded) -> bool:
    """True when more than half of frames ``start``..``end`` lie in the labels' excluded intervals
    (such closures and detections are not scored)."""
    inside = sum(max(0, min(end, b) - max(start, a) + 1) for a, b in excluded)
    return inside > 0.5 * (end - start + 1)


def score_frames(detected: list[FrameSpan], labels: LabelSet, *, widen: int = 2) -> FrameScore:
    """Match detections to labels one-to-one and count hits, false alarms and misses.

    The labels' own scoring rule: a detection and a label can match when their frame intervals
    overlap after widening both by ``widen`` frames; the pairs with the largest overlap are
    matched first. Labels and detections lying mostly inside an excluded interval are not
    scored. Eyes are not compared here (:func:`real_clip_scores` checks one-eye labels).
    """
    dets = [i for i, d in enumerate(detected) if not mostly_excluded(d.start_frame, d.end_frame, labels.excluded)]
    refs = [j for j, r in enumerate(labels.closures)
            if not mostly_excluded(r.start_frame, r.end_frame, labels.excluded)]
    candidates = []
    for i in dets:
        d = detected[i]
        for j in refs:
            r = labels.closures[j]
            overlap = min(d.end_frame, r.end_frame) - max(d.start_frame, r.start_frame) + 1 + 2 * widen
            if overlap > 0:
                candidates.append((-overlap, abs(d.start_frame - r.start_frame), i, j))
    matches = sorted(_one_to_one(candidates), key=lambda m: m[1])
    matched_d, matched_r = {i for i, _ in matches}, {j for _, j in matches}
    onset = np.array([detected[i].start_frame - labels.closures[j].start_frame for i, j in matches], dtype=float)
    offset = np.array([detected[i].end_frame - labels.closures[j].end_frame for i, j in matches], dtype=float)
    false_alarms = [detected[i] for i in dets if i not in matched_d]
    misses = [labels.closures[j] for j in refs if j not in matched_r]
    return FrameScore(tp=len(matches), fp=len(false_alarms), fn=len(misses), onset_errors=onset,
                      offset_errors=offset, matches=matches, false_positives=false_alarms, misses=misses)


def simple_ear_blinks(columns: dict, *, threshold: float = 0.2, min_frames: int = 2) -> list[FrameSpan]:
    """The simple baseline every accuracy figure is shown next to: the mean of both eyes' eye
    aspect ratio below ``threshold`` for at least ``min_frames`` consecutive frames (the common
    20-line MediaPipe script; Soukupova & Cech 2016). Frames without a face end a run."""
    ear = (np.asarray(columns["ear_left"], dtype=float) + np.asarray(columns["ear_right"], dtype=float)) / 2
    below = np.where(np.isfinite(ear), ear < threshold, False)
    edges = np.diff(np.r_[0, below.astype(np.int8), 0])
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [FrameSpan(int(a), int(b) - 1) for a, b in zip(starts, stops) if b - a >= min_frames]


#: A detected closure this long (s) where no labelled closure nearly as long overlaps it is a
#: false long closure: the error that turns a healthy person into a spasm patient.
LONG_CLOSURE_S = 1.0
#: an end this many frames or more after the label's counts as late (``late_end``)
LATE_END_FRAMES = 3


def spans_overlap(a_start: int, a_end: int, b_start: int, b_end: int, widen: int) -> bool:
    """Whether frames ``a_start..a_end`` and ``b_start..b_end`` overlap once each is widened by
    ``widen`` frames on both sides (the scoring rule's overlap)."""
    return min(a_end, b_end) - max(a_start, b_start) + 1 + 2 * widen > 0


def real_clip_scores(detected: list[FrameSpan], labels: LabelSet, *, fps: float, widen: int = 2,
                     event_settings: EventSettings = EventSettings()) -> dict:
    """Everything the real-video accuracy tables report for one clip and one detector.

    ``detected`` are the detector's counted closures across both eyes (``eye`` left, right or
    both). Returns counts, precision/recall/F1, median onset/offset errors (frames, labels'
    convention), false long closures (> :data:`LONG_CLOSURE_S` where the labels hold no closure
    nearly that long; ``review`` spans are not counted closures and are counted apart), recall
    on incomplete blinks, how one-eye labels were reported, and for the matched closures how
    many have their label's kind by duration (:func:`~spasmcv.analysis.events.kind_by_duration`
    with ``event_settings``), how many of each are prolonged or longer, and how many end
    :data:`LATE_END_FRAMES` or more after their label.
    """
    score = score_frames(detected, labels, widen=widen)
    long_frames = LONG_CLOSURE_S * fps
    scored_labels = [r for r in labels.closures if not mostly_excluded(r.start_frame, r.end_frame, labels.excluded)]
    false_long = [d for d in detected
                  if d.kind != "review" and d.end_frame - d.start_frame >= long_frames
                  and not mostly_excluded(d.start_frame, d.end_frame, labels.excluded)
                  and not any(spans_overlap(d.start_frame, d.end_frame, r.start_frame, r.end_frame, widen)
                              and r.frames >= long_frames - 2 * widen for r in labels.closures)]
    matched = {j: detected[i] for i, j in score.matches}

    def kind_of(frames: int) -> str:
        return kind_by_duration(frames / fps, event_settings)

    pairs = [(detected[i], labels.closures[j]) for i, j in score.matches]
    incomplete = [j for j, r in enumerate(labels.closures) if not r.complete and r in scored_labels]
    one_eye = [j for j, r in enumerate(labels.closures) if r.eye != "both" and r in scored_labels]
    return {
        "labels": len(scored_labels), "tp": score.tp, "fp": score.fp, "fn": score.fn,
        "precision": score.precision, "recall": score.recall, "f1": score.f1,
        "onset_error_median": float(np.median(score.onset_errors)) if score.tp else float("nan"),
        "offset_error_median": float(np.median(score.offset_errors)) if score.tp else float("nan"),
        "onset_errors": score.onset_errors.tolist(), "offset_errors": score.offset_errors.tolist(),
        "false_long": len(false_long), "review": sum(d.kind == "review" for d in detected),
        "incomplete_labels": len(incomplete), "incomplete_found": sum(j in matched for j in incomplete),
        "one_eye_labels": len(one_eye),
        "one_eye_found": sum(j in matched for j in one_eye),
        "one_eye_right_side": sum(j in matched and matched[j].eye == labels.closures[j].eye for j in one_eye),
        "false_positives": [(d.start_frame, d.end_frame, d.eye, d.kind) for d in score.false_positives],
        "misses": [(r.start_frame, r.end_frame, r.eye) for r in score.misses],
        "same_kind": sum(kind_of(d.end_frame - d.start_frame) == kind_of(r.frames) for d, r in pairs),
        "long_detected": sum(kind_of(d.end_frame - d.start_frame) != "blink" for d, _ in pairs),
        "long_labelled": sum(kind_of(r.frames) != "blink" for _, r in pairs),
        "late_end": sum(d.end_frame - r.end_frame >= LATE_END_FRAMES for d, r in pairs),
    }


def reported_closures(events, time_s) -> list[FrameSpan]:
    """What spasmcv reports as closures of a recording, as frame spans for scoring against labels:
    the counted closures across both eyes (bilateral or one-eye, :attr:`Events.paired`) and the
    ``review`` events (long closures that may be a lowered gaze; listed for checking, not counted
    in rates or severity), one per overlapping left/right pair."""
    spans = event_frames(events.paired, time_s)
    review = [e for side in ("left", "right") for e in events.per_eye.get(side, []) if e.kind == "review"]
    for span in sorted(event_frames(review, time_s), key=lambda s: s.start_frame):
        if not any(spans_overlap(span.start_frame, span.end_frame, s.start_frame, s.end_frame, 0)
                   for s in spans if s.kind == "review"):
            spans.append(FrameSpan(span.start_frame, span.end_frame, "both", "review"))
    return sorted(spans, key=lambda s: s.start_frame)


def labeller_agreement(first: LabelSet, second: LabelSet, *, widen: int = 2) -> dict:
    """How two independent labellings of one clip agree, by the rule detections are scored with
    (:func:`score_frames`; frames either labeller excluded are left out): counts, F1 of the second
    against the first, start/end differences in frames (second minus first) and how often the
    matched rows agree on ``complete``."""
    both = LabelSet(first.clip, first.closures, tuple(first.excluded) + tuple(second.excluded))
    spans = [FrameSpan(c.start_frame, c.end_frame, c.eye) for c in second.closures]
    score = score_frames(spans, both, widen=widen)
    complete_agreed = sum(second.closures[i].complete == first.closures[j].complete for i, j in score.matches)
    return {"first": score.tp + score.fn, "second": score.tp + score.fp, "matched": score.tp, "f1": score.f1,
            "start_differences": score.onset_errors.tolist(), "end_differences": score.offset_errors.tolist(),
            "complete_agreed": complete_agreed,
            "only_first": [(r.start_frame, r.end_frame) for r in score.misses],
            "only_second": [(d.start_frame, d.end_frame) for d in score.false_positives]}


def closure_summary(spans: list[FrameSpan], scored: np.ndarray, *, fps: float) -> dict:
    """The numbers a report gives for one detector's closures (or the labels as spans) over the
    ``scored`` frames (per frame: measured and not excluded): ``minutes`` of scored video,
    ``count`` and ``rate_per_min`` of closures of either eye, and their ``median_s`` and
    ``longest_s`` duration, start to end frame (s; NaN without closures). A closure counts unless
    more than half of its frames are unscored, the rule :func:`mostly_excluded` applies to excluded
    frames; ``review`` spans are not counted closures and are left out."""
    scored = np.asarray(scored, dtype=bool)
    minutes = float(scored.sum()) / fps / 60.0
    kept = [s for s in spans if s.kind != "review"
            and scored[max(0, s.start_frame):s.end_frame + 1].sum() >= 0.5 * (s.end_frame - s.start_frame + 1)]
    durations = np.array([(s.end_frame - s.start_frame) / fps for s in kept])
    return {"minutes": minutes, "count": len(kept), "rate_per_min": len(kept) / minutes if minutes else float("nan"),
            "median_s": float(np.median(durations)) if len(kept) else float("nan"),
            "longest_s": float(durations.max()) if len(kept) else float("nan")}
