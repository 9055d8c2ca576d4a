#!/usr/bin/env python
"""Do the intensity indicators follow how forcefully real people close their eyes?

The evidence behind docs/severity.md, "Intensity indicators". ``labels/intensity.csv`` holds the
long closures (12 frames or more) of the labelled real clips, judged by eye on whole-face
frames before and during each closure (labels/intensity.md): is the brow pulled down, the cheek
raised, the closure a squeeze. For each, from the trace of the labelled eye (both eyes: their
mean), the change from the 0.1-0.6 s before the closure's first frame (after its end, for a clip
that starts shut) to the middle half of the closure (medians), of the signals the indicators are made of (spasmcv.analysis.severity
``intensity_indicators``, which takes the same changes between all of a recording's open and
closed frames):

- **brow lowering, mm**: the brow-to-eye distance (``brow_eye_mm``), positive = brow pulled down;
- **squint**: MediaPipe's ``eyeSquint`` score;
- **brow down**: MediaPipe's ``browDown`` score (not reported by spasmcv; shown for comparison);
- **mouth corner**: the largest change of the same side's ``mouthSmile``, ``mouthStretch`` and
  ``mouthPress``.

It prints a table per closure and, for each judgement, each measure's range in the "yes" and "no"
groups and how often a "yes" closure reads more than a "no" one (the area under the ROC curve, by
Mann-Whitney, ties half; 0.5 = no separation). ``--markdown`` writes the tables.

Usage::

    python scripts/closure_intensity.py [--model FILE] [--traces DIR] --external DIR [--markdown FILE]
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from evaluate import LABELS, REAL, external_clips, get_trace, real_clips  # noqa: E402
from long_closures import BEFORE_S, _median, middle_half  # noqa: E402

from spasmcv import __version__, resolve_model  # noqa: E402
from spasmcv._atomic import atomic_write  # noqa: E402
from spasmcv.measure.extract import SIGNALS_VERSION  # noqa: E402

INTENSITY_LABELS = LABELS / "intensity.csv"
JUDGEMENTS = ("squeezed", "brow_lowered", "cheek_raised")
#: (key, heading, trace column made from a side, sign, format)
MEASURES = (("brow_lowering_mm", "brow lowering (mm)", "brow_eye_mm_{side}", -1.0, "{:+.2f}"),
            ("squint", "squint", "bs_eyeSquint_{side}", 1.0, "{:+.2f}"),
            ("brow_down", "brow down", "bs_browDown_{side}", 1.0, "{:+.2f}"),
            ("mouth_corner", "mouth corner", None, 1.0, "{:+.2f}"))
MOUTH = ("bs_mouthSmile_{side}", "bs_mouthStretch_{side}", "bs_mouthPress_{side}")


def closure_change(values: np.ndarray, time_s: np.ndarray, start: int, end: int) -> float:
    """Median of ``values`` over the middle half of frames ``start..end`` (a closure, from its last
    open frame to its first reopened one) less the median over the 0.1-0.6 s before frame
    ``start``, or, where those hold no number (a clip that starts with the eyes shut), over the
    0.1-0.6 s after frame ``end``; NaN where neither does."""
    during = _median(values[middle_half(start, end)])
    before = (time_s >= time_s[start] - BEFORE_S[0]) & (time_s <= time_s[start] - BEFORE_S[1])
    reference = _median(values[before])
    if not np.isfinite(reference):
        after = (time_s >= time_s[end] + BEFORE_S[1]) & (time_s <= time_s[end] + BEFORE_S[0])
        reference = _median(values[after])
    return during - reference


def closure_measures(columns, start: int, end: int, eye: str) -> dict:
    """Each measure's change over one closure (:func:`closure_change`), on ``eye`` (``left``,
    ``right``; ``both``: the mean of the two eyes' changes)."""
    time_s = np.asarray(columns["time_s"], dtype=float)
    sides = ("left", "right") if eye == "both" else (eye,)

    def column(name: str) -> np.ndarray:
        return np.asarray(columns[name], dtype=float) if name in columns else np.full(len(time_s), np.nan)

    out = {}
    for key, _, pattern, sign, _ in MEASURES:
        per_side = []
        for side in sides:
            if pattern is None:
                changes = [closure_change(column(p.format(side=side)), time_s, start, end) for p in MOUTH]
                per_side.append(np.nanmax(changes) if np.isfinite(changes).any() else np.nan)
            else:
                per_side.append(sign * closure_change(column(pattern.format(side=side)), time_s, start, end))
        measured = [v for v in per_side if np.isfinite(v)]
        out[key] = float(np.mean(measured)) if measured else float("nan")
    return out


def auc(yes: list[float], no: list[float]) -> float:
    """How often a value of ``yes`` exceeds one of ``no`` (ties count half): the area under the
    ROC curve; NaN when either group is empty."""
    yes = [v for v in yes if np.isfinite(v)]
    no = [v for v in no if np.isfinite(v)]
    if not yes or not no:
        return float("nan")
    wins = sum((a > b) + 0.5 * (a == b) for a in yes for b in no)
    return wins / (len(yes) * len(no))


def read_intensity_labels(path: Path = INTENSITY_LABELS) -> list[dict]:
    """The judged closures (labels/intensity.md has the columns)."""
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def measure_rows(labels: list[dict], traces: dict) -> list[dict]:
    """Each judged closure with its measures; ``traces``: clip name -> trace columns (clips
    without a trace are left out)."""
    rows = []
    for label in labels:
        columns = traces.get(label["clip"])
        if columns is None:
            continue
        start, end = int(label["start_frame"]), int(label["end_frame"])
        rows.append({**label, **closure_measures(columns, start, end, label["eye"])})
    return rows


def summary_lines(rows: list[dict]) -> list[str]:
    """Per judgement and measure: the range in the yes and no groups, and the AUC."""
    lines = ["| judgement | yes / no / unclear | measure | yes: median (range) | no: median (range) | AUC |",
             "|---|---|---|---|---|---:|"]
    for judgement in JUDGEMENTS:
        counts = {v: sum(r[judgement] == v for r in rows) for v in ("yes", "no", "unclear")}
        for key, heading, _, _, spec in MEASURES:
            groups = {v: [float(r[key]) for r in rows if r[judgement] == v and np.isfinite(r[key])]
                      for v in ("yes", "no")}

            def spread(values: list[float]) -> str:
                if not values:
                    return "-"
                return (f"{spec.format(np.median(values))} ({spec.format(min(values))} to "
                        f"{spec.format(max(values))})")

            area = auc(groups["yes"], groups["no"])
            lines.append(f"| {judgement} | {counts['yes']} / {counts['no']} / {counts['unclear']} | {heading} | "
                         f"{spread(groups['yes'])} | {spread(groups['no'])} | "
                         f"{'-' if not np.isfinite(area) else f'{area:.2f}'} |")
    return lines


def markdown(rows: list[dict]) -> str:
    """The per-closure table and the summary, as Markdown."""
    head = ("| clip | frames | eye | squeezed | brow lowered | cheek raised | cause | "
            + " | ".join(heading for _, heading, _, _, _ in MEASURES) + " |")
    lines = ["# Intensity indicators on real closures judged by eye", "",
             "Each long closure (12 frames or more) of the labelled real clips, judged on whole-face frames "
             "before and during it (labels/intensity.md: is the brow pulled down, the cheek raised, the closure "
             "a squeeze), against the change over the closure of the signals spasmcv's intensity indicators are "
             "made of (docs/severity.md, \"Intensity indicators\"). AUC: how often a closure judged \"yes\" reads "
             "more than one judged \"no\" (ties half; 0.5 = no separation).", "",
             f"Produced by `scripts/closure_intensity.py` (spasmcv {__version__}, signals {SIGNALS_VERSION}): "
             f"{len(rows)} judged closures of {len({r['clip'] for r in rows})} real clips.", "",
             *summary_lines(rows), "", head, "|" + "---|" * (7 + len(MEASURES))]
    for r in rows:
        values = " | ".join(("-" if not np.isfinite(r[key]) else spec.format(r[key]))
                            for key, _, _, _, spec in MEASURES)
        lines.append(f"| {r['clip']} | {r['start_frame']}-{r['end_frame']} | {r['eye']} | {r['squeezed']} | "
                     f"{r['brow_lowered']} | {r['cheek_raised']} | {r['cause']} | {values} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="face_landmarker.task (default: the usual search)")
    parser.add_argument("--traces", type=Path, help="a folder to keep the traces in (evaluate.py's --traces)")
    parser.add_argument("--external", type=Path, help="the outside clips' videos (scripts/fetch_external_clips.py)")
    parser.add_argument("--labels", type=Path, default=INTENSITY_LABELS, help="the judged closures")
    parser.add_argument("--markdown", type=Path, help="write the tables here")
    args = parser.parse_args()
    model = resolve_model(args.model)
    labels = read_intensity_labels(args.labels)
    wanted = {r["clip"] for r in labels}
    traces = {}
    for info in real_clips():
        if info["clip"] in wanted:
            traces[info["clip"]] = get_trace(REAL / info["video"], args.traces, model, name=info["clip"]).columns
    if args.external:
        found, problems = external_clips(args.external)
        for problem in problems:
            print(f"not read: {problem}", file=sys.stderr)
        for info, video in found:
            if info["clip"] in wanted:
                traces[info["clip"]] = get_trace(video, args.traces, model, name=f"external_{info['clip']}").columns
    missing = sorted(wanted - set(traces))
    if missing:
        print(f"no video for: {', '.join(missing)} (left out)", file=sys.stderr)
    text = markdown(measure_rows(labels, traces))
    print(text)
    if args.markdown:
        with atomic_write(args.markdown) as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    from spasmcv.errors import run_script

    run_script(main)
