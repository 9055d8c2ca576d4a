#!/usr/bin/env python
"""Score spasmcv's detection against every labelled video available, and print the figures.

* the synthetic sample videos (``sample_videos/*.mp4`` with their ground-truth JSON):
  per-eye event precision/recall/F1, median onset/offset errors (frames), share of time closed
  (>= 50 %) against the truth, and the Jankovic frequency grade against the preset's;
* Talking Face (``../shared/data/real/talkingface/franck.webm``, frames 0-299, labels in
  ``talkingface_first300.tag``), detections compared as the frames they span
  (:func:`spasmcv.evaluation.frame_spans`), the labels' own convention.

Traces are extracted with the real model (cached in ``--traces DIR`` when given, keyed by the
video's name), so the figures are the whole pipeline's. ``--markdown FILE`` also writes the
tables (docs/accuracy.md is produced this way).

Usage::

    python scripts/evaluate.py [--traces DIR] [--markdown docs/accuracy.md]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spasmcv import __version__, extract_trace, read_trace, resolve_model, write_trace  # noqa: E402
from spasmcv.analyze import ANALYSIS_VERSION, analyze_trace  # noqa: E402
from spasmcv.closure import SIDES  # noqa: E402
from spasmcv.evaluation import (REQUIRED_PEAK_CLOSURE, compare_events, frame_spans,  # noqa: E402
                                read_ground_truth, read_tag_file, split_by_peak)
from spasmcv.events import closures  # noqa: E402
from spasmcv.trace import Trace  # noqa: E402

SYNTHETIC_CONVENTION = (f"synthetic ground truth: onset = lid starts to move, offset = lid fully open; "
                        f"closures with a true peak below {REQUIRED_PEAK_CLOSURE} are optional")
TAG_CONVENTION = ("Talking Face .tag: a blink spans the frames given its id (first to last labelled frame); "
                  "a detection spans the frames between its onset and offset times")


MARKDOWN_PREAMBLE = """# Detection accuracy

Produced by `python scripts/evaluate.py --extra /tmp/heldout --extra /tmp/heldout2 --markdown docs/accuracy.md`,
with the model in `$SPASMCV_MODEL`. Every figure goes through the whole pipeline: the real
MediaPipe model on the video, the trace, then detection.

The detection thresholds and the closure calibration were tuned on the committed sample videos,
so those figures are optimistic. Two **held-out** sets were rendered afterwards with other seeds,
frame rates and sizes. The first (`heldout`, seeds 2001-2008) was not used for tuning, but its
60-fps timing errors (up to 1.5 frames) led to the square-root boundary model of
analysis-2 (docs/analysis.md), so for timing it is no longer unseen; the second (`heldout2`,
seeds 3001-3008, including 50 and 60 fps) was rendered after that change and scored once:

```bash
for spec in "healthy_control 2001 30 480p" "bsp_grade1 2002 25 720p" "bsp_grade2 2003 30 480p" \\
            "bsp_grade3 2004 24 480p" "bsp_grade4 2005 30 480p" "hfs_left 2006 60 480p" \\
            "hfs_right 2007 30 720p" "visit2_week3 2008 25 480p"; do
  set -- $spec
  python scripts/make_sample_videos.py --preset $1 --seed $2 --fps $3 --resolution $4 --duration 40 --out /tmp/heldout
done
for spec in "healthy_control 3001 60 720p" "bsp_grade1 3002 30 480p" "bsp_grade2 3003 50 480p" \\
            "bsp_grade3 3004 30 720p" "bsp_grade4 3005 25 480p" "hfs_left 3006 30 480p" \\
            "hfs_right 3007 60 480p" "visit3_week12 3008 24 480p"; do
  set -- $spec
  python scripts/make_sample_videos.py --preset $1 --seed $2 --fps $3 --resolution $4 --duration 40 --out /tmp/heldout2
done
```

"""


def get_trace(video: Path, cache: Path | None, model, max_frames: int | None = None) -> Trace:
    """Extract a video's trace, or read it from the cache directory."""
    if cache is not None:
        cached = cache / f"{video.stem}.trace.csv"
        if cached.exists():
            return read_trace(cached)
    trace = extract_trace(video, model=model, max_frames=max_frames)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        write_trace(trace, cache / f"{video.stem}.trace.csv")
    return trace


def score_synthetic(video: Path, trace: Trace) -> dict:
    """Per-eye detection scores and recording figures of one synthetic clip."""
    gt = read_ground_truth(video.with_suffix(".json"))
    fps = gt["video"]["fps"]
    analysis = analyze_trace(trace)
    rec = analysis.recording
    row = {"clip": video.stem, "fps": fps, "grade_true": gt["jankovic_frequency_grade"],
           "grade": rec["severity"]["jankovic_frequency_grade"], "index": rec["severity"]["severity_index"]}
    for side in SIDES:
        pairs = [(r, p) for r, p in zip(gt["reference_events"], gt["reference_peaks"]) if r.eye in (side, "both")]
        required, optional = split_by_peak([r for r, _ in pairs], [p for _, p in pairs])
        detected = closures(analysis.events.per_eye[side])
        c = compare_events(detected, required, tolerance_s=0.1, optional=optional,
                           convention=SYNTHETIC_CONVENTION)
        d = c.as_dict()
        row[side] = {
            "tp": d["tp"], "fp": d["fp"], "fn": d["fn"], "f1": d["f1"],
            "onset_frames": d["onset_error_median_s"] * fps, "offset_frames": d["offset_error_median_s"] * fps,
            "onset_errors_frames": list(c.onset_errors_s * fps), "offset_errors_frames": list(c.offset_errors_s * fps),
            "share_closed_true": gt["summary"]["share_closed_50"][side],
            "share_closed": rec["metrics"][side]["share_closed"],
            "grade_true": gt["jankovic_frequency_grade_per_eye"][side],
            "grade": rec["severity"][side]["jankovic_frequency_grade"],
            "unilateral_true": sum(1 for e in gt["events"] if e["eye"] == side),
        }
    row["unilateral"] = {"left": rec["metrics"]["unilateral_left_count"],
                         "right": rec["metrics"]["unilateral_right_count"]}
    return row


def score_talkingface(trace: Trace, tag: Path) -> dict:
    """Blinks detected in Talking Face frames 0-299 against the labels."""
    fps = 25.0
    reference = read_tag_file(tag, fps=fps)
    analysis = analyze_trace(trace)
    out = {"reference": [(r.onset_frame, r.offset_frame) for r in reference]}
    for side in SIDES:
        events = analysis.events.per_eye[side]
        detected = frame_spans(closures(events), analysis.signal.time_s, fps=fps)
        c = compare_events(detected, reference, tolerance_s=0.1, convention=TAG_CONVENTION)
        out[side] = {
            "detected": [(e.kind, e.onset_frame, e.offset_frame)
                         for e in frame_spans(events, analysis.signal.time_s, fps=fps)],
            "f1": c.f1, "tp": c.true_positives, "fp": c.false_positives, "fn": c.false_negatives,
            "onset_errors_frames": [int(round(float(x))) for x in c.onset_errors_s * fps],
            "offset_errors_frames": [int(round(float(x))) for x in c.offset_errors_s * fps],
        }
    return out


def synthetic_table(title: str, videos: list[Path], cache: Path | None, model) -> list[str]:
    """Markdown lines scoring every synthetic clip in ``videos``."""
    lines = [f"## {title}", "",
             f"Convention: {SYNTHETIC_CONVENTION}. Timing errors are detected minus true, in frames "
             f"(median per clip and eye); tolerance for matching 0.1 s.", "",
             "| clip | fps | eye | TP | FP | FN | F1 | onset | offset | closed true | closed measured | grade true | grade |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    all_on, all_off, worst_share, grades_ok, f1s = [], [], 0.0, [], []
    worst_median = 0.0
    unilateral = []
    for video in videos:
        row = score_synthetic(video, get_trace(video, cache, model))
        for side in SIDES:
            r = row[side]
            all_on += r["onset_errors_frames"]
            all_off += r["offset_errors_frames"]
            worst_share = max(worst_share, abs(r["share_closed"] - r["share_closed_true"]))
            worst_median = max(worst_median, abs(r["onset_frames"]), abs(r["offset_frames"]))
            f1s.append(r["f1"])
            grades_ok.append(r["grade"] == r["grade_true"])
            lines.append(f"| {row['clip']} | {row['fps']} | {side} | {r['tp']} | {r['fp']} | {r['fn']} | {r['f1']:.3f} | "
                         f"{_fmt(r['onset_frames'])} | {_fmt(r['offset_frames'])} | {100 * r['share_closed_true']:.1f} % | "
                         f"{100 * r['share_closed']:.1f} % | {r['grade_true']} | {r['grade']} |")
        unilateral.append(f"{row['clip']} {row['unilateral']['left']}/{row['unilateral']['right']}")
    lines += ["", f"All clips: per-eye F1 min {min(f1s):.3f}, median onset error {np.median(all_on):+.2f} frames, "
                  f"median offset error {np.median(all_off):+.2f} frames, largest per-clip median timing error "
                  f"{worst_median:.2f} frames, largest share-closed error "
                  f"{100 * worst_share:.1f} percentage points, grades correct {sum(grades_ok)}/{len(grades_ok)} eyes. "
                  f"Unilateral closures detected (left/right): {'; '.join(unilateral)}.", ""]
    return lines


def _fmt(x, spec="+.2f"):
    return format(x, spec) if x is not None and np.isfinite(x) else "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=Path, help="cache directory for extracted traces")
    parser.add_argument("--model", help="face_landmarker.task (default: the usual search)")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this Markdown file")
    parser.add_argument("--extra", type=Path, action="append", default=[],
                        help="another folder of synthetic videos with ground truth, e.g. a held-out set "
                             "rendered with other seeds (see docs/accuracy.md)")
    args = parser.parse_args()
    for folder in args.extra:
        if not any(video.with_suffix(".json").is_file() for video in folder.glob("*.mp4")):
            parser.error(f"--extra {folder}: no synthetic videos with their ground-truth JSON there")
    model = resolve_model(args.model)

    lines = [f"spasmcv {__version__}, {ANALYSIS_VERSION}, model sha256 {model.sha256[:12]}...", ""]
    sets = [("Synthetic sample videos (through the real landmarker)", REPO / "sample_videos")]
    sets += [(f"Held-out synthetic videos: {folder.name}", folder) for folder in args.extra]
    for title, folder in sets:
        lines += synthetic_table(title, sorted(folder.glob("*.mp4")), args.traces, model)

    franck = REPO.parent / "shared" / "data" / "real" / "talkingface"
    if (franck / "franck.webm").exists():
        trace = get_trace(franck / "franck.webm", args.traces, model)
        short = Trace(columns={k: v[:300] for k, v in trace.columns.items()}, metadata=trace.metadata)
        tf = score_talkingface(short, franck / "talkingface_first300.tag")
        lines += ["## Talking Face, frames 0-299 (real video, 25 fps)", "",
                  f"Convention: {TAG_CONVENTION}. Labelled blinks (frames): {tf['reference']}; frames ~233-273 "
                  f"are a downward gaze with lowered lids (not a blink).", "",
                  "| eye | detected events (kind, onset frame, offset frame) | TP | FP | FN | onset errors | offset errors |",
                  "|---|---|---:|---:|---:|---|---|"]
        for side in SIDES:
            r = tf[side]
            lines.append(f"| {side} | {r['detected']} | {r['tp']} | {r['fp']} | {r['fn']} | "
                         f"{r['onset_errors_frames']} | {r['offset_errors_frames']} |")
        lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(MARKDOWN_PREAMBLE + text + "\n")
    return 0


if __name__ == "__main__":
    from spasmcv.errors import SpasmcvError

    try:
        sys.exit(main())
    except SpasmcvError as exc:  # no model, a bad video: the message, not a traceback
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
