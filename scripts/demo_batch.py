#!/usr/bin/env python
"""The batch demonstration of docs/batch.md: every shared real video plus the sample videos.

1. writes a manifest (study columns ``dataset``, ``subject``, ``visit``, ``task``) of every video
   in ``../shared/data/real/`` and ``sample_videos/``, plus a JPEG still and a ``.tag`` label
   file that must fail with a clear reason;
2. runs ``spasmcv batch`` and kills it (``kill -9``) once ``--kill-after`` results are saved;
3. runs the same command again: it must compute only what was missing;
4. runs it a third time: it must compute nothing;

then checks the tables (a row per input, the failures explained) and prints what happened.
Exit code 0 when every check holds.

Usage::

    python scripts/demo_batch.py --out /tmp/demo [--kill-after 20] [--workers N]
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "data" / "real"
sys.path.insert(0, str(REPO))

from spasmcv.measure.video import VIDEO_SUFFIXES  # noqa: E402


def write_manifest(path: Path) -> int:
    """The manifest of every real and sample video plus two files that are not videos."""
    rows = []
    for video in sorted(p for p in REAL.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES):
        rows.append({"path": str(video), "dataset": video.parent.name, "subject": video.stem,
                     "visit": "1", "task": "conversation"})
    for k, video in enumerate(sorted((REPO / "sample_videos").glob("*.mp4"))):
        rows.append({"path": str(video), "dataset": "synthetic", "subject": video.stem.split("_")[0],
                     "visit": str(k % 3 + 1), "task": "rest"})
    rows.append({"path": str(REAL / "talkingface" / "franck_02045.jpg"), "dataset": "bad",
                 "subject": "still", "visit": "1", "task": "rest"})
    rows.append({"path": str(REAL / "talkingface" / "talkingface_first300.tag"), "dataset": "bad",
                 "subject": "labels", "visit": "1", "task": "rest"})
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def summary_counts(out: Path) -> dict[str, int]:
    text = (out / "summary.txt").read_text()
    found = {}
    for key, label in (("computed", "computed now"), ("reused", "reused from cache"), ("failed", "failed"),
                       ("not_run", "not run (stopped)")):
        match = re.search(rf"{re.escape(label)}:\s+(\d+)", text)
        found[key] = int(match.group(1)) if match else -1
    match = re.search(r"\(this run: (\d+)\)", text)
    found["failed_this_run"] = int(match.group(1)) if match else -1
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="a new, empty working directory")
    parser.add_argument("--kill-after", type=int, default=20,
                        help="kill the first run after this many results (1 to the number of inputs - 1)")
    parser.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    args = parser.parse_args()
    if not REAL.is_dir():
        print(f"{REAL} is missing", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    manifest, scores = args.out / "manifest.csv", args.out / "scores"
    n_inputs = write_manifest(manifest)
    if not 0 < args.kill_after < n_inputs:
        parser.error(f"--kill-after must be between 1 and {n_inputs - 1}: the first run must stop part-way")
    command = [sys.executable, "-m", "spasmcv", "batch", "--manifest", str(manifest), "-o", str(scores), "--quiet"]
    if args.workers:
        command += ["--workers", str(args.workers)]
    print(f"manifest: {n_inputs} inputs ({manifest})")

    # 1. killed part-way
    start = time.perf_counter()
    first = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while first.poll() is None:
        done = len(list((scores / "results").glob("*.json"))) if (scores / "results").is_dir() else 0
        if done >= args.kill_after:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
            break
        time.sleep(0.2)
    saved = len(list((scores / "results").glob("*.json")))
    print(f"run 1: killed with kill -9 after {time.perf_counter() - start:.0f} s, {saved} results saved "
          f"(exit code {first.returncode})")

    # 2. resumed
    start = time.perf_counter()
    second = subprocess.run(command, capture_output=True, text=True)
    counts2 = summary_counts(scores)
    print(f"run 2: exit code {second.returncode} after {time.perf_counter() - start:.0f} s; {counts2}")

    # 3. nothing left to do
    start = time.perf_counter()
    third = subprocess.run(command, capture_output=True, text=True)
    counts3 = summary_counts(scores)
    print(f"run 3: exit code {third.returncode} after {time.perf_counter() - start:.1f} s; {counts3}")

    with open(scores / "recordings.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    statuses = {}
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    print(f"recordings.csv: {len(rows)} rows, {statuses}")
    for row in rows:
        if row["status"] != "ok" or "no face" in row.get("warnings", ""):
            print(f"  {row['dataset']}/{row['subject']}: {row['status']} "
                  f"{row['error'] or row.get('warnings', '')[:90]} "
                  f"({'grade ' + row['jankovic_frequency_grade'] if row.get('jankovic_frequency_grade') else 'not gradable'})")
    print((scores / "summary.txt").read_text())

    checks = {
        "first run was killed part-way": first.returncode != 0 and 0 < saved < n_inputs,
        "second run computed only what was missing": counts2["reused"] == saved
        and counts2["computed"] + counts2["failed_this_run"] + counts2["reused"] == n_inputs,
        "third run computed nothing": counts3["computed"] == 0 and counts3["reused"] == n_inputs,
        "a row per input": len(rows) == n_inputs,
        "exactly the two non-videos failed, with a reason": statuses.get("failed") == 2 and all(
            r["error"] for r in rows if r["status"] == "failed"),
    }
    for name, ok in checks.items():
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    from spasmcv.errors import run_script

    run_script(main)
