#!/usr/bin/env python
"""Can the eye region's own pixels tell a closed lid from a lid lowered over a visible iris?

Two simple tests of the image evidence issue 10 asks for (docs/analysis.md, section 4, "Looking
down" and "One-eye squints"). For every frame of the labelled real clips, per eye, in units of the
iris ruler ``iris_reference_px`` (one iris diameter):

- **contrast**: a vertical strip through the face mesh's iris centre, 0.6 wide and 2.2 high; its
  rows are averaged; (skin - darkest row) / skin, where skin is the median of the strip's top and
  bottom fifths. An open eye shows the dark iris (high); a shut eye should show only skin and
  lashes.
- **catchlight**: the brightest point of a white top-hat (grey levels above an opening with a
  disc 0.35 wide, so spots smaller than that) within 0.5 of the iris centre: the corneal
  reflection of the light, which a shut lid hides and a slit over the iris may still show.

Each eye's value is divided by its median over the frames it is open (closure < 0.1).

Then a permissive detector (core threshold 0.45, depth 0.3) is run on the same traces and its
closures are split into those matching a labelled closure (one to one, by the labels' scoring
rule) and those that do not (lowered gazes, squints, glances: the false closures a pixel test
would have to remove). The script prints each relative value at each closure's apex (lowest of
the apex frame and its neighbours, lower eye) for both groups, for all clips and for the clips
whose iris is at least 18 px, and lists the unlabelled dips. A test separates the groups only if
the two ranges barely overlap.

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
SPOT_WIDTH, IRIS_RADIUS = 0.35, 0.5    # iris diameters
LARGE_IRIS_PX = 18.0
FEATURES = ("contrast", "catchlight")


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


def catchlight(gray: np.ndarray, centre: np.ndarray, iris_px: float) -> float:
    """Brightest white top-hat value (grey levels) within IRIS_RADIUS of the iris centre; NaN off the picture."""
    x, y = centre
    half = 1.5 * iris_px
    x0, x1, y0, y1 = int(x - half), int(x + half) + 1, int(y - half), int(y + half) + 1
    if x0 < 0 or y0 < 0 or x1 > gray.shape[1] or y1 > gray.shape[0]:
        return float("nan")
    size = max(3, int(round(SPOT_WIDTH * iris_px)) | 1)
    spots = cv2.morphologyEx(gray[y0:y1, x0:x1], cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))
    yy, xx = np.mgrid[y0:y1, x0:x1]
    disc = (xx - x) ** 2 + (yy - y) ** 2 <= (IRIS_RADIUS * iris_px) ** 2
    return float(spots[disc].max()) if disc.any() else float("nan")


def clip_features(video: Path, model):
    """The clip's trace and its per-frame contrast and catchlight per eye."""
    centres: dict[int, np.ndarray] = {}

    def keep(index, face):
        if face is not None:
            centres[index] = np.stack([face.landmarks_px[PATIENT_EYES[side].iris_center, :2] for side in ("left", "right")])

    trace = extract_trace(video, model=model, on_face=keep)
    iris = np.asarray(trace["iris_reference_px"], dtype=float)
    values = {name: {side: np.full(len(trace), np.nan) for side in ("left", "right")} for name in FEATURES}
    for index, rgb in frames(video, set(centres)):
        if not np.isfinite(iris[index]):
            continue
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        gray_float = gray.astype(float)
        for k, side in enumerate(("left", "right")):
            values["contrast"][side][index] = strip_contrast(gray_float, centres[index][k], iris[index])
            values["catchlight"][side][index] = catchlight(gray, centres[index][k], iris[index])
    return trace, values


def apex_values(trace, values, clip: dict) -> list[dict]:
    """For every closure of the permissive detector: its frames, whether it matches a label, the iris
    size (px) and each feature relative to the same eye open, at the apex."""
    labels = read_labels(LABELS / f"{clip['clip']}.csv")
    analysis = analyze_trace(trace, task=clip["task"], settings=events_settings(**PERMISSIVE))
    time_s, closure = trace["time_s"], analysis.signal.closure
    relative = {}
    for name in FEATURES:
        for side in ("left", "right"):
            open_frames = (closure[side] < 0.1) & np.isfinite(values[name][side])
            scale = np.median(values[name][side][open_frames]) if open_frames.any() else np.nan
            relative[name, side] = values[name][side] / scale if scale > 0 else np.full(len(trace), np.nan)
    iris_px = float(np.nanmedian(np.asarray(trace["iris_reference_px"], dtype=float)))
    spans = event_frames(analysis.events.paired, time_s)
    matched_spans = {i for i, _ in score_frames(spans, labels).matches}
    out = []
    for i, (paired, span) in enumerate(zip(analysis.events.paired, spans)):
        if mostly_excluded(span.start_frame, span.end_frame, labels.excluded):
            continue
        found = {}
        for name in FEATURES:
            apex = []
            for event in (paired.left, paired.right):
                if event is not None:
                    k = int(np.argmin(np.abs(time_s - event.apex_s)))
                    window = relative[name, event.eye][max(0, k - 1):k + 2]
                    if np.isfinite(window).any():
                        apex.append(float(np.nanmin(window)))
            found[name] = min(apex) if apex else np.nan
        out.append(dict(clip=clip["clip"], frames=(span.start_frame, span.end_frame), matched=i in matched_spans,
                        iris_px=iris_px, **found))
    return out


def describe(rows: list[dict], name: str, heading: str) -> None:
    """Print the feature's spread at the apex of the labelled closures and of the unlabelled dips."""
    print(f"{heading}:")
    labelled = np.array([r[name] for r in rows if r["matched"] and np.isfinite(r[name])])
    other = np.array([r[name] for r in rows if not r["matched"] and np.isfinite(r[name])])
    for group, values in (("labelled closures", labelled), ("unlabelled dips", other)):
        if values.size:
            print(f"  {group}: n {values.size}, relative {name} at the apex min {values.min():.2f}, "
                  f"quartiles {np.quantile(values, 0.25):.2f} / {np.median(values):.2f} / "
                  f"{np.quantile(values, 0.75):.2f}, max {values.max():.2f}")
    if labelled.size and other.size:
        print(f"  labelled closures at or above the lowest unlabelled dip ({other.min():.2f}), which a cut removing "
              f"every dip would lose: {np.mean(labelled >= other.min()):.0%}; at or above the highest "
              f"({other.max():.2f}): {np.mean(labelled >= other.max()):.0%}")


def main() -> int:
    clips, model = real_study_start(__doc__.splitlines()[0])
    rows = []
    for clip in clips:
        trace, values = clip_features(REAL / clip["video"], model)
        found = apex_values(trace, values, clip)
        rows += found
        print(f"{clip['clip']}: {len(found)} closures, iris {found[0]['iris_px'] if found else float('nan'):.0f} px", flush=True)
    large = [r for r in rows if r["iris_px"] >= LARGE_IRIS_PX]
    for name in FEATURES:
        describe(rows, name, f"{name}, all clips")
        describe(large, name, f"{name}, clips whose iris is at least {LARGE_IRIS_PX:.0f} px")
    print("unlabelled dips:")
    for r in rows:
        if not r["matched"]:
            print(f"  {r['clip']} {r['frames'][0]}-{r['frames'][1]} (iris {r['iris_px']:.0f} px): "
                  + ", ".join(f"{name} {r[name]:.2f}" for name in FEATURES))
    return 0


if __name__ == "__main__":
    from spasmcv.errors import run_script

    run_script(main)
