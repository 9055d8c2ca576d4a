"""How steady the open-eye aperture (the ptosis flag's measure) is within one recording.

Cuts each trace of at least ``--min-length`` seconds into consecutive parts of each length given
and analyses every part on its own (as a recording of that length; the clinic and the batch
score parts of a video the same way). For each eye it prints the median and largest change of
``open_aperture_mm`` between adjacent parts and the share of adjacent pairs that differ by 10 %
or more with at least 0.2 mm (the ptosis flag's size thresholds, docs/report.md): a healthy
person filmed once, so every such pair is a difference the flag must not take for ptosis.

    python scripts/aperture_repeatability.py TRACE.csv ... [--lengths 12 15 20 30] [--min-length 60]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from spasmcv.analysis.analyze import analyze_trace  # noqa: E402
from spasmcv.measure.trace import read_trace, time_window  # noqa: E402


def part_apertures(trace, length_s: float) -> list[dict]:
    """``open_aperture_mm`` per eye of each consecutive ``length_s`` part of ``trace``."""
    end = float(trace["time_s"][-1])
    out = []
    for k in range(int(end // length_s)):
        part = time_window(trace, k * length_s, (k + 1) * length_s)
        metrics = analyze_trace(part, task="conversation").recording["metrics"]
        out.append({side: metrics[side]["open_aperture_mm"] for side in ("left", "right")})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("traces", nargs="+", type=Path)
    parser.add_argument("--lengths", nargs="+", type=float, default=[12.0, 15.0, 20.0, 30.0])
    parser.add_argument("--min-length", type=float, default=60.0, help="traces shorter than this are left out (s)")
    args = parser.parse_args()
    traces = {}
    for path in args.traces:
        trace = read_trace(path)
        if float(trace["time_s"][-1]) >= args.min_length:
            traces[path.name.replace(".trace.csv", "").replace(".gz", "")] = trace
    print(f"{len(traces)} recordings of at least {args.min_length:g} s: {', '.join(traces)}")
    print("part (s) | adjacent pairs | median change | largest change | pairs >= 10 % and >= 0.2 mm")
    for length in args.lengths:
        changes, flagged, largest = [], 0, (0.0, "")
        for name, trace in traces.items():
            parts = part_apertures(trace, length)
            for side in ("left", "right"):
                values = [p[side] for p in parts]
                for k, (a, b) in enumerate(zip(values, values[1:])):
                    if not (np.isfinite(a) and np.isfinite(b)):
                        continue
                    change = abs(b - a) / max(a, b)
                    changes.append(change)
                    flagged += bool(change >= 0.10 and abs(b - a) >= 0.2)
                    if change > largest[0]:
                        largest = (change, f"{name} {side} {k * length:g}-{(k + 2) * length:g} s")
        print(f"{length:g} | {len(changes)} | {100 * np.median(changes):.1f} % | {100 * largest[0]:.1f} % "
              f"({largest[1]}) | {flagged} ({100 * flagged / max(len(changes), 1):.0f} %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
