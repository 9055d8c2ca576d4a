"""Parts of a recording: analysed on their own frames, or within the whole recording?

A part of a video (one task of a guided recording, a manifest row's ``start_s``/``end_s``) can be
analysed three ways:

- **cut**: the part's frames alone, as a recording of that length (analysis-22 and 23): its
  open and closed levels are learned from the part, and a closure at either edge is cut there;
- **edges**: the part's own levels and quality gate, but measured within the recording around
  it, so that a closure running across an edge is whole and listed in one part only
  (analysis-24 and later, docs/analysis.md "Parts of a recording");
- **whole**: the whole recording analysed once, then the closures that start in the part.

Every labelled real clip at least twice the shortest length long is cut into as many consecutive
parts of each length as it holds (the rest left out), and the closures each way lists in all
the parts together are scored against the labels that start in them (the evaluation's matching
rule, docs/accuracy.md; a closure listed in two parts counts once as found and once as false, one
listed in none as missed), at the default settings, pooled over the clips. Also printed:
closures per minute per part against the labels' (median absolute error), and false closures of
1 s or more.

The rules, fixed before each was first run: **whole** replaces the part's own levels only if, at
every length, its pooled F1 is at least the own way's on the project's clips and on the outside
clips, with no more false closures of 1 s or more, and it is higher somewhere (run with
analysis-23 against **cut**: not taken). **edges** replaces **cut** if, at every length and on both
clip sets, its pooled F1 is at least cut's with no more false closures of 1 s or more (a closure
cut at an edge is a wrong duration, and one cut in two is counted twice, whatever the F1 says).

With ``--sweep CLIP ...``, instead: an edge on every frame inside every closure the whole
recording reads, and whether the two parts on either side list it once (:func:`edge_sweep`).

    python scripts/part_calibration.py --traces DIR [--external DIR] [--lengths 15 20 30] [--clips NAME ...]
                                       [--model PATH] [--sweep CLIP ...]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from evaluate import EXTERNAL, _pooled, external_clips, read_real_clip, real_clips  # noqa: E402

from spasmcv import resolve_model  # noqa: E402
from spasmcv.analysis.analyze import analyze_trace  # noqa: E402
from spasmcv.analysis.evaluation import (FrameSpan, closures_starting_within, real_clip_scores,  # noqa: E402
                                         reported_closures)
from spasmcv.analysis.events import closures  # noqa: E402
from spasmcv.measure.trace import Trace, time_window  # noqa: E402


#: The ways a part is analysed, as the table prints them.
WAYS = ("cut", "edges", "whole")


def part_bounds(n_parts: int, length_s: float, trace) -> list[tuple[int, int, object]]:
    """First and last frame index and the part itself (:func:`time_window`, as the batch, the
    command line and the clinic cut it) of each consecutive ``length_s`` part."""
    index = np.arange(len(trace))
    numbered = Trace(columns={**trace.columns, "_index": index}, metadata=trace.metadata)
    out = []
    for k in range(n_parts):
        part = time_window(numbered, k * length_s, (k + 1) * length_s)
        if len(part):
            inside = part.columns.pop("_index")
            out.append((int(inside[0]), int(inside[-1]), part))
    return out


def part_spans(clip, part, *, edges: bool) -> list[FrameSpan]:
    """Closures found analysing the part on its own levels, in the whole clip's frame numbers:
    within the whole recording (``edges``) or on its frames alone (cut at its edges)."""
    analysis = analyze_trace(part if edges else replace(part, surroundings=None), task=clip.info["task"])
    return reported_closures(analysis.events, clip.trace["time_s"])


def clip_parts(clip, length_s: float, whole: list[FrameSpan]) -> tuple[dict, list[dict]]:
    """Each way's score on ``clip`` cut into ``length_s`` parts: every part's listed closures
    together against the labels starting in the parts (a closure listed in two parts is a false
    one, one listed in none a miss), and per part the closures per minute it lists and the labels'."""
    time_s = clip.trace["time_s"]
    n_parts = int(float(time_s[-1]) // length_s)
    bounds = part_bounds(n_parts, length_s, clip.trace)
    listed = {way: [] for way in WAYS}
    rates = []
    for first, last, part in bounds:
        minutes = (last - first + 1) / clip.fps / 60
        row = {"labels_per_min": len(closures_starting_within(clip.labels, first, last).closures) / minutes}
        for way, spans in (("cut", part_spans(clip, part, edges=False)), ("edges", part_spans(clip, part, edges=True)),
                           ("whole", [s for s in whole if first <= s.start_frame <= last])):
            listed[way] += spans
            row[f"{way}_per_min"] = sum(s.kind != "review" for s in spans) / minutes
        rates.append(row)
    labels = closures_starting_within(clip.labels, bounds[0][0], bounds[-1][1]) if bounds else clip.labels
    return {way: real_clip_scores(listed[way], labels, fps=clip.fps) for way in WAYS}, rates


def report(name: str, clips: list, lengths: list[float]) -> None:
    """Print each way's pooled scores on ``clips`` at each part length."""
    whole = {clip.name: reported_closures(analyze_trace(clip.trace, task=clip.info["task"]).events,
                                          clip.trace["time_s"]) for clip in clips}
    print(f"\n{name}: {len(clips)} clips")
    print("part (s) | parts | labels | cut TP/FP/FN F1 long-false | edges TP/FP/FN F1 long-false | "
          "whole TP/FP/FN F1 long-false | rate error cut / edges / whole (median |per min|)")
    for length in lengths:
        results = [clip_parts(clip, length, whole[clip.name]) for clip in clips]
        rows = [row for _, rates in results for row in rates]
        if not rows:
            continue
        text = []
        for way in WAYS:
            p = _pooled([scores[way] for scores, _ in results])
            text.append(f"{p['tp']}/{p['fp']}/{p['fn']} {p['f1']:.3f} {p['false_long']}")
        errors = [f"{np.median([abs(r[f'{way}_per_min'] - r['labels_per_min']) for r in rows]):.1f}" for way in WAYS]
        print(f"{length:g} | {len(rows)} | {sum(scores['cut']['labels'] for scores, _ in results)} | "
              f"{' | '.join(text)} | {' / '.join(errors)}")


def edge_sweep(trace, task: str, length_s: float = 15.0) -> dict[str, tuple[int, int, int]]:
    """Both ways (``cut``, ``edges``) on ``trace`` with an edge on every frame inside every closure
    the whole recording reads (one eye at a time; a ``length_s`` part on either side): the edges,
    and at how many of them the closure is listed by both parts, and by neither (that eye's
    closures overlapping it)."""
    time_s = trace["time_s"]
    whole = analyze_trace(trace, task=task)
    counts = {way: [0, 0, 0] for way in ("cut", "edges")}
    for side in ("left", "right"):
        for event in closures(whole.events.per_eye[side]):
            first, last = (int(np.searchsorted(time_s, t)) for t in (event.onset_s, event.offset_s))
            for k in range(first + 1, last + 1):
                edge = float(time_s[k])
                if edge < 0.1 or float(time_s[-1]) - edge < 0.1:   # a part of under 0.1 s
                    continue
                for way, tally in counts.items():
                    parts = [time_window(trace, max(0.0, edge - length_s), edge), time_window(trace, edge, edge + length_s)]
                    listed = [any(e.onset_s < event.offset_s and e.offset_s > event.onset_s for e in closures(
                        analyze_trace(part if way == "edges" else replace(part, surroundings=None),
                                      task=task).events.per_eye[side])) for part in parts]
                    tally[0] += 1
                    tally[1] += all(listed)
                    tally[2] += not any(listed)
    return {way: tuple(tally) for way, tally in counts.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--traces", type=Path, required=True, help="the evaluation's trace cache")
    parser.add_argument("--external", type=Path, help="the outside clips' videos (fetch_external_clips.py)")
    parser.add_argument("--lengths", nargs="+", type=float, default=[15.0, 20.0, 30.0])
    parser.add_argument("--clips", nargs="+", help="only these project clips (default: every labelled one)")
    parser.add_argument("--model", help="face_landmarker.task (default: the usual search)")
    parser.add_argument("--sweep", nargs="+", metavar="CLIP",
                        help="instead: the edge sweep (edge_sweep) on these clips, project or outside")
    args = parser.parse_args()
    if min(args.lengths) <= 0:
        parser.error("--lengths must be positive (s)")
    infos = real_clips()
    unknown = sorted(set(args.clips or []) - {info["clip"] for info in infos})
    if unknown:
        parser.error(f"--clips: no labelled clip {', '.join(unknown)} (labelled: {', '.join(i['clip'] for i in infos)})")
    shortest = min(args.lengths)
    model = resolve_model(args.model)
    if args.sweep:
        return sweep(args, infos, model)
    project = [read_real_clip(info, args.traces, model) for info in infos if not args.clips or info["clip"] in args.clips]
    report("project clips", [c for c in project if float(c.trace["time_s"][-1]) >= 2 * shortest], args.lengths)
    if args.external:
        found, problems = external_clips(args.external, EXTERNAL)
        for problem in problems:
            print(f"not scored: {problem}")
        outside = [read_real_clip(info, args.traces, model, video=video, labels_dir=EXTERNAL,
                                  cache_name=f"external_{info['clip']}") for info, video in found]
        report("outside clips", [c for c in outside if float(c.trace["time_s"][-1]) >= 2 * shortest], args.lengths)
    return 0


def sweep(args, infos: list[dict], model) -> int:
    """Print :func:`edge_sweep` on each clip of ``--sweep`` (15-s parts)."""
    clips = {info["clip"]: read_real_clip(info, args.traces, model) for info in infos if info["clip"] in args.sweep}
    if args.external:
        found, _ = external_clips(args.external, EXTERNAL)
        clips |= {info["clip"]: read_real_clip(info, args.traces, model, video=video, labels_dir=EXTERNAL,
                                               cache_name=f"external_{info['clip']}")
                  for info, video in found if info["clip"] in args.sweep}
    missing = [name for name in args.sweep if name not in clips]
    if missing:
        raise SystemExit(f"--sweep: no labelled clip {', '.join(missing)} (outside clips need --external)")
    print("clip | edges | listed by both parts / by neither: within the recording | cut at the edges")
    for name in args.sweep:
        result = edge_sweep(clips[name].trace, clips[name].info["task"])
        print(f"{name} | {result['edges'][0]} | {result['edges'][1]} / {result['edges'][2]} | "
              f"{result['cut'][1]} / {result['cut'][2]}")
    return 0


if __name__ == "__main__":
    from spasmcv.errors import run_script

    run_script(main)
