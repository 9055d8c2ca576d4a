#!/usr/bin/env python
"""Long closures on large eyes: do the held closures the labels hold differ from the long
downward looks they do not, in any landmark measure or in how fast the lid came down?

The evidence behind docs/analysis.md, section 4, "Looking down". Over every labelled real clip
(the project's, and the outside clips when ``--external`` is given) at the analysis defaults,
each eye's closure (any kind: counted, ``review`` or not counted) of at least ``MIN_DURATION_S``
in a clip whose iris is at least ``MIN_IRIS_PX`` wide is put in one of two groups:

- **labelled**: it overlaps (both widened by 2 frames, the scoring rule) a labelled closure at
  least half as long, on that eye;
- **unlabelled**: it overlaps none; those that lie mostly in frames the labels exclude are
  marked and left out of the summary.

Per closure, from the trace and the closure signal of that eye:

- **closing ms**: the time the closure signal took from 20 % to 80 % of the way from the
  closure's first frame to its peak (each crossing interpolated linearly between frames);
- **pitch change**: the head's pitch (degrees, positive: chin down) over the closure's middle
  half less its median over the 0.1-0.6 s before the closure (medians);
- **brow change**: the brow-to-eye distance (iris diameters) likewise; **upper-lid**,
  **lower-lid** and **iris change**: the trace's ``upper_lid``, ``lower_lid`` and ``iris_drop``
  of that eye (iris diameters, docs/trace.md) likewise;
- **look down**, **squint**: the eye's MediaPipe ``eyeLookDown`` and ``eyeSquint`` blendshapes,
  median over the middle half;
- **aperture**: the eye's lid-to-lid distance (``aperture_px``) in iris diameters
  (``iris_reference_px``), median over the middle half: how far the lids stand apart, not how
  far they came down;
- **other eye**: the other eye's closure (0 open to 1 closed, docs/analysis.md section 1), median
  over the same frames: whether the closure is both eyes' or one eye's;
- **crop score** (with ``--crop-scores``): the median over the middle half of the eye-crop
  classifier's leave-one-clip-out score (``scripts/eye_crop_classifier.py --scores FILE``: a
  logistic regression on the eye's own pixels; above 0 reads shut), from a model that did not see
  the clip.

It prints a table of the closures and, per group, the range of each measure (``--markdown``
writes them as docs/long-closures.md).

Usage::

    python scripts/long_closures.py [--model FILE] [--traces DIR] [--external DIR] [--crop-scores FILE] [--markdown FILE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from evaluate import EXTERNAL, external_clips, read_real_clip, real_clips  # noqa: E402

from spasmcv import __version__, resolve_model  # noqa: E402
from spasmcv._atomic import atomic_write  # noqa: E402
from spasmcv.analysis.analyze import ANALYSIS_VERSION, analyze_trace  # noqa: E402
from spasmcv.analysis.evaluation import event_frames, mostly_excluded, spans_overlap  # noqa: E402
from spasmcv.measure.extract import SIGNALS_VERSION  # noqa: E402

MIN_DURATION_S = 0.9
MIN_IRIS_PX = 15.0
WIDEN = 2                       # frames, the scoring rule's
BEFORE_S = (0.6, 0.1)           # the reference window, seconds before the closure's first frame
SIDES = ("left", "right")
MEASURES = (("closing_ms", "closing ms", "{:.0f}"), ("pitch_change", "pitch change (deg)", "{:+.1f}"),
            ("brow_change", "brow change (iris)", "{:+.2f}"), ("upper_lid_change", "upper-lid change (iris)", "{:+.2f}"),
            ("lower_lid_change", "lower-lid change (iris)", "{:+.2f}"), ("iris_change", "iris change (iris)", "{:+.2f}"),
            ("look_down", "look down", "{:.2f}"),
            ("squint", "squint", "{:.2f}"), ("aperture", "aperture (iris)", "{:.2f}"),
            ("other_eye", "other eye", "{:.2f}"))
CROP_SCORE = ("crop_score", "crop score", "{:+.1f}")


def closing_time_s(closure: np.ndarray, start: int, apex: int, fps: float) -> float:
    """Seconds the closure signal took from 20 % to 80 % of the way from frame ``start`` to its
    peak at or before frame ``apex``, each crossing placed between frames by linear
    interpolation; NaN when a frame on the way is unmeasured."""
    span = np.asarray(closure[start:apex + 1], dtype=float)
    if span.size < 2 or not np.isfinite(span[0]):
        return float("nan")
    peak = int(np.nanargmax(span)) if np.isfinite(span).any() else 0
    rise = span[peak] - span[0]
    if rise <= 0 or not np.isfinite(span[:peak + 1]).all():
        return float("nan")

    def crossing(fraction: float) -> float:
        level = span[0] + fraction * rise
        k = int(np.argmax(span[:peak + 1] >= level))   # k >= 1: span[0] is below the level
        return k - 1 + (level - span[k - 1]) / (span[k] - span[k - 1])

    return (crossing(0.8) - crossing(0.2)) / fps


def _median(values) -> float:
    values = np.asarray(values, dtype=float)
    return float(np.nanmedian(values)) if np.isfinite(values).any() else float("nan")


def middle_half(start: int, end: int) -> slice:
    """The middle half of frames ``start..end``."""
    quarter = (end - start) // 4
    return slice(start + quarter, end - quarter + 1)


def change_from_before(column: np.ndarray, time_s: np.ndarray, start: int, end: int) -> float:
    """Median of ``column`` over the middle half of frames ``start..end`` less its median over the
    0.1-0.6 s before frame ``start``."""
    during = _median(column[middle_half(start, end)])
    before = (time_s >= time_s[start] - BEFORE_S[0]) & (time_s <= time_s[start] - BEFORE_S[1])
    return during - _median(column[before])


def long_closures(clip, crop_scores: dict | None = None) -> list[dict]:
    """The long closures of one labelled clip (a ``RealClip``) on eyes of at least MIN_IRIS_PX;
    ``crop_scores`` (:func:`read_crop_scores`) adds each one's median crop score."""
    analysis = analyze_trace(clip.trace, task=clip.info["task"])
    if not analysis.signal.iris_px >= MIN_IRIS_PX:
        return []
    time_s = np.asarray(clip.trace["time_s"], dtype=float)
    pitch = np.asarray(clip.trace["head_pitch_deg"], dtype=float)
    iris = np.asarray(clip.trace["iris_reference_px"], dtype=float)
    out = []
    for side in SIDES:
        events = [e for e in analysis.events.per_eye.get(side, []) if e.duration_s >= MIN_DURATION_S]
        for event, span in zip(events, event_frames(events, time_s)):
            start, end = span.start_frame, span.end_frame
            labelled = any(label.eye in ("both", side)
                           and spans_overlap(start, end, label.start_frame, label.end_frame, WIDEN)
                           and label.end_frame - label.start_frame >= (end - start) / 2
                           for label in clip.labels.closures)
            middle = middle_half(start, end)
            apex = int(np.clip(np.searchsorted(time_s, event.apex_s), start, end))
            brow = np.asarray(clip.trace[f"brow_eye_px_{side}"], dtype=float) / iris
            out.append({
                "clip": clip.name, "eye": side, "start": start, "end": end, "duration_s": event.duration_s,
                "kind": event.kind, "iris_px": analysis.signal.iris_px,
                "group": "labelled" if labelled else "unlabelled",
                "excluded": mostly_excluded(start, end, clip.labels.excluded),
                "closing_ms": 1000 * closing_time_s(analysis.signal.closure[side], start, apex, clip.fps),
                "pitch_change": change_from_before(pitch, time_s, start, end),
                "brow_change": change_from_before(brow, time_s, start, end),
                **{key: change_from_before(np.asarray(clip.trace[f"{column}_{side}"], dtype=float), time_s, start, end)
                   for key, column in (("upper_lid_change", "upper_lid"), ("lower_lid_change", "lower_lid"),
                                       ("iris_change", "iris_drop"))},
                "look_down": _median(np.asarray(clip.trace[f"bs_eyeLookDown_{side}"], dtype=float)[middle]),
                "squint": _median(np.asarray(clip.trace[f"bs_eyeSquint_{side}"], dtype=float)[middle]),
                "aperture": _median((np.asarray(clip.trace[f"aperture_px_{side}"], dtype=float) / iris)[middle]),
                "other_eye": _median(analysis.signal.closure[SIDES[1 - SIDES.index(side)]][middle]),
            })
            if crop_scores is not None:
                scores = crop_scores.get((clip.name, side), {})
                out[-1]["crop_score"] = _median([scores.get(k, np.nan) for k in range(middle.start, middle.stop)])
    return out


def read_crop_scores(path: Path) -> dict:
    """eye_crop_classifier.py's ``--scores`` file as {(clip, eye): {frame: leave-one-clip-out score}}."""
    data = np.load(path)
    out: dict = {}
    for clip, eye, frame, score in zip(data["clip"], data["eye"], data["frame"], data["crop"]):
        out.setdefault((str(clip), str(eye)), {})[int(frame)] = float(score)
    return out


def _measures(rows: list[dict]) -> tuple:
    """MEASURES, and the crop score when the rows carry it."""
    return MEASURES + ((CROP_SCORE,) if rows and "crop_score" in rows[0] else ())


def _value(row: dict, key: str, spec: str) -> str:
    return spec.format(row[key]) if np.isfinite(row[key]) else "-"


def summary_lines(rows: list[dict]) -> list[str]:
    """Per group (closures in excluded frames left out): its size and each measure's range."""
    lines = []
    for group in ("labelled", "unlabelled"):
        members = [r for r in rows if r["group"] == group and not r["excluded"]]
        ranges = []
        for key, name, spec in _measures(rows):
            values = np.array([r[key] for r in members], dtype=float)
            values = values[np.isfinite(values)]
            ranges.append(f"{name} {spec.format(values.min())} to {spec.format(values.max())}" if values.size else f"{name} -")
        lines.append(f"- {group} ({len(members)}): " + "; ".join(ranges) + ".")
    return lines


def markdown(rows: list[dict], n_clips: int) -> str:
    """docs/long-closures.md: the closures, then the summary."""
    measures = _measures(rows)
    lines = ["# Long closures on large eyes: labelled or not", "",
             "Generated by `scripts/long_closures.py` (measures defined in its docstring; docs/analysis.md, "
             "section 4, \"Looking down\", reads them). "
             f"spasmcv {__version__}, {ANALYSIS_VERSION}, signals {SIGNALS_VERSION}, analysis defaults; "
             f"{n_clips} labelled clips; each eye's closures of {MIN_DURATION_S:g} s or more where the iris is "
             f"{MIN_IRIS_PX:g} px or wider.", "",
             "| clip | eye | frames | s | kind | iris px | labels | " + " | ".join(m[1] for m in measures) + " |",
             "|---|---|---|---:|---|---:|---|" + "---:|" * len(measures)]
    for r in sorted(rows, key=lambda r: (r["group"], r["clip"], r["start"], r["eye"])):
        group = r["group"] + (" (excluded frames)" if r["excluded"] else "")
        lines.append(f"| {r['clip']} | {r['eye']} | {r['start']}-{r['end']} | {r['duration_s']:.2f} | {r['kind']} | "
                     f"{r['iris_px']:.0f} | {group} | " + " | ".join(_value(r, *m[::2]) for m in measures) + " |")
    return "\n".join(lines + ["", "Ranges per group (closures in excluded frames left out):", ""]
                     + summary_lines(rows)) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="face_landmarker.task (default: the usual search)")
    parser.add_argument("--traces", type=Path, help="a folder to keep the traces in (evaluate.py's --traces)")
    parser.add_argument("--external", type=Path, help="the outside clips' videos (scripts/fetch_external_clips.py)")
    parser.add_argument("--crop-scores", type=Path, help="eye_crop_classifier.py's --scores file: add the crop score")
    parser.add_argument("--markdown", type=Path, help="write the tables here (docs/long-closures.md)")
    args = parser.parse_args()
    model = resolve_model(args.model)
    clips = [read_real_clip(info, args.traces, model) for info in real_clips()]
    if args.external:
        found, problems = external_clips(args.external)
        for problem in problems:
            print(f"not read: {problem}", file=sys.stderr)
        clips += [read_real_clip(info, args.traces, model, video=video, labels_dir=EXTERNAL,
                                 cache_name=f"external_{info['clip']}") for info, video in found]
    crop_scores = read_crop_scores(args.crop_scores) if args.crop_scores else None
    rows = [row for clip in clips for row in long_closures(clip, crop_scores)]
    text = markdown(rows, len(clips))
    print(text)
    if args.markdown:
        with atomic_write(args.markdown) as handle:
            handle.write(text)
    return 0


if __name__ == "__main__":
    from spasmcv.errors import run_script

    run_script(main)
