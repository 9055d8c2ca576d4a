#!/usr/bin/env python
"""Benchmark batch scoring: throughput with 1 and 2 (or N) workers, and memory vs video length.

* **scaling**: the same set of distinct recordings (copies of one video, remuxed with a
  different title so their content hashes differ) scored from scratch with 1 worker, then with
  ``--workers`` workers; prints frames/s of each and the speed-up;
* **memory**: one worker process extracting the first minute and then ten minutes of a long
  video (the input looped, re-encoded once into a temporary file); prints peak resident memory
  of each.

Usage::

    python scripts/benchmark_batch.py VIDEO [--copies 4] [--workers 2] [--model PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av

CHILD = """
import json, resource, sys, time
from spasmcv import extract_trace, resolve_model
from spasmcv.measure.pipelining import RunSettings

def peak_rss_mb():
    # VmHWM belongs to this process image only; ru_maxrss survives exec and would include the
    # parent's memory at fork time on Linux
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

t = time.perf_counter(); c = time.process_time()
trace = extract_trace(sys.argv[1], model=resolve_model(sys.argv[2]), max_frames=int(sys.argv[3]),
                      run=RunSettings(decode_threads=1))
print(json.dumps({"frames": len(trace), "wall_s": time.perf_counter() - t, "cpu_s": time.process_time() - c,
                  "peak_rss_mb": peak_rss_mb()}))
"""

BATCH = """
import json, sys, time
from spasmcv.study import find_videos, run_batch
if __name__ == "__main__":
    jobs = find_videos([sys.argv[1]])
    t = time.perf_counter()
    run_batch(jobs, sys.argv[2], model=sys.argv[3], workers=int(sys.argv[4]))
    print(json.dumps({"wall_s": time.perf_counter() - t}))
"""


def remux_copy(src: Path, dst: Path, title: str) -> int:
    """Copy a video's stream into a new MP4 with another title; returns its frame count."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        stream = out.add_stream_from_template(inp.streams.video[0])
        out.metadata["title"] = title
        n = 0
        for packet in inp.demux(inp.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)
            n += 1
    return n


def looped_video(src: Path, dst: Path, minutes: float) -> int:
    """Re-encode ``src`` looped until ``minutes`` long (H.264); returns the frame count."""
    with av.open(str(src)) as probe:
        rate = probe.streams.video[0].average_rate
        frames = [f.to_ndarray(format="rgb24") for f in probe.decode(video=0)]
    target = int(minutes * 60 * rate)
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "23", "preset": "veryfast"}
        for i in range(target):
            for packet in stream.encode(av.VideoFrame.from_ndarray(frames[i % len(frames)], format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("video", type=Path)
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default=os.environ.get("SPASMCV_MODEL"))
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()
    if args.model is None:
        from spasmcv.measure.model import resolve_model

        args.model = str(resolve_model().path)
    print(f"machine: {os.cpu_count()} cores; input {args.video.name}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        inputs = tmp / "inputs"
        inputs.mkdir()
        frames = sum(remux_copy(args.video, inputs / f"copy{k}.mp4", f"copy {k}") for k in range(args.copies))
        speeds = {}
        for workers in () if args.skip_scaling else (1, args.workers):
            out = subprocess.run([sys.executable, "-c", BATCH, str(inputs), str(tmp / f"out{workers}"), args.model,
                                  str(workers)], capture_output=True, text=True, check=True)
            wall = json.loads(out.stdout.strip().splitlines()[-1])["wall_s"]
            speeds[workers] = frames / wall
            print(f"batch of {args.copies} recordings ({frames} frames), {workers} worker(s): "
                  f"{speeds[workers]:.1f} frames/s ({wall:.1f} s)")
        if speeds:
            print(f"speed-up with {args.workers} workers: {speeds[args.workers] / speeds[1]:.2f}x")
        if args.skip_memory:
            return
        long_video = tmp / "long.mp4"
        n = looped_video(args.video, long_video, 10.0)
        with av.open(str(long_video)) as probe:
            rate = float(probe.streams.video[0].average_rate)
        for minutes in (1, 10):
            out = subprocess.run([sys.executable, "-c", CHILD, str(long_video), args.model,
                                  str(min(n, int(minutes * 60 * rate)))], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"extraction of {minutes:>2} min ({r['frames']} frames), one worker: peak RSS "
                  f"{r['peak_rss_mb']:.0f} MB, {r['frames'] / r['wall_s']:.1f} frames/s, "
                  f"{1000 * r['cpu_s'] / r['frames']:.2f} CPU ms/frame")


if __name__ == "__main__":
    from spasmcv.errors import run_script

    run_script(main)
