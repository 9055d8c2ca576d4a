"""How dark ordinary video gets around the eyes, and how much a blink moves it, on the labelled real clips.

For every labelled clip of ``labels/`` (videos in ../shared) and of ``labels/external/`` (videos
in ``--external``; scripts/fetch_external_clips.py), its trace extracted or read from ``--traces``
(the cache of scripts/evaluate.py): the lowest and the median ``eye_region_grey_spread`` (grey
levels, docs/trace.md) over the frames every other quality gate measures, the frames under the
``dark_picture`` limit, and, at each labelled closure's apex, the spread divided by its median
over the frames 5-30 before the closure and 5-30 after it (the eyes open). These are the figures
docs/quality-limits.md ("Dimmer pictures") and docs/trace.md quote; the limit itself comes from
``scripts/quality_limits.py --dimmed``.

    python scripts/grey_spread.py --traces /tmp/evcache --external /tmp/external
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluate import EXTERNAL, external_clips, read_real_clip, real_clips  # noqa: E402
from spasmcv.analysis.quality import QualitySettings, frame_quality  # noqa: E402
from spasmcv.measure.model import resolve_model  # noqa: E402

#: Frames before a closure's start and after its end whose median is the open eyes' spread.
OPEN_FRAMES = (5, 30)


def clip_figures(trace, labels, limit: float) -> tuple[np.ndarray, int, list[float]]:
    """A clip's spreads over the frames the other gates measure, how many are under ``limit``,
    and the apex-to-open ratio of each labelled closure (NaN-free)."""
    spread = np.asarray(trace["eye_region_grey_spread"], dtype=float)
    others = frame_quality(trace.columns, replace(QualitySettings(), min_eye_region_grey_spread=0.0)).reason == ""
    measured = spread[others & np.isfinite(spread)]
    near, far = OPEN_FRAMES
    ratios = []
    for closure in labels.closures:
        around = np.r_[spread[max(0, closure.start_frame - far):max(0, closure.start_frame - near)],
                       spread[closure.end_frame + near:closure.end_frame + far]]
        if np.isfinite(around).any() and np.isfinite(spread[closure.apex_frame]):
            ratios.append(float(spread[closure.apex_frame] / np.nanmedian(around)))
    return measured, int((measured < limit).sum()), ratios


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, help="cache directory of extracted traces (evaluate.py's)")
    parser.add_argument("--external", type=Path, help="the outside clips' videos (fetch_external_clips.py)")
    args = parser.parse_args()
    model = resolve_model(None)
    limit = QualitySettings().min_eye_region_grey_spread
    clips = [read_real_clip(info, args.traces, model) for info in real_clips()]
    if args.external:
        found, problems = external_clips(args.external)
        for problem in problems:
            print(problem, file=sys.stderr)
        clips += [read_real_clip(row, args.traces, model, video=video, labels_dir=EXTERNAL,
                                 cache_name=f"external_{row['clip']}") for row, video in found]
    print(f"| clip | measured frames | lowest spread | median spread | frames under {limit:g} | closures |")
    print("|---|---:|---:|---:|---:|---:|")
    all_ratios, apexes = [], []
    for clip in clips:
        measured, under, ratios = clip_figures(clip.trace, clip.labels, limit)
        all_ratios += ratios
        spread = clip.trace["eye_region_grey_spread"]
        apexes += [(float(spread[c.apex_frame]), clip.name) for c in clip.labels.closures
                   if np.isfinite(spread[c.apex_frame])]
        low, mid = (f"{f(measured):.1f}" if measured.size else "-" for f in (np.min, np.median))
        print(f"| {clip.name} | {measured.size} | {low} | {mid} | {under} | {len(ratios)} |")
    if all_ratios:
        ratios = np.array(all_ratios)
        print(f"\nAt the apex of {ratios.size} labelled closures in {len(clips)} clips the spread is "
              f"{100 * (1 - np.median(ratios)):.0f} % under the open eyes' in the median, "
              f"{100 * (1 - ratios.min()):.0f} % at most (5th percentile {100 * (1 - np.percentile(ratios, 5)):.0f} %); "
              "the lowest spread at an apex is {:.0f} ({}).".format(*min(apexes)))
    return 0


if __name__ == "__main__":
    from spasmcv.errors import run_script

    run_script(main)
