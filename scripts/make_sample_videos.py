#!/usr/bin/env python3
"""Render synthetic patient videos with exact ground truth (see spasmcv/synthetic/render.py).

Examples
--------
Regenerate the committed sample set (sample_videos/)::

    python scripts/make_sample_videos.py --sample-set --out sample_videos

One longer, larger clip of a preset::

    python scripts/make_sample_videos.py --preset bsp_grade3 --duration 120 \
        --resolution 1080p --fps 60 --seed 7 --out /tmp/videos

The contact sheet of docs/img::

    python scripts/make_sample_videos.py --contact-sheet docs/img/sample_contact_sheet.png

Each video ``NAME.mp4`` gets its ground truth in ``NAME.json`` beside it. The same seed and
settings reproduce identical files (single-threaded x264, same PyAV build).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spasmcv.synthetic import render as synthetic  # noqa: E402

#: The committed sample set: (file stem, preset, duration s, resolution, fps, seed).
SAMPLE_SET: tuple[tuple[str, str, float, str, int, int], ...] = (
    ("healthy_control", "healthy_control", 30.0, "480p", 30, 101),
    ("bsp_grade1", "bsp_grade1", 30.0, "480p", 25, 102),
    ("bsp_grade2", "bsp_grade2", 30.0, "480p", 30, 103),
    ("bsp_grade3_720p", "bsp_grade3", 40.0, "720p", 30, 107),
    ("bsp_grade4", "bsp_grade4", 40.0, "480p", 24, 105),
    ("hfs_left", "hfs_left", 30.0, "480p", 30, 106),
    ("hfs_right_60fps", "hfs_right", 20.0, "480p", 60, 111),
    ("visit1_baseline", "visit1_baseline", 30.0, "480p", 30, 112),
    ("visit2_week3", "visit2_week3", 30.0, "480p", 30, 113),
    ("visit3_week12", "visit3_week12", 30.0, "480p", 30, 114),
)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Presets: " + ", ".join(synthetic.PRESETS),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--preset", choices=sorted(synthetic.PRESETS),
                      help="render one video of this scenario")
    what.add_argument("--sample-set", action="store_true",
                      help="render the committed sample set (sample_videos/)")
    what.add_argument("--contact-sheet", metavar="PNG", type=Path,
                      help="write a contact sheet of rendered lid states")
    what.add_argument("--list", action="store_true", help="list the presets and exit")
    what.add_argument("--measure-landmarks", action="store_true",
                      help="run FaceLandmarker (IMAGE mode) on the photo and compare with the "
                           "cached landmark constants")
    p.add_argument("--out", type=Path, default=Path("sample_videos"), help="output folder")
    p.add_argument("--name", help="file stem for --preset (default: preset_seed)")
    p.add_argument("--duration", type=float, default=30.0, help="seconds (default 30)")
    p.add_argument("--resolution", choices=sorted(synthetic.RESOLUTIONS), default="480p")
    p.add_argument("--fps", type=int, choices=(24, 25, 30, 50, 60), default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--crf", type=int, default=26, help="x264 quality (default 26)")
    p.add_argument("--head-motion", type=float, default=1.0, help="0 = still head")
    p.add_argument("--large-turns-per-min", type=float, default=1.0)
    p.add_argument("--lighting-drift", type=float, default=1.0)
    p.add_argument("--noise", type=float, default=2.0, help="sensor noise sigma, grey levels")
    p.add_argument("--face-height", type=float, default=0.40,
                   help="forehead-to-chin distance as a fraction of frame height")
    p.add_argument("--model", help="face_landmarker.task for --measure-landmarks "
                                   "(default: env SPASMCV_MODEL)")
    return p.parse_args(argv)


def _settings(args: argparse.Namespace, *, resolution: str, fps: int) -> synthetic.RenderSettings:
    width, height = synthetic.RESOLUTIONS[resolution]
    return synthetic.RenderSettings(
        width=width, height=height, fps=fps, face_height_fraction=args.face_height,
        head_motion=args.head_motion, large_turns_per_min=args.large_turns_per_min,
        lighting_drift=args.lighting_drift, noise_sigma=args.noise, crf=args.crf)


def _render(path: Path, *, preset: str, duration_s: float, seed: int,
            settings: synthetic.RenderSettings) -> None:
    schedule = synthetic.make_schedule(synthetic.PRESETS[preset], duration_s=duration_s,
                                       seed=seed)
    t0 = time.perf_counter()
    gt = synthetic.render_video(path, schedule=schedule, settings=settings)
    s = gt["summary"]
    print(f"{path}: {path.stat().st_size / 1e6:.2f} MB, {gt['video']['n_frames']} frames in "
          f"{time.perf_counter() - t0:.1f} s; grade {gt['jankovic_frequency_grade']}, "
          f"closed>=50% L {s['share_closed_50']['left']:.3f} R {s['share_closed_50']['right']:.3f}, "
          f"{len(gt['events'])} events, {s['n_flutter_bursts']} bursts, {s['n_spasms']} spasms")


def _measure_landmarks(model: str | None) -> int:
    import mediapipe as mp
    import numpy as np
    from mediapipe.tasks.python import BaseOptions, vision
    from skimage import data

    model = model or os.environ.get("SPASMCV_MODEL")
    if not model:
        print("give --model or set SPASMCV_MODEL", file=sys.stderr)
        return 2
    photo = np.ascontiguousarray(data.astronaut())
    opts = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=model),
                                        running_mode=vision.RunningMode.IMAGE, num_faces=1)
    with vision.FaceLandmarker.create_from_options(opts) as landmarker:
        result = landmarker.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=photo))
    if not result.face_landmarks:
        print("no face found in the photo", file=sys.stderr)
        return 1
    h, w = photo.shape[:2]
    pts = {i: (p.x * w, p.y * h) for i, p in enumerate(result.face_landmarks[0])}
    worst = 0.0
    for i, cached in synthetic.PHOTO_LANDMARKS_PX.items():
        worst = max(worst, float(np.hypot(pts[i][0] - cached[0], pts[i][1] - cached[1])))
    print(json.dumps({i: [round(pts[i][0], 2), round(pts[i][1], 2)]
                      for i in synthetic.PHOTO_LANDMARKS_PX}))
    print(f"largest difference from the cached constants: {worst:.2f} px", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.list:
        for name, sc in synthetic.PRESETS.items():
            print(f"{name:18s} grade L{sc.jankovic_grade_left}/R{sc.jankovic_grade_right}  "
                  f"{sc.description}")
        return 0
    if args.measure_landmarks:
        return _measure_landmarks(args.model)
    if args.contact_sheet:
        import cv2

        sheet = synthetic.contact_sheet()
        args.contact_sheet.parent.mkdir(parents=True, exist_ok=True)
        ok, buf = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not ok:
            raise RuntimeError("PNG encoding failed")
        tmp = args.contact_sheet.with_name(f".{args.contact_sheet.name}.tmp")
        tmp.write_bytes(buf.tobytes())
        os.replace(tmp, args.contact_sheet)
        print(f"{args.contact_sheet}: {sheet.shape[1]}x{sheet.shape[0]}")
        return 0
    if args.sample_set:
        for stem, preset, duration_s, resolution, fps, seed in SAMPLE_SET:
            _render(args.out / f"{stem}.mp4", preset=preset, duration_s=duration_s, seed=seed,
                    settings=_settings(args, resolution=resolution, fps=fps))
        return 0
    name = args.name or f"{args.preset}_seed{args.seed}"
    _render(args.out / f"{name}.mp4", preset=args.preset, duration_s=args.duration,
            seed=args.seed, settings=_settings(args, resolution=args.resolution, fps=args.fps))
    return 0


if __name__ == "__main__":
    from spasmcv.errors import run_script

    run_script(main)
