"""Fingerprints (sha256) of everything spasmcv writes for the sample videos, to show that a
change of code structure changes no output.

Runs the command line on every sample video (trace, analysis JSON, events and minutes CSV), a
three-visit comparison (JSON, CSV, HTML report), one review video and a two-video batch (its
tables), then prints one line per
output: ``sha256  name``. Run it before and after a refactoring and diff the two listings:

    python scripts/fingerprint_outputs.py --work /tmp/fp-before > before.txt
    ... change the code ...
    python scripts/fingerprint_outputs.py --work /tmp/fp-after > after.txt
    diff before.txt after.txt && echo identical

Takes about 3 minutes (two cores).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_videos"


def run(*args: str) -> None:
    result = subprocess.run([sys.executable, "-m", "spasmcv", *args], capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        sys.exit(f"spasmcv {' '.join(args)} failed:\n{result.stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True, help="an empty folder for the outputs")
    args = parser.parse_args()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    videos = sorted(SAMPLES.glob("*.mp4"))
    for video in videos:
        run("extract", str(video), "-o", str(work / f"{video.stem}.trace.csv"), "-q")
        run("analyze", str(work / f"{video.stem}.trace.csv"), "-o", str(work / video.stem), "-q", "--force")
    visits = ["visit1_baseline", "visit2_week3", "visit3_week12"]
    run("compare", *[a for v in visits for a in ("--visit", f"{v}:{work / v}.trace.csv")],
        "--injection-date", "2026-01-12", "-o", str(work / "visits"), "-q", "--n-boot", "500")
    run("annotate", str(SAMPLES / "hfs_left.mp4"), "-o", str(work / "hfs_left.review.mp4"), "-q")
    run("batch", str(SAMPLES / "healthy_control.mp4"), str(SAMPLES / "hfs_left.mp4"), "-o", str(work / "batch"),
        "--workers", "2", "-q")
    tables = [work / "batch" / name for name in ("recordings.csv", "events.csv", "minutes.csv", "jobs.json")]
    for path in sorted(p for p in work.iterdir() if p.is_file()) + tables:
        print(f"{hashlib.sha256(path.read_bytes()).hexdigest()}  {path.relative_to(work)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
