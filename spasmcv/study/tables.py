"""A study's tidy tables: ``recordings.csv`` (one row per input), ``events.csv`` (one row per eye
event), ``minutes.csv`` (one row per recording, eye and minute), plus ``jobs.json`` (what
rescoring needs) and ``summary.txt``; all written atomically. Study columns come first."""

from __future__ import annotations

import csv
import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import NamedTuple

from spasmcv import __version__
from spasmcv._atomic import atomic_write, unwritable_reason
from spasmcv._tables import csv_text
from spasmcv.analysis.analyze import EVENT_COLUMNS, MINUTE_COLUMNS
from spasmcv.errors import BatchError, OutputError
from spasmcv.study.inputs import Job
from spasmcv.study.result import RecordingResult, recording_columns


#: The files a batch (or a rescore) writes directly into its output folder.
BATCH_FILES = ("recordings.csv", "events.csv", "minutes.csv", "jobs.json", "summary.txt", "batch.log",
               ".sha256-index.json")


def _is_batch_file(path: Path) -> bool:
    """Whether an existing file named as one of :data:`BATCH_FILES` is a batch's own, by its content
    (the JSON files whole, the others by their first line)."""
    try:
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            return isinstance(data, list) if path.name == "jobs.json" else isinstance(data, dict)
        with open(path, "rb") as handle:
            head = handle.read(4096).decode("utf-8", errors="replace")
    except (OSError, ValueError):   # unreadable, or not JSON
        return False
    if path.suffix == ".csv":
        return head.startswith("input_index,")
    if path.name == "summary.txt":
        return bool(re.match(r"spasmcv \S+ (batch|rescore): ", head))
    return not head or bool(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d |rescore of ", head))   # batch.log


def guard_batch_folder(out: Path, inputs=(), *, force: bool = False) -> None:
    """Before any work: refuse an output folder that is a file or cannot be written, or whose
    tables, summary or journal would replace one of the ``inputs`` (a manifest kept in the folder,
    say) or, unless ``force``, a file of those names that no batch wrote. Raises
    :class:`~spasmcv.errors.OutputError`."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} exists and is not a folder; give an output folder (-o)")
    reason = unwritable_reason(out)
    if reason:
        raise OutputError(f"cannot write to {out}: {reason}; give another output folder (-o)")
    targets = [out / name for name in BATCH_FILES if (out / name).exists()]
    if not targets:
        return
    kept = {}   # (device, inode) -> an input, to find an input under another name or through a link
    for source in inputs:
        try:
            stat = os.stat(source)
        except (OSError, TypeError):   # missing (a failed row later) or None
            continue
        kept.setdefault((stat.st_dev, stat.st_ino), source)
    for target in targets:
        stat = target.stat()
        source = kept.get((stat.st_dev, stat.st_ino))
        if source is not None:
            also = "" if os.path.abspath(source) == os.path.abspath(target) else f" ({source})"
            raise OutputError(f"{target} is an input{also}: spasmcv never writes to its inputs; "
                              "choose another output folder (-o)")
        if not force and not _is_batch_file(target):
            raise OutputError(f"{target} exists and was not written by a spasmcv batch; choose another output "
                              "folder (-o) or pass --force to replace it")


def _ordered_union(rows: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def shown_path(job: Job) -> str:
    """The input's path as ``--include-paths`` shows it: absolute, ``..`` resolved (symbolic links
    kept), so that the table can be read from anywhere."""
    return os.path.abspath(job.path)


def table_rows(jobs: list[Job], results: list[RecordingResult | None], *,
               paths: list[str] | None = None) -> tuple[list, list, list]:
    """The recordings, events and minutes rows (study columns first) of a batch's results, with
    a ``path`` column holding ``paths`` (one per job; None: no such column)."""
    recordings, events, minutes = [], [], []
    for k, (job, result) in enumerate(zip(jobs, results)):
        ident = {"input_index": job.input_index}
        if paths is not None:
            ident["path"] = paths[k]
        ident.update(job.study)
        if result is None:
            recordings.append({**ident, "status": "not run", "error": "the batch stopped before this recording (interrupted, or "
                               "aborted at a failure: see batch.log)"})
            continue
        ident["recording_id"] = result.recording_id
        recordings.append({**ident, "status": result.status, "error": result.error, "task": result.task,
                           "start_s": job.start_s, "end_s": job.end_s, **result.row})
        events += [{**ident, **row} for row in result.events]
        minutes += [{**ident, **row} for row in result.minutes]
    return recordings, events, minutes


def write_tables(out: Path, jobs: list[Job], results: list[RecordingResult | None], *,
                 paths: list[str] | None = None) -> None:
    """Write recordings.csv, events.csv, minutes.csv and jobs.json atomically; ``paths``: the
    inputs' paths to show, one per job (``--include-paths``, :func:`shown_path`), or None."""
    recordings, events, minutes = table_rows(jobs, results, paths=paths)
    ident = ["input_index"] + (["path"] if paths is not None else []) + _ordered_union([j.study for j in jobs]) + ["recording_id"]
    # every column whatever the rows hold (a batch whose recordings all failed still has the metrics')
    columns = dict.fromkeys([*ident, "status", "error", "task", "start_s", "end_s", *recording_columns(),
                             *_ordered_union(recordings)])
    with atomic_write(out / "recordings.csv") as handle:
        handle.write(csv_text(recordings, list(columns)))
    with atomic_write(out / "events.csv") as handle:
        handle.write(csv_text(events, ident + EVENT_COLUMNS))
    with atomic_write(out / "minutes.csv") as handle:
        handle.write(csv_text(minutes, ident + MINUTE_COLUMNS))
    job_list = [{"input_index": j.input_index, "study": j.study, "task": j.task, "mirrored": j.mirrored,
                 "start_s": j.start_s, "end_s": j.end_s,
                 "recording_id": r.recording_id if r else "", "trace_file": r.trace_file if r else "",
                 "status": r.status if r else "not run", "error": r.error if r else "",
                 **({"path": paths[k]} if paths is not None else {})}
                for k, (j, r) in enumerate(zip(jobs, results))]
    with atomic_write(out / "jobs.json") as handle:
        json.dump(job_list, handle, indent=1)


# what scored a row: a change in any of these (or the task) between two tables is named in summary.txt
PROVENANCE_COLUMNS = ("spasmcv_version", "signals_version", "model_sha256", "analysis_version", "formula_version",
                      "analysis_settings", "measure_settings", "mediapipe_version", "av_version")


def _part_key(recording_id: str, start_s, end_s) -> tuple[str, str, str]:
    """A row's recording and part, as recordings.csv writes them."""
    def cell(value) -> str:
        try:
            return "" if value is None or value == "" else format(float(value), ".6g")
        except ValueError:
            return str(value)
    return (recording_id, cell(start_s), cell(end_s))


def scored_with(table: Path) -> dict[tuple, dict]:
    """The provenance of each scored row of a recordings.csv: (recording id, start_s, end_s, task)
    -> its task and :data:`PROVENANCE_COLUMNS`; also (recording id, start_s, end_s) when only one
    row holds that part, so that a row rescored with another task is still matched. Empty when
    there is no such table or it cannot be read (it is only compared with, never needed)."""
    try:
        with open(table, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    by_part: dict[tuple, list[dict]] = {}
    for r in rows:
        if r.get("status") == "ok" and r.get("analysis_version"):
            by_part.setdefault(_part_key(r.get("recording_id", ""), r.get("start_s"), r.get("end_s")), []).append(
                {c: r.get(c) or "" for c in ("task",) + PROVENANCE_COLUMNS if c in r})   # older tables lack some
    scored: dict[tuple, dict] = {}
    for part, held in by_part.items():
        scored.update({part + (row["task"],): row for row in held})
        if len(held) == 1:
            scored[part] = held[0]
    return scored


def _shown(column: str, value: str) -> str:
    if column in ("analysis_settings", "measure_settings"):
        return value or "defaults"
    return (value[:12] if column == "model_sha256" else value) or "-"


def scoring_changes(earlier: dict[tuple, dict], jobs: list[Job], results: list[RecordingResult | None]) -> list[str]:
    """What scores rows differently from ``earlier`` (:func:`scored_with`), one line per change
    with how many recordings it concerns, e.g. ``analysis_version: analysis-23 -> analysis-24 (5
    recordings)``; the analysis settings are shown as they differ from the defaults."""
    counts: Counter = Counter()
    for job, result in zip(jobs, results):
        if result is None or result.failed:
            continue
        part = _part_key(result.recording_id, job.start_s, job.end_s)
        before = earlier.get(part + (result.task,)) or earlier.get(part)
        if before is None:
            continue
        now = {"task": result.task, **{c: "" if result.row.get(c) is None else str(result.row[c])
                                       for c in PROVENANCE_COLUMNS}}
        for column, value in now.items():
            if column in before and before[column] != value:
                counts[f"{column}: {_shown(column, before[column])} -> {_shown(column, value)}"] += 1
    return [f"{change} ({n} recording{'s' if n != 1 else ''})" for change, n in counts.items()]


def write_summary(out: Path, jobs: list[Job], results: list[RecordingResult | None], *, computed: int,
                  cached: int, failed_now: int, log_lines: list[str], warnings: list[str] | None = None,
                  from_stored_trace: int = 0, changes: list[str] | None = None,
                  changed_from: str = "this folder's tables before this run", kind: str = "batch") -> None:
    """``summary.txt`` (counts, ``warnings`` such as a video listed twice, ``changes`` in what
    scored a row since the tables ``changed_from`` names (:func:`scoring_changes`), and every
    failure's reason; headed by ``kind``, "batch" or "rescore"), and ``log_lines`` appended to
    ``batch.log`` (a batch appends its lines as they happen and gives none here).
    The first three counts add up to the recordings; the run's own three add up to those run
    (``computed`` and ``failed_now`` this run, ``cached`` reused, failures from earlier runs included;
    ``from_stored_trace`` of those computed needed no video: their trace was kept, e.g. after the
    analysis version or settings changed)."""
    not_run = sum(r is None for r in results)
    failed = sum(1 for r in results if r and r.failed)
    failed_before = failed - failed_now
    lines = [f"spasmcv {__version__} {kind}: {len(jobs)} recordings",
             f"  scored:              {len(jobs) - failed - not_run}",
             f"  failed:              {failed}",
             f"  not run (stopped):   {not_run}",
             "this run:",
             f"  computed now:        {computed}"
             + (f" ({from_stored_trace} of them from a trace already extracted, no video decoded for them: "
                "another row of the same video, or an earlier run with another analysis version or settings)"
                if from_stored_trace else ""),
             f"  failed now:          {failed_now}",
             f"  reused from cache:   {cached}"
             + (f" ({failed_before} of them failed in an earlier run)" if failed_before else "")]
    if changes:
        lines += [f"scored differently from {changed_from}:"] + [f"  {c}" for c in changes]
    if warnings:
        lines += ["warnings:"] + [f"  {w}" for w in warnings]
    failures = [(j, r) for j, r in zip(jobs, results) if r and r.failed]
    if failures:
        lines.append("failures:")
        lines += [f"  #{j.input_index} {r.recording_id or '-'}: {r.error}" for j, r in failures]
    with atomic_write(out / "summary.txt") as handle:
        handle.write("\n".join(lines) + "\n")
    if log_lines:
        with open(out / "batch.log", "a", encoding="utf-8") as handle:  # append-only journal
            handle.write("\n".join(log_lines) + "\n")


class Tables(NamedTuple):
    """A batch's tables as pandas DataFrames (``recordings, events, minutes = tables`` works too)."""

    recordings: object
    events: object
    minutes: object


def load_tables(out_dir: str | os.PathLike) -> Tables:
    """Read a batch directory's tables as pandas DataFrames. The identifiers are kept as text: the
    study columns (subject ``007`` stays ``007``), ``recording_id`` (hex digits that may look like
    a number) and ``path``."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise BatchError("pandas is needed for DataFrames: pip install 'spasmcv[batch]'") from exc
    out = Path(out_dir)
    text = {"recording_id", "path", "status", "error", "task"}
    try:
        text.update(key for job in json.loads((out / "jobs.json").read_text(encoding="utf-8")) for key in job["study"])
    except (OSError, ValueError, KeyError, TypeError):   # a folder without jobs.json: the fixed columns only
        pass
    return Tables(*(pd.read_csv(out / name, dtype={c: str for c in text}, keep_default_na=False, na_values=[""])
                    for name in ("recordings.csv", "events.csv", "minutes.csv")))
