#!/usr/bin/env python
"""Can the eye region's own pixels tell a closed lid from a lid lowered over a visible iris?

A first, simple test of the image evidence issue 10 asks for (docs/analysis.md, section 4,
"Looking down"). For every frame of the labelled real clips, per eye: a vertical strip through
the face mesh's iris centre, 0.6 iris diameters wide and 2.2 high (the iris ruler
``iris_reference_px``); its rows are averaged; **contrast** = (skin - darkest row) / skin, where
skin is the median of the strip's top and bottom fifths. An open eye shows the dark iris
(contrast high); a shut eye should show only skin and lashes. Each eye's contrast is divided by
its median over the frames it is open (closure < 0.1).

Then a permissive detector (core threshold 0.45, depth 0.3) is run on the same traces and its
closures are split into those matching a labelled closure (one to one, by the labels' scoring
rule) and those that do not (lowered gazes, squints, glances: the false closures a pixel test
would have to remove). The script prints the relative contrast at each closure's apex (lowest of
the apex frame and its neighbours, lower eye) for both groups. It separates them only if the two
ranges barely overlap.

Usage::

    python scripts/eye_region_contrast.py [--model FILE]
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from evaluate import LABELS, REAL, events_settings, real_study_start  # noqa: E402
from label_sheets import frames  # noqa: E402

from spasmcv import extract_trace  # noqa: E402
from spasmcv.analysis.analyze import analyze_trace  # noqa: E402
from spasmcv.analysis.evaluation import event_frames, mostly_excluded, read_labels, score_frames  # noqa: E402
from spasmcv.measure.eyelid import PATIENT_EYES  # noqa: E402

PERMISSIVE = dict(core_threshold=0.45, min_depth=0.3)
STRIP_WIDTH, STRIP_HEIGHT = 0.6, 2.2   # iris diameters


def strip_contrast(gray: np.ndarray, centre: np.ndarray, iris_px: float) -> float:
    """(skin - darkest row) / skin in a vertical strip through the iris centre; NaN off the picture."""
    x, y = centre
    x0, x1 = int(round(x - STRIP_WIDTH / 2 * iris_px)), int(round(x + STRIP_WIDTH / 2 * iris_px)) + 1
    y0, y1 = int(round(y - STRIP_HEIGHT / 2 * iris_px)), int(round(y + STRIP_HEIGHT / 2 * iris_px)) + 1
    if x0 < 0 or y0 < 0 or x1 > gray.shape[1] or y1 > gray.shape[0] or y1 - y0 < 5:
        return float("nan")
    rows = gray[y0:y1, x0:x1].mean(axis=1)
    fifth = max(1, len(rows) // 5)
    skin = float(np.median(np.r_[rows[:fifth], rows[-fifth:]]))
    return (skin - float(rows.min())) / max(skin, 1.0)


def clip_contrast(video: Path, model):
    """The clip's trace and its per-frame strip contrast per eye."""
    centres: dict[int, np.ndarray] = {}

    def keep(index, face):
        if face is not None:
            centres[index] = np.stack([face.landmarks_px[PATIENT_EYES[side].iris_center, :2] for side in ("left", "right")])

    trace = extract_trace(video, model=model, on_face=keep)
    iris = np.asarray(trace["iris_reference_px"], dtype=float)
    contrast = {side: np.full(len(trace), np.nan) for side in ("left", "right")}
    for index, rgb in frames(video, set(centres)):
        if not np.isfinite(iris[index]):
            continue
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(float)
        for k, side in enumerate(("left", "right")):
            contrast[side][index] = strip_contrast(gray, centres[index][k], iris[index])
    return trace, contrast


def apex_values(trace, contrast, clip: dict) -> list[tuple[bool, float]]:
    """(matches a label, relative contrast at the apex) for every closure of the permissive detector."""
    labels = read_labels(LABELS / f"{clip['clip']}.csv")
    analysis = analyze_trace(trace, task=clip["task"], settings=events_settings(**PERMISSIVE))
    time_s, closure = trace["time_s"], analysis.signal.closure
    relative = {}
    for side in ("left", "right"):
        open_frames = (closure[side] < 0.1) & np.isfinite(contrast[side])
        relative[side] = contrast[side] / np.median(contrast[side][open_frames]) if open_frames.any() else contrast[side]
    spans = event_frames(analysis.events.paired, time_s)
    matched_spans = {i for i, _ in score_frames(spans, labels).matches}
    out = []
    for i, (paired, span) in enumerate(zip(analysis.events.paired, spans)):
        if mostly_excluded(span.start_frame, span.end_frame, labels.excluded):
            continue
        matched = i in matched_spans
        values = []
        for event in (paired.left, paired.right):
            if event is not None:
                k = int(np.argmin(np.abs(time_s - event.apex_s)))
                window = relative[event.eye][max(0, k - 1):k + 2]
                if np.isfinite(window).any():
                    values.append(float(np.nanmin(window)))
        if values:
            out.append((matched, min(values)))
    return out


def main() -> int:
    clips, model = real_study_start(__doc__.splitlines()[0])
    rows = []
    for clip in clips:
        trace, contrast = clip_contrast(REAL / clip["video"], model)
        found = apex_values(trace, contrast, clip)
        rows += found
        print(f"{clip['clip']}: {len(found)} closures", flush=True)
    labelled = np.array([v for ok, v in rows if ok])
    other = np.array([v for ok, v in rows if not ok])
    for name, values in (("labelled closures", labelled), ("unlabelled dips", other)):
        if values.size:
            print(f"{name}: n {values.size}, relative contrast at the apex min {values.min():.2f}, "
                  f"quartiles {np.quantile(values, 0.25):.2f} / {np.median(values):.2f} / "
                  f"{np.quantile(values, 0.75):.2f}, max {values.max():.2f}")
    if labelled.size and other.size:
        print(f"labelled closures at or above the lowest unlabelled dip ({other.min():.2f}), which a cut removing "
              f"every dip would lose: {np.mean(labelled >= other.min()):.0%}")
    return 0


if __name__ == "__main__":
    from spasmcv.errors import run_script

    run_script(main)
