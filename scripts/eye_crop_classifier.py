#!/usr/bin/env python
"""Does a classifier learned on the eye's own pixels tell a shut eye from an open one that is
lowered or narrowed better than the landmarks do?

The next try after ``scripts/eye_region_contrast.py`` (docs/analysis.md, section 4, "Looking down"
and "One-eye squints"): not a hand-built measure but one learned from the labelled frames, and
evaluated leave-one-clip-out. For every frame of every labelled real clip (the project's, and the
outside clips when ``--external`` is given), per eye:

- **crop**: the eye cut out along the line through its two corners (the face mesh's, from the
  same tracking as the trace), 1.5 eye widths by 0.75, resampled to 48 x 24 grey pixels; the
  right eye mirrored so that both have the inner corner on the same side.
- **features**: a histogram of oriented gradients (8-px cells, 16-px blocks, 9 bins: 360 values)
  and the crop shrunk to 24 x 12 and standardised (288 values, weighted 0.1).
- **frame labels**: shut = the apex frame of a labelled complete closure and its two neighbours,
  on each eye the label names; open = every frame more than 4 frames away from any labelled
  closure and outside the excluded intervals; the rest is not used.
- **classifier**: L2-regularised logistic regression (``--l2``), classes weighted equally, trained
  on every other clip's shut frames, on their open frames that the landmark closure signal reads
  at 0.2 or more, and on 15 % of the rest (seed 0); each clip is scored by the model that did not
  see it.
- **combined**: a second leave-one-clip-out logistic regression on the classifier's score and the
  logit of the landmark closure signal (analysis defaults), trained on shut and hard open frames.

It prints, per clip and pooled for the project's and the outside clips, the area under the ROC
curve for shut frames against the **hard** open frames (closure signal 0.3 or more: narrowed,
lowered or squinting eyes, where the landmarks alone go wrong), for the closure signal, the
classifier and the two combined (``--markdown``: also as docs/eye-crop-classifier.md). With
``--scores``, ``scripts/long_closures.py --crop-scores`` reads the classifier over long closures.

Usage::

    python scripts/eye_crop_classifier.py [--model FILE] [--external DIR] [--work DIR] [--l2 10] [--scores FILE] [--markdown FILE]

``--work`` keeps each clip's trace and crops (``CLIP.trace.csv``, ``CLIP.crops.npz``) so that a
second run only refits (empty it after changing the signals or the labels' videos); ``--scores`` keeps every frame's closure signal and scores (clip, frame,
eye, frame label) for a closer look.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from evaluate import LABELS, EXTERNAL, REAL, external_clips, real_clips  # noqa: E402
from label_sheets import frames  # noqa: E402

from spasmcv import __version__, extract_trace, read_trace, resolve_model, write_trace  # noqa: E402
from spasmcv._atomic import atomic_write  # noqa: E402
from spasmcv.analysis.analyze import ANALYSIS_VERSION, analyze_trace  # noqa: E402
from spasmcv.analysis.closure import SIDES  # noqa: E402
from spasmcv.analysis.evaluation import read_labels  # noqa: E402
from spasmcv.measure.extract import SIGNALS_VERSION  # noqa: E402
from spasmcv.measure.eyelid import PATIENT_EYES  # noqa: E402

CROP_SIZE = (48, 24)          # px, width x height
CROP_WIDTH_EYES = 1.5         # crop width in eye widths (corner to corner)
OPEN_MARGIN = 4               # frames around a labelled closure that are neither shut nor open
HARD_CLOSURE = 0.3            # open frames the closure signal reads at least this closed
TRAIN_CLOSURE = 0.2           # open frames always kept for training
EASY_SHARE = 0.15             # share of the other open frames kept for training
HOG = cv2.HOGDescriptor(CROP_SIZE, (16, 16), (8, 8), (8, 8), 9)
FEATURE_COUNT = HOG.getDescriptorSize() + (CROP_SIZE[0] // 2) * (CROP_SIZE[1] // 2)  # 360 + 288


def eye_crop(gray: np.ndarray, corners: np.ndarray, mirror: bool) -> np.ndarray:
    """The eye between ``corners`` (2 x 2 px, any order) rotated level and resampled to CROP_SIZE."""
    a, b = sorted(corners, key=lambda p: p[0])
    d = b - a
    scale = CROP_SIZE[0] / (CROP_WIDTH_EYES * max(float(np.hypot(*d)), 1.0))
    angle = np.arctan2(d[1], d[0])
    m = scale * np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])
    shift = np.array(CROP_SIZE, float) / 2 - m @ ((a + b) / 2)
    crop = cv2.warpAffine(gray, np.c_[m, shift], CROP_SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return crop[:, ::-1] if mirror else crop


def clip_crops(video: Path, model, work: Path | None, name: str):
    """The clip's trace and its eye crops (frames, 2 eyes, 24, 48; uint8) with their frame numbers."""
    cached = work / f"{name}.crops.npz" if work else None
    if cached is not None and cached.exists():
        data = np.load(cached)
        return read_trace(work / f"{name}.trace.csv"), data["frames"], data["crops"]
    corners: dict[int, np.ndarray] = {}

    def keep(index, face):
        if face is not None:
            corners[index] = np.stack([face.landmarks_px[[PATIENT_EYES[s].outer_corner, PATIENT_EYES[s].inner_corner], :2]
                                       for s in SIDES])

    trace = extract_trace(video, model=model, on_face=keep)
    index, crops = [], []
    for i, rgb in frames(video, set(corners) or None):
        if i in corners:
            gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            crops.append([eye_crop(gray, corners[i][k], side == "right") for k, side in enumerate(SIDES)])
            index.append(i)
    index = np.array(index, dtype=int)
    crops = np.array(crops, dtype=np.uint8).reshape(-1, 2, CROP_SIZE[1], CROP_SIZE[0])
    if cached is not None:
        work.mkdir(parents=True, exist_ok=True)
        write_trace(trace, work / f"{name}.trace.csv")
        np.savez_compressed(cached, frames=index, crops=crops)
    return trace, index, crops


def frame_labels(n_frames: int, labels, side: str) -> np.ndarray:
    """Per frame: 1 shut (a complete closure's apex and neighbours on this eye), 0 open, -1 unused."""
    out = np.zeros(n_frames, dtype=int)
    for start, end in labels.excluded:
        out[max(start, 0):end + 1] = -1
    for c in labels.closures:
        out[max(c.start_frame - OPEN_MARGIN, 0):c.end_frame + OPEN_MARGIN + 1] = -1
    for c in labels.closures:
        if c.complete and c.eye in ("both", side):
            out[max(c.apex_frame - 1, 0):c.apex_frame + 2] = 1
    return out


def features(crops: np.ndarray) -> np.ndarray:
    """Oriented-gradient histogram and a small standardised copy of each crop (n, FEATURE_COUNT)."""
    rows = []
    for crop in crops:
        small = cv2.resize(crop, (CROP_SIZE[0] // 2, CROP_SIZE[1] // 2), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
        small = (small - small.mean()) / (small.std() + 1e-3)
        rows.append(np.concatenate([HOG.compute(crop).ravel(), 0.1 * small]))
    return np.array(rows, dtype=np.float64).reshape(len(rows), FEATURE_COUNT)


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, iterations: int = 25):
    """Class-balanced L2 logistic regression by Newton's method; returns the scoring function."""
    mean, sd = x.mean(0), x.std(0) + 1e-6
    z = np.c_[(x - mean) / sd, np.ones(len(x))]
    weight = np.where(y == 1, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    penalty = np.full(z.shape[1], 2 * l2)
    penalty[-1] = 0.0
    beta = np.zeros(z.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(z @ beta, -30, 30)))
        gradient = z.T @ (weight * (p - y)) + penalty * beta
        hessian = (z * (weight * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.max(np.abs(step)) < 1e-6:
            break
    return lambda x2: np.c_[(x2 - mean) / sd, np.ones(len(x2))] @ beta


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a shut frame scores above an open one (ties count half)."""
    positive, negative = positive[np.isfinite(positive)], negative[np.isfinite(negative)]
    if not len(positive) or not len(negative):
        return float("nan")
    _, where, counts = np.unique(np.concatenate([positive, negative]), return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[where]  # tied values share their mean rank
    return float((ranks[:len(positive)].sum() - len(positive) * (len(positive) + 1) / 2) / (len(positive) * len(negative)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="face_landmarker.task (default: the usual search)")
    parser.add_argument("--external", type=Path, help="folder of the outside clips (scripts/fetch_external_clips.py)")
    parser.add_argument("--work", type=Path, help="folder that keeps traces and crops between runs")
    parser.add_argument("--scores", type=Path, help="also write every frame's scores here (.npz)")
    parser.add_argument("--l2", type=float, default=10.0, help="L2 penalty of the classifier (default 10)")
    parser.add_argument("--markdown", type=Path, help="also write the table here (docs/eye-crop-classifier.md)")
    args = parser.parse_args()
    model = resolve_model(args.model)
    jobs = [("project", c["clip"], REAL / c["video"], LABELS, c["task"]) for c in real_clips()]
    if args.external:
        found, problems = external_clips(args.external)
        for problem in problems:
            print("skipped:", problem, file=sys.stderr)
        jobs += [("outside", row["clip"], video, EXTERNAL, row["task"]) for row, video in found]
    if not jobs:
        print(f"no labelled videos found under {REAL}", file=sys.stderr)
        return 1
    columns = {k: [] for k in ("group", "clip", "frame", "eye", "y", "closure", "features")}
    for group, name, video, labels_dir, task in jobs:
        trace, index, crops = clip_crops(video, model, args.work and args.work / group, name)
        signal = analyze_trace(trace, task=task).signal
        labels = read_labels(labels_dir / f"{name}.csv")
        for k, side in enumerate(SIDES):
            columns["y"].append(frame_labels(len(trace), labels, side)[index])
            columns["closure"].append(np.asarray(signal.closure[side], float)[index])
            columns["features"].append(features(crops[:, k]))
            columns["frame"].append(index)
            columns["eye"] += [side] * len(index)
            columns["group"] += [group] * len(index)
            columns["clip"] += [name] * len(index)
        print(f"{group} {name}: {len(index)} frames with a face", file=sys.stderr, flush=True)
    y, closure = np.concatenate(columns["y"]), np.concatenate(columns["closure"])
    x = np.concatenate(columns["features"])
    group, clip = np.array(columns["group"]), np.array(columns["clip"])
    used = (y >= 0) & np.isfinite(closure)
    rng = np.random.default_rng(0)
    kept = used & ((y == 1) | (closure >= TRAIN_CLOSURE) | (rng.random(len(y)) < EASY_SHARE))
    score, combined = np.full(len(y), np.nan), np.full(len(y), np.nan)
    for name in dict.fromkeys(clip):
        train = kept & (clip != name)
        score[clip == name] = fit_logistic(x[train], y[train].astype(float), args.l2)(x[clip == name])
    odds = np.log(np.clip(closure, 0.01, 0.99) / (1 - np.clip(closure, 0.01, 0.99)))
    stacked = np.c_[odds, score]
    for name in dict.fromkeys(clip):
        train = used & (clip != name) & ((y == 1) | (closure >= HARD_CLOSURE))
        combined[clip == name] = fit_logistic(stacked[train], y[train].astype(float), 0.0)(stacked[clip == name])
    if args.scores:
        np.savez_compressed(args.scores, group=group, clip=clip, frame=np.concatenate(columns["frame"]),
                            eye=np.array(columns["eye"]), y=y, closure=closure, crop=score, both=combined)
    lines = [f"Area under the ROC curve, shut frames against hard open frames (closure signal >= {HARD_CLOSURE:g}), "
             f"leave-one-clip-out (L2 penalty {args.l2:g}; clips with shut frames and at least 5 hard open frames):", "",
             "| clips | clip | shut frames | hard open frames | closure signal | classifier | both |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for g in dict.fromkeys(group):
        for name in list(dict.fromkeys(clip[group == g])) + ["pooled"]:
            m = used & (group == g) & ((clip == name) if name != "pooled" else True)
            shut, hard = m & (y == 1), m & (y == 0) & (closure >= HARD_CLOSURE)
            if shut.sum() and hard.sum() >= 5:
                lines.append(f"| {g} | {name} | {shut.sum()} | {hard.sum()} | {auc(closure[shut], closure[hard]):.3f} | "
                             f"{auc(score[shut], score[hard]):.3f} | {auc(combined[shut], combined[hard]):.3f} |")
    print("\n".join(lines))
    if args.markdown:
        with atomic_write(args.markdown) as handle:
            handle.write("\n".join([
                "# A classifier learned on the eye's pixels", "",
                f"Generated by `scripts/eye_crop_classifier.py` (its docstring defines the crops, features, frame labels "
                f"and the classifier; docs/analysis.md, section 4, \"Looking down\", reads it): spasmcv {__version__}, "
                f"{ANALYSIS_VERSION}, signals {SIGNALS_VERSION}, {len(dict.fromkeys(clip))} labelled clips.", ""]
                + lines) + "\n")
    return 0


if __name__ == "__main__":
    from spasmcv.errors import run_script

    run_script(main)
