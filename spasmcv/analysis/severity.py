"""Objective severity: a Jankovic frequency grade 0-4, a continuous 0-100 index, and
intensity indicators toward the Jankovic severity subscale.

Formula version ``jrs-frequency-2`` (docs/severity.md). The grade follows the scale's own
frequency anchors, per eye, and the recording's grade is the worse eye's:

====  =======================================  ===========================================
grade anchor (Jankovic Rating Scale)            objective criterion (per eye)
====  =======================================  ===========================================
4     functionally blind: eyes closed > 50 %   ``share_closed`` > 0.5
3     eyelid spasm > 1 s, eyes open > 50 %     ``spasm_rate_per_min`` >= 0.5
2     eyelid fluttering lasting < 1 s          flutter bursts/min >= 1
1     slightly increased blinking              closure rate > the task's normal upper limit
0     none                                     otherwise
====  =======================================  ===========================================

The index places the recording inside its grade's band (20 points per grade: grade 0 is 0-20,
grade 4 is 80-100) by the quantity
that leads to the next grade, so it rises continuously as that quantity grows:
grade 0: blink rate from the task's normal mean to the grade-1 threshold; grade 1: flutter rate
up to the grade-2 threshold; grade 2: spasm rate up to the grade-3 threshold; grades 3 and 4:
time closed (0-50 %, 50-100 %).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spasmcv.analysis.closure import SIDES
from spasmcv.analysis.metrics import TASK_NORMS

#: jrs-frequency-2: grade 2 on flutter bursts alone (prolonged closures of 0.5-1 s are common in
#: healthy people who talk or make expressions: real labelled clips, docs/severity.md).
FORMULA_VERSION = "jrs-frequency-2"


@dataclass(frozen=True)
class SeveritySettings:
    """Thresholds of the frequency grade (docs/severity.md).

    Attributes
    ----------
    closed_share_grade4 : float
        Share of the measured time closed (0-1) above which an eye is grade 4.
    spasm_rate_grade3 : float
        Spasms per minute of measured time at or above which an eye is grade 3.
    flutter_rate_grade2 : float
        Flutter bursts per minute of measured time at or above which an eye is grade 2.
    """

    closed_share_grade4: float = 0.5
    spasm_rate_grade3: float = 0.5
    flutter_rate_grade2: float = 1.0


def _clip01(x: float) -> float:
    return float(np.clip(x, 0.0, 1.0)) if np.isfinite(x) else 0.0


def eye_grade(metrics: dict, *, task: str = "rest", settings: SeveritySettings = SeveritySettings()) -> tuple[int, float]:
    """Jankovic frequency grade and 0-100 index of one eye from :func:`~spasmcv.analysis.metrics.eye_metrics`.

    Returns grade -1 and index NaN when the eye has no measured time (whether a recording has
    enough measured time to be graded is the quality gate's decision, :mod:`spasmcv.analysis.quality`).
    """
    norms = TASK_NORMS[task]
    share = metrics["share_closed"]
    if not np.isfinite(share):
        return -1, float("nan")
    spasm_rate = metrics["spasm_rate_per_min"]
    flutter_rate = metrics["flutter_bursts_per_min"]
    rate = metrics["closure_rate_per_min"]
    if share > settings.closed_share_grade4:
        grade, fraction = 4, (share - settings.closed_share_grade4) / (1 - settings.closed_share_grade4)
    elif spasm_rate >= settings.spasm_rate_grade3:
        grade, fraction = 3, share / settings.closed_share_grade4
    elif flutter_rate >= settings.flutter_rate_grade2:
        grade, fraction = 2, spasm_rate / settings.spasm_rate_grade3
    elif rate > norms["blink_rate_range"][1]:
        grade, fraction = 1, flutter_rate / settings.flutter_rate_grade2
    else:
        grade = 0
        fraction = (rate - norms["blink_rate_mean"]) / (norms["blink_rate_range"][1] - norms["blink_rate_mean"])
    return grade, 20.0 * (grade + _clip01(fraction))


def intensity_indicators(columns: dict, closure: dict, *, closed_level: float = 0.5, open_level: float = 0.1) -> dict:
    """Forcefulness and spread of closures, per eye: change from open-eye frames to closed frames.

    ``squint``: MediaPipe ``eyeSquint`` score increase; ``brow_lowering_mm``: brow-to-eye
    distance decrease; ``mouth_corner``: largest increase of the same side's
    ``mouthSmile``/``mouthStretch``/``mouthPress`` (hemifacial spread). Values are medians over
    closed frames minus medians over open frames (NaN if either is empty). MediaPipe's
    ``cheekSquint`` is not used: it stays under 2e-4 on every frame, cheeks raised or not
    (docs/severity.md).
    """
    out = {}
    for side in SIDES:
        c = closure[side]
        closed = np.isfinite(c) & (c >= closed_level)
        opened = np.isfinite(c) & (c < open_level)

        def change(column, sign=1.0):
            values = np.asarray(columns.get(column, np.full(len(c), np.nan)), dtype=float)
            if not (np.isfinite(values[closed]).any() and np.isfinite(values[opened]).any()):
                return float("nan")
            return float(sign * (np.nanmedian(values[closed]) - np.nanmedian(values[opened])))

        mouth = [change(f"bs_{name}_{side}") for name in ("mouthSmile", "mouthStretch", "mouthPress")]
        out[side] = {
            "squint": change(f"bs_eyeSquint_{side}"),
            "brow_lowering_mm": change(f"brow_eye_mm_{side}", sign=-1.0),
            "mouth_corner": float(np.nanmax(mouth)) if np.isfinite(mouth).any() else float("nan"),
        }
    return out


def review_closures_phrase(count: int, which: str = "listed for review") -> str:
    """How people read of a recording's ``review`` events counted as closures (``if_review_closed``):
    "2 closures listed for review are closures", "1 closure to check is a closure"."""
    return (f"{count} closure{'s' if count != 1 else ''} {which} "
            f"{'are closures' if count != 1 else 'is a closure'}")


def severity(metrics: dict, *, task: str = "rest", settings: SeveritySettings = SeveritySettings()) -> dict:
    """Grade and index per eye and for the recording (the worse gradable eye), with the formula
    version. A recording or eye that cannot be graded has grade ``None`` (never a number: JSON
    null, an empty CSV field), index NaN, ``gradable`` False and ``not_gradable_reason``.

    ``metrics["quality"]`` (:func:`spasmcv.analysis.quality.quality_summary`) decides whether the recording
    can be graded at all (enough measurable video in long enough stretches)."""
    quality = metrics.get("quality", {})
    per_eye = {side: eye_grade(metrics[side], task=task, settings=settings) for side in SIDES}
    if not quality.get("gradable", True):
        per_eye = {side: (-1, float("nan")) for side in SIDES}
    gradable = [side for side in SIDES if per_eye[side][0] >= 0]

    def grade(side):
        return per_eye[side][0] if per_eye[side][0] >= 0 else None

    out = {"formula_version": FORMULA_VERSION, "task": task, "gradable": bool(gradable),
           "not_gradable_reason": None}
    if gradable:
        worst = max(gradable, key=lambda s: (per_eye[s][0], np.nan_to_num(per_eye[s][1])))
        out.update(jankovic_frequency_grade=per_eye[worst][0], severity_index=per_eye[worst][1],
                   worse_eye=worst if len(gradable) == 2 and per_eye["left"] != per_eye["right"]
                   else worst if len(gradable) == 1 else "both")
    else:
        out.update(jankovic_frequency_grade=None, severity_index=float("nan"), worse_eye=None,
                   not_gradable_reason=quality.get("not_gradable_reason") or "no measurable video")
    out.update({side: {"jankovic_frequency_grade": grade(side), "severity_index": per_eye[side][1]} for side in SIDES})
    out["thresholds"] = {**settings.__dict__, "closure_rate_grade1_per_min": TASK_NORMS[task]["blink_rate_range"][1]}
    return out
