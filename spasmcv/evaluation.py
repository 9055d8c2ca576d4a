"""Checking detections against reference labels: matching, precision/recall/F1, timing errors.

Reference events come from Eyeblink8 / Talking Face ``.tag`` files or from the ground truth
JSON written next to each synthetic sample video. Conventions differ between datasets, so
every score states which convention it was computed against (``convention``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


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
class Comparison:
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
                   optional=()) -> Comparison:
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
    used_d, used_r, matches = set(), set(), []
    for _, _, i, j in sorted(candidates):
        if i not in used_d and j not in used_r:
            used_d.add(i)
            used_r.add(j)
            matches.append((i, j))
    optional_hits = [(i, j) for i, j in matches if j >= n_required]
    matches = [(i, j) for i, j in matches if j < n_required]
    tp = len(matches)
    fp = len(detected) - tp - len(optional_hits)
    fn = n_required - tp
    precision = tp / (tp + fp) if tp + fp else float("nan")
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0
    matches.sort(key=lambda m: m[1])
    onset_err = np.array([detected[i].onset_s - reference[j].onset_s for i, j in matches])
    offset_err = np.array([detected[i].offset_s - reference[j].offset_s for i, j in matches])
    return Comparison(tp, fp, fn, precision, recall, f1, onset_err, offset_err, matches, tolerance_s, convention)


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
    data["reference_peaks"] = [e["peak_closure"] for e in data["events"]]
    return data


def reference_for_eye(reference: list[ReferenceEvent], eye: str) -> list[ReferenceEvent]:
    """The reference events that involve ``eye`` (``"both"`` events count for each eye)."""
    return [r for r in reference if r.eye in (eye, "both")]


#: Synthetic ground truth convention: closures whose true peak reaches this are required;
#: shallower lid movements are optional (neither a miss when undetected nor a false positive
#: when detected), because the face mesh reads a 0.5 closure as only 18 % below open.
REQUIRED_PEAK_CLOSURE = 0.6


def split_by_peak(reference: list[ReferenceEvent], peaks, *, required_peak: float = REQUIRED_PEAK_CLOSURE):
    """(required, optional) reference events by their true peak closure."""
    required = [r for r, p in zip(reference, peaks) if p >= required_peak]
    optional = [r for r, p in zip(reference, peaks) if p < required_peak]
    return required, optional
