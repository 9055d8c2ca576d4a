"""The study's cache: content-addressed keys, remembered video hashes, saved results.

A recording is recomputed only when its key changes: the extraction key hashes the video's
content (sha256), the model's sha256, the package and signal-definition versions and the
measure settings (tracker and mirroring); the result key adds the analysis settings, the
analysis and formula versions and the task. Together they hash the whole settings tree
(:mod:`spasmcv.settings`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path

from spasmcv import __version__
from spasmcv._atomic import atomic_write
from spasmcv._hashing import file_sha256
from spasmcv.analysis.analyze import ANALYSIS_VERSION
from spasmcv.analysis.severity import FORMULA_VERSION
from spasmcv.measure.extract import SIGNALS_VERSION, MeasureSettings, software_versions
from spasmcv.settings import Settings, digest
from spasmcv.study.result import RecordingResult


def extraction_key(video_sha256: str, model_sha256: str, measure: MeasureSettings) -> str:
    """Cache key of a trace: video content, model, versions (spasmcv's, its signals', and the face
    model's and decoder's libraries') and the measure settings."""
    # the face model's and decoder's libraries: an upgrade moves a closure's frames now and then, so a
    # study never mixes traces made with two of them
    libraries = {name: software_versions()[name] for name in ("mediapipe", "av")}
    return digest({"video": video_sha256, "model": model_sha256, "spasmcv": __version__,
                   "signals": SIGNALS_VERSION, "libraries": libraries, **dataclasses.asdict(measure)})


def result_key(extract_key: str, settings: Settings, task: str, window: tuple[float, float] | None = None) -> str:
    """Cache key of a result: the trace's key plus the analysis settings, versions, task and the
    part of the video scored (``window``, s; None for all of it, which leaves earlier keys as they were)."""
    key = {"trace": extract_key, "analysis": dataclasses.asdict(settings.analysis), "task": task,
           "analysis_version": ANALYSIS_VERSION, "formula": FORMULA_VERSION, "spasmcv": __version__}
    if window is not None:
        key["window_s"] = [window[0], None if math.isinf(window[1]) else window[1]]
    return digest(key)


class HashIndex:
    """Remembers file sha256 by (path, size, mtime) so re-runs need not re-read every video."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self.entries = json.loads(path.read_text())
        except (OSError, ValueError):
            self.entries = {}

    def sha256(self, video: Path) -> str:
        stat = video.stat()
        # keyed by a hash of path, size and mtime: the output folder never holds input paths
        key = hashlib.sha256(f"{video.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
        if key not in self.entries:
            self.entries[key] = file_sha256(video)
        return self.entries[key]

    def save(self) -> None:
        with atomic_write(self.path) as handle:
            json.dump(self.entries, handle)


def result_path(out: Path, recording_id: str, rkey: str) -> Path:
    return out / "results" / f"{recording_id}-{rkey}.json"


def save_result(out: Path, result: RecordingResult) -> Path:
    """Write one recording's result atomically (NaN as null)."""
    path = result_path(out, result.recording_id, result.result_key)
    with atomic_write(path) as handle:
        json.dump(result.to_json(), handle)
    return path


def load_result(path: Path) -> RecordingResult:
    return RecordingResult.from_json(json.loads(path.read_text()))


def load_saved_result(path: Path) -> tuple[RecordingResult | None, str]:
    """A saved result and ``""``, or None and why it cannot be used (a file cut short by a full
    disk, edited, or from an incompatible version): the caller computes it again."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        result = RecordingResult.from_json(data)
        if result.status not in ("ok", "failed") or not isinstance(result.row, dict):
            raise ValueError(f"status {result.status!r}")
        return result, ""
    except (OSError, ValueError, TypeError) as exc:   # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None, f"{type(exc).__name__}: {exc}"
