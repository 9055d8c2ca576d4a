#!/usr/bin/env python
"""Which lid moves? Upper-lid descent and lower-lid rise at blinks and at the dips that are not blinks.

A test of landmark evidence issue 10 asks for (docs/analysis.md, section 4, "Fast glances" and
"Incomplete blinks"). The closure signal measures the fissure, so it cannot say which lid closed
it: a blink brings the upper lid down (orbicularis oculi also lifts the lower lid a little), a
smile or laugh lifts the lower lid with the cheek, and a downward glance takes both lids down
with the eye. For every frame of the labelled real clips, per eye, the trace's ``upper_lid`` and
``lower_lid`` columns: the upper-lid midpoint's height above the line between the eye's corners
and the lower-lid midpoint's depth below it, along the face's forehead-to-chin axis, in iris
diameters (docs/trace.md). analysis-8's ``glance`` test (docs/analysis.md) rests on these figures.

At the peak of each dip (the frame of highest closure, in the eye that closed more) the script
takes the change from the median of the frames 0.32 to 0.12 s before it, as the glance test
does: **upper-lid descent** (positive: the upper lid came down) and **lower-lid rise**
(positive: the lower lid came up). Dips
are the labelled closures (complete and incomplete) and every unlabelled peak of the mean of
both eyes' closure of at least 0.25 that rises and falls by 0.2 within 8 frames (speech, smiles,
glances, squints), outside the labels (widened by 2 frames) and their excluded intervals.

Usage::

    python scripts/lid_components.py [--model FILE]
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from evaluate import LABELS, REAL, real_study_start  # noqa: E402

from spasmcv import extract_trace  # noqa: E402
from spasmcv.analysis.analyze import analyze_trace  # noqa: E402
from spasmcv.analysis.evaluation import mostly_excluded, read_labels  # noqa: E402
from spasmcv.analysis.events import lid_change  # noqa: E402

SIDES = ("left", "right")
MIN_PEAK, MIN_RISE = 0.25, 0.2
INCOMPLETE_RANGE = (0.25, 0.6)   # peak closure of the missed incomplete blinks and of the dips that look like them


def lid_changes(k: int, closure, trace) -> tuple[float, float]:
    """(upper-lid descent, lower-lid rise) at frame ``k`` in the eye that closed more, iris
    diameters, measured as the glance test measures them (``events.lid_change``)."""
    side = max(SIDES, key=lambda s: np.nan_to_num(closure[s][k], nan=-1.0))
    time_s = np.asarray(trace["time_s"], dtype=float)
    return tuple(lid_change(np.asarray(trace[f"{lid}_lid_{side}"], dtype=float), time_s, time_s[k])
                 for lid in ("upper", "lower"))


def unlabelled_peaks(mean_closure: np.ndarray, taken: set[int], excluded) -> list[int]:
    """Peaks of at least MIN_PEAK that rise and fall by MIN_RISE within 8 frames, outside ``taken``."""
    c = np.nan_to_num(mean_closure, nan=0.0)
    peaks = []
    for k in range(1, len(c) - 1):
        if c[k] < MIN_PEAK or c[k] < c[k - 1] or c[k] < c[k + 1] or k in taken or mostly_excluded(k, k, excluded):
            continue
        if c[k] - c[max(0, k - 8):k].min() >= MIN_RISE and c[k] - c[k + 1:k + 9].min() >= MIN_RISE:
            if not peaks or k - peaks[-1] > 3:
                peaks.append(k)
    return peaks


def clip_dips(trace, clip: dict) -> list[dict]:
    """Every labelled closure and unlabelled dip of one clip with its peak and lid changes."""
    labels = read_labels(LABELS / f"{clip['clip']}.csv")
    closure = analyze_trace(trace, task=clip["task"]).signal.closure
    with warnings.catch_warnings():  # frames where neither eye is measured stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean_closure = np.nanmean(np.vstack([closure["left"], closure["right"]]), axis=0)

    def dip(k, kind):
        descent, rise = lid_changes(k, closure, trace)
        return {"clip": clip["clip"], "frame": k, "kind": kind, "closure": float(mean_closure[k]),
                "descent": descent, "rise": rise}

    out, taken = [], set()
    for label in labels.closures:
        if mostly_excluded(label.start_frame, label.end_frame, labels.excluded):
            continue
        taken.update(range(label.start_frame - 2, label.end_frame + 3))
        span = np.nan_to_num(mean_closure[label.start_frame:label.end_frame + 1], nan=-1.0)
        if span.size == 0 or span.max() < 0:
            continue
        k = label.start_frame + int(np.argmax(span))
        out.append(dip(k, "complete" if label.complete else "incomplete"))
    for k in unlabelled_peaks(mean_closure, taken, labels.excluded):
        out.append(dip(k, "unlabelled"))
    return out


def main() -> int:
    clips, model = real_study_start(__doc__.splitlines()[0])
    dips = []
    for clip in clips:
        found = clip_dips(extract_trace(REAL / clip["video"], model=model), clip)
        dips += found
        print(f"{clip['clip']}: {len(found)} dips", flush=True)
    print("\nchange at the peak, iris diameters: quantiles 10 / 50 / 90 %")
    for kind in ("complete", "incomplete", "unlabelled"):
        group = [d for d in dips if d["kind"] == kind and np.isfinite(d["rise"])]
        descent = np.array([d["descent"] for d in group])
        rise = np.array([d["rise"] for d in group])
        if group:
            print(f"{kind:11s} n {len(group):3d}  upper-lid descent {np.quantile(descent, 0.1):+.2f} / "
                  f"{np.median(descent):+.2f} / {np.quantile(descent, 0.9):+.2f}  lower-lid rise "
                  f"{np.quantile(rise, 0.1):+.3f} / {np.median(rise):+.3f} / {np.quantile(rise, 0.9):+.3f}")
    lo, hi = INCOMPLETE_RANGE
    print(f"\nincomplete blinks and unlabelled dips peaking at closure {lo}-{hi}:")
    for d in sorted((d for d in dips if d["kind"] != "complete" and lo <= d["closure"] <= hi),
                    key=lambda d: (d["kind"], d["rise"])):
        print(f"  {d['kind']:10s} {d['clip']:14s} frame {d['frame']:5d}  closure {d['closure']:.2f}  "
              f"upper-lid descent {d['descent']:+.2f}  lower-lid rise {d['rise']:+.3f}")
    return 0


if __name__ == "__main__":
    from spasmcv.errors import run_script

    run_script(main)
