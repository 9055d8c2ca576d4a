#!/usr/bin/env python
"""Benchmark extraction: spasmcv against the simple approach and the floor, in one run.

Approaches (each in a fresh child process, so that peak memory belongs to it alone):

* ``simple``: ``cv2.VideoCapture`` -> full-frame ``cv2.cvtColor(BGR->RGB)`` -> FaceLandmarker
  (VIDEO mode, same model settings as spasmcv), i.e. what most scripts do;
* ``spasmcv``: :func:`spasmcv.extract_trace` end to end (probe, video hash, decoding, model,
  eyelid signals, provenance);
* ``decode``: PyAV decoding alone (no colour conversion);
* ``model``: FaceLandmarker alone on ready-made RGB frames held in memory, through MediaPipe's
  public Python API (which turns every landmark into a Python object);
* ``model-arrays``: the same, with the result read into arrays as spasmcv does
  (:class:`spasmcv.measure.landmarks.FaceTracker` ``detect``), i.e. the model's own cost.
  The floor is ``decode`` + ``model-arrays`` per frame (``decode`` + ``model`` is shown too).

Prints frames/s (wall clock), CPU-seconds per frame (all threads) and peak resident memory.

Usage::

    python scripts/benchmark.py VIDEO [--model PATH] [--frames N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path


def _peak_rss_mb() -> float:
    """Peak resident memory of this process image (VmHWM; ru_maxrss survives exec on Linux)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _landmarker(model_path: str, num_faces: int):
    import mediapipe as mp
    from mediapipe.tasks.python import BaseOptions, vision

    options = vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=model_path), running_mode=vision.RunningMode.VIDEO,
        num_faces=num_faces, output_face_blendshapes=True, output_facial_transformation_matrixes=True)
    return mp, vision.FaceLandmarker.create_from_options(options)


def run_simple(video: str, model: str, frames: int, num_faces: int) -> int:
    import cv2

    mp, landmarker = _landmarker(model, num_faces)
    capture = cv2.VideoCapture(video)
    n = 0
    while n < frames:
        ok, bgr = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        stamp = int(capture.get(cv2.CAP_PROP_POS_MSEC))
        landmarker.detect_for_video(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb), max(stamp, n))
        n += 1
    landmarker.close()
    return n


def run_spasmcv(video: str, model: str, frames: int, num_faces: int) -> int:
    from spasmcv import TrackerSettings, extract_trace, resolve_model
    from spasmcv.measure.extract import MeasureSettings

    trace = extract_trace(video, model=resolve_model(model), settings=MeasureSettings(tracker=TrackerSettings(num_faces=num_faces)),
                          max_frames=frames)
    return len(trace)


def run_decode(video: str, model: str, frames: int, num_faces: int) -> int:
    import av

    container = av.open(video)
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    n = 0
    for _ in container.decode(stream):
        n += 1
        if n >= frames:
            break
    container.close()
    return n


def _ready_frames(video: str, frames: int) -> list:
    """The first frames as (RGB array, time s), at most 150 held in memory."""
    from spasmcv.measure.video import iter_frames

    ready = []
    for frame in iter_frames(video):
        ready.append((frame.rgb, frame.time_s))
        if len(ready) >= min(frames, 150):
            break
    return ready


def run_model(video: str, model: str, frames: int, num_faces: int) -> tuple[int, float, float]:
    """Model alone: returns (frames, wall s, cpu s) of the detect calls only."""
    ready = _ready_frames(video, frames)
    mp, landmarker = _landmarker(model, num_faces)
    images = [(mp.Image(image_format=mp.ImageFormat.SRGB, data=rgb), t) for rgb, t in ready]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for image, t in images:
        landmarker.detect_for_video(image, int(round(t * 1000)))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    landmarker.close()
    return len(images), wall, cpu


def run_model_arrays(video: str, model: str, frames: int, num_faces: int) -> tuple[int, float, float]:
    """Model alone, results read as arrays (spasmcv's reader): (frames, wall s, cpu s) of the calls."""
    from spasmcv.measure.landmarks import FaceTracker, TrackerSettings

    ready = _ready_frames(video, frames)
    with FaceTracker(model, TrackerSettings(num_faces=num_faces)) as tracker:
        images = [(tracker.model_input(rgb), t) for rgb, t in ready]
        wall0, cpu0 = time.perf_counter(), time.process_time()
        for image, t in images:
            tracker.detect(image, int(round(t * 1000)))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return len(images), wall, cpu


APPROACHES = {"simple": run_simple, "spasmcv": run_spasmcv, "decode": run_decode, "model": run_model,
              "model-arrays": run_model_arrays}


def child(args) -> None:
    # Import the heavy libraries before the clock starts: import time (about 0.5 s for
    # mediapipe) is not per-frame work, and the "model alone" reference excludes it too.
    import av  # noqa: F401
    import cv2  # noqa: F401
    import mediapipe  # noqa: F401

    import spasmcv.measure.extract  # noqa: F401

    wall0, cpu0 = time.perf_counter(), time.process_time()
    out = APPROACHES[args.approach](args.video, args.model, args.frames, args.num_faces)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    if isinstance(out, tuple):
        out, wall, cpu = out
    print(json.dumps({"frames": out, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": _peak_rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video")
    parser.add_argument("--model", default=os.environ.get("SPASMCV_MODEL"))
    parser.add_argument("--frames", type=int, default=10**9, help="at most this many frames per approach")
    parser.add_argument("--num-faces", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="runs per approach; the fastest is shown")
    parser.add_argument("--loop-minutes", type=float, default=0.0,
                        help="first re-encode the video looped to this many minutes (a clinical recording "
                             "is 1-3 min; per-recording set-up costs weigh less than on a short clip)")
    parser.add_argument("--approach", choices=APPROACHES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.model is None:
        from spasmcv.measure.model import resolve_model

        args.model = str(resolve_model().path)
    if args.approach:
        child(args)
        return

    from spasmcv.measure.video import probe_video

    if args.loop_minutes > 0:
        import tempfile

        sys.path.insert(0, str(Path(__file__).parent))
        from benchmark_batch import looped_video

        looped = Path(tempfile.mkdtemp()) / f"{Path(args.video).stem}_looped.mp4"
        looped_video(Path(args.video), looped, args.loop_minutes)
        args.video = str(looped)
    info = probe_video(args.video)
    print(f"input: {Path(args.video).name}: {info.width}x{info.height} {info.codec}, {info.frame_count} frames, "
          f"{info.measured_fps:.2f} fps")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; model num_faces={args.num_faces}")
    results = {}
    for name in APPROACHES:
        best = None
        for _ in range(args.repeat):
            cmd = [sys.executable, __file__, args.video, "--model", args.model, "--frames", str(args.frames),
                   "--num-faces", str(args.num_faces), "--approach", name]
            line = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            run = json.loads(line)
            if best is None or run["wall_s"] / run["frames"] < best["wall_s"] / best["frames"]:
                best = run
        results[name] = best

    def per_frame(r, key):
        return r[key] / r["frames"]

    rows = [(label, per_frame(results[key], "wall_s"), per_frame(results[key], "cpu_s"), results[key]["peak_rss_mb"])
            for label, key in (("simple (cv2, BGR->RGB, model)", "simple"), ("spasmcv extract", "spasmcv"),
                               ("decode alone (PyAV)", "decode"), ("model alone (public API)", "model"),
                               ("model alone (results as arrays)", "model-arrays"))]
    floor_wall = rows[2][1] + rows[4][1]
    floor_cpu = rows[2][2] + rows[4][2]
    print(f"{'approach':34s} {'frames/s':>9s} {'CPU ms/frame':>13s} {'peak RSS MB':>12s}")
    for label, wall, cpu, rss in rows:
        print(f"{label:34s} {1 / wall:9.1f} {cpu * 1000:13.2f} {rss:12.0f}")
    print(f"{'floor = decode + model (public)':34s} {1 / (rows[2][1] + rows[3][1]):9.1f} "
          f"{(rows[2][2] + rows[3][2]) * 1000:13.2f}")
    print(f"{'floor = decode + model (arrays)':34s} {1 / floor_wall:9.1f} {floor_cpu * 1000:13.2f}")
    spasm = rows[1]
    print(f"spasmcv vs simple: {rows[0][1] / spasm[1]:.2f}x throughput; spasmcv vs floor (arrays): "
          f"{spasm[1] / floor_wall - 1:+.1%} wall time, {spasm[2] / floor_cpu - 1:+.1%} CPU per frame")

if __name__ == "__main__":
    from spasmcv.errors import run_script

    run_script(main)
