#!/usr/bin/env python
"""How the face mesh reads the synthetic renderer's lids: rendered closure -> measured closure.

Renders the still face (no head motion, lighting or noise) with both lids held at each closure
level, runs the real landmarker over each as a short video (open frames, then the level held) and
prints the eye aspect ratio relative to the open eye and the closure spasmcv's linear map would
read (closed level = the fully closed rendering). On real lids the measured closure matches the
share of the fissure closed (docs/lid-reading.md); a renderer whose lids look real to the mesh
would print closure close to the rendered level. Use it when changing the renderer's lids.

Usage::

    python scripts/renderer_lid_curve.py [--size 640x480]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from spasmcv import resolve_model  # noqa: E402
from spasmcv.measure.eyelid import eye_aspect_ratio, eye_landmarks  # noqa: E402
from spasmcv.measure.landmarks import FaceTracker  # noqa: E402
from spasmcv.synthetic.render import FaceRenderer, LidState  # noqa: E402

LEVELS = (0.0, 0.2, 0.35, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
FPS = 30.0


def mesh_ratios(width: int, height: int, levels=LEVELS, model=None) -> dict[float, float]:
    """Eye aspect ratio (mean of both eyes) with the lids held at each level / with them open.
    ``model``: path of face_landmarker.task (default: the usual search); ``levels`` must hold 1.0."""
    renderer = FaceRenderer(width=width, height=height)
    out, t = {}, 0.0
    with FaceTracker(model or resolve_model(None).path) as tracker:
        for level in levels:
            readings = []
            for closure in [0.0] * 4 + [level / 2, level] + [level] * 4:
                frame = renderer.render(left=LidState(closure=closure), right=LidState(closure=closure))
                face = tracker.process(np.ascontiguousarray(frame), t, display_size=(width, height))
                t += 1.0 / FPS
                if face is not None:
                    lm = face.landmarks_px[None]
                    ear = np.mean([eye_aspect_ratio(lm, eye_landmarks(side))[0] for side in ("left", "right")])
                    readings.append((closure, ear))
            open_ear = np.mean([e for c, e in readings if c == 0.0])
            out[level] = float(np.mean([e for _, e in readings[-4:]]) / open_ear)
    return out


def closure_read(ratios: dict[float, float]) -> dict[float, float]:
    """The closure spasmcv's linear map reads at each level, with the fully closed rendering as the
    closed level (docs/analysis.md section 1)."""
    closed = ratios[1.0]
    return {level: float(np.clip((1 - ratio) / (1 - closed), 0.0, 1.0)) for level, ratio in ratios.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="640x480", help="frame size WIDTHxHEIGHT")
    args = parser.parse_args()
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size {args.size!r}: give WIDTHxHEIGHT in pixels, e.g. 640x480")
    ratios = mesh_ratios(width, height)
    read = closure_read(ratios)
    print("| rendered closure | aspect ratio / open | closure read (linear map) |")
    print("|---:|---:|---:|")
    for level, ratio in ratios.items():
        print(f"| {level:.2f} | {ratio:.2f} | {read[level]:.2f} |")
    return 0


if __name__ == "__main__":
    from spasmcv.errors import run_script

    run_script(main)
