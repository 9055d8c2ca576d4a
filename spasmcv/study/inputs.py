"""A study's inputs: the recordings to score (:class:`Job`), from a manifest CSV or from
folders, glob patterns and files."""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from spasmcv.errors import BatchError
from spasmcv.measure.trace import part_seconds
from spasmcv.measure.video import VIDEO_SUFFIXES

#: Manifest columns that are not study columns.
RESERVED_COLUMNS = {"path", "task", "mirrored", "start_s", "end_s"}
#: Names (and prefixes of names) the output tables compute: a study column named so would stand
#: beside, or be overwritten by, the computed column.
OUTPUT_COLUMNS = {"input_index", "recording_id", "status", "error", "worse_eye", "not_gradable_reason", "review_count",
                  "bilateral_count", "one_eye_measured_count", "variable_frame_rate", "warnings", "spasmcv_version",
                  "analysis_version", "formula_version", "analysis_settings", "signals_version", "model_sha256",
                  "measure_settings", "mirrored", "mediapipe_version", "av_version"}
OUTPUT_COLUMN_PREFIXES = ("left_", "right_", "quality_", "intensity_", "video_", "asymmetry_", "unilateral_",
                          "jankovic_", "severity_")


def is_output_column(name: str) -> bool:
    """Whether ``name`` is (or may be) a column of the recordings, events or minutes table."""
    from spasmcv.analysis.analyze import EVENT_COLUMNS, MINUTE_COLUMNS

    return (name in OUTPUT_COLUMNS or name in EVENT_COLUMNS or name in MINUTE_COLUMNS
            or name.startswith(OUTPUT_COLUMN_PREFIXES))


@dataclass(frozen=True)
class Job:
    """One recording to score: where it is, and the study columns to carry through."""

    input_index: int
    path: Path
    study: dict = field(default_factory=dict)
    task: str = "rest"
    mirrored: bool = False
    start_s: float | None = None   # the part of the video scored (s; None: from its start / to its end)
    end_s: float | None = None
    manifest: Path | None = None   # the manifest the job was read from (never written to, like the video)

    @property
    def window(self) -> tuple[float, float] | None:
        """``(start_s, end_s)`` of the part scored, or None for the whole video."""
        if self.start_s is None and self.end_s is None:
            return None
        return (self.start_s or 0.0, math.inf if self.end_s is None else self.end_s)


def _mirrored(text: str | None, where: str) -> bool:
    """A manifest's ``mirrored`` cell: yes/no, true/false, y/n, 1/0 or empty (no)."""
    value = (text or "").strip().lower()
    if value in ("", "0", "false", "no", "n"):
        return False
    if value in ("1", "true", "yes", "y"):
        return True
    raise BatchError(f"{where}: mirrored must be yes or no (true/false, 1/0, or empty for no), not {text!r}")


def _seconds(text: str | None, where: str) -> float | None:
    """A manifest's time in seconds (None when empty); a BatchError naming ``where`` otherwise."""
    if text is None or not text.strip():
        return None
    try:
        return part_seconds(text)
    except ValueError as exc:
        raise BatchError(f"{where}: {exc}") from None


def read_manifest(path: str | os.PathLike, *, task: str = "rest") -> list[Job]:
    """Jobs from a manifest CSV: a ``path`` column (relative to the manifest) plus study columns.

    Optional columns ``task`` (rest/conversation/reading) and ``mirrored`` (true/false) set
    those per recording, ``start_s`` and ``end_s`` (seconds into the video, either may be empty)
    the part of it to score (e.g. each task of a session filmed in one video, one row each);
    every other column is carried through to every output row.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            # (line number, cells) of every line holding something: blank lines are nothing
            table = [(reader.line_num, cells) for cells in reader if any(cell.strip() for cell in cells)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise BatchError(f"{path}: cannot read manifest ({exc})") from exc
    header = table[0][1] if table else []
    rows = [dict(zip(header, cells)) for _, cells in table[1:]]
    lines = [line for line, _ in table[1:]]
    if not rows or "path" not in header:
        raise BatchError(f"{path}: a manifest needs a header with a 'path' column and at least one row")
    for line, (_, cells) in zip(lines, table[1:]):
        # a cell under no name (past the header, or under an empty one) would be lost
        lost = [j + 1 for j, cell in enumerate(cells) if cell.strip() and (j >= len(header) or not header[j].strip())]
        if lost:
            raise BatchError(f"{path}: row {line}: column {lost[0]} holds a value but has no name in the header")
        named = max(j + 1 for j, name in enumerate(header) if name.strip())
        if len(cells) < named:   # a field left out shifts every value after it into the wrong column
            raise BatchError(f"{path}: row {line} has {len(cells)} field(s) where the header names {named}: a value "
                             "may sit under the wrong column; give every column its field (empty ones too: a,,c)")
    names = [name.strip() for name in header if name.strip()]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise BatchError(f"{path}: the header names {', '.join(repr(n) for n in twice)} more than once: "
                         "one of the columns would be lost")
    taken = [name for name in names if name not in RESERVED_COLUMNS and is_output_column(name)]
    if taken:
        raise BatchError(f"{path}: study column(s) {', '.join(repr(n) for n in taken)} have the name of a column "
                         "the tables compute (docs/batch.md); rename them")
    from spasmcv.analysis.metrics import TASK_NORMS

    jobs = []
    for k, (line, row) in enumerate(zip(lines, rows)):
        if row.get("task") and row["task"] not in TASK_NORMS:
            raise BatchError(f"{path}: row {line}: task must be one of {', '.join(sorted(TASK_NORMS))}, "
                             f"not {row['task']!r}")
        if not (row.get("path") or "").strip():
            raise BatchError(f"{path}: row {line}: the path is empty")
        video = Path(row["path"]).expanduser()
        if not video.is_absolute():
            video = path.parent / video
        study = {key: value for key, value in row.items() if key not in RESERVED_COLUMNS and key.strip()}
        start, end = (_seconds(row.get(key), f"{path}: row {line}: {key}") for key in ("start_s", "end_s"))
        if start is not None and end is not None and end <= start:
            raise BatchError(f"{path}: row {line}: end_s {end:g} is not after start_s {start:g}")
        jobs.append(Job(input_index=k, path=video, study=study, task=row.get("task") or task,
                        mirrored=_mirrored(row.get("mirrored"), f"{path}: row {line}"), start_s=start, end_s=end,
                        manifest=path))
    return jobs


def find_videos(inputs: Iterable[str | os.PathLike], *, task: str = "rest") -> list[Job]:
    """Jobs from folders (searched recursively for video files), glob patterns or files."""
    def wanted(p: Path) -> bool:   # "._NAME": the resource fork macOS leaves beside a file on a USB drive
        return p.is_file() and not p.name.startswith("._")

    paths: list[Path] = []
    for item in inputs:
        item_path = Path(item).expanduser()
        if item_path.is_dir():
            found = sorted(p for p in item_path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and wanted(p))
            if not found:   # a folder of the wrong files, or the wrong folder, is not an empty study
                raise BatchError(f"{item}: no video files in this folder (looked for "
                                 f"{', '.join(sorted(VIDEO_SUFFIXES))}, in it and its subfolders)")
            paths += found
        elif any(ch in str(item) for ch in "*?["):
            anchor = Path(item_path.anchor or ".")
            pattern = str(item_path.relative_to(anchor)) if item_path.is_absolute() else str(item)
            found = sorted(p for p in anchor.glob(pattern) if wanted(p))
            if not found:   # a mistyped pattern (*.MP4 for .mp4 files) would drop a group of recordings
                raise BatchError(f"{item}: the pattern matches no file (patterns are case-sensitive)")
            paths += found
        elif not item_path.exists() and item_path.suffix.lower() not in VIDEO_SUFFIXES:
            raise BatchError(f"{item}: no such file or folder")  # a mistyped folder is not an empty study
        else:
            paths.append(item_path)  # a missing video file becomes a failed row; the batch goes on
    if not paths:
        raise BatchError("no video files found in the inputs given")
    return [Job(input_index=k, path=p, task=task) for k, p in enumerate(paths)]

