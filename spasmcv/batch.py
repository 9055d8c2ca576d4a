"""Batch scoring: many recordings, in parallel, resumable, locally or on a Dask cluster.

Layout of an output directory::

    recordings.csv   one row per input recording (metrics, severity, quality, provenance,
                     study columns; failures are rows with ``status=failed`` and the error)
    events.csv       one row per eye event
    minutes.csv      one row per recording, eye and minute
    summary.txt      what was computed, reused from cache, or failed
    batch.log        one line per recording and run
    jobs.json        the inputs (study columns, keys), so traces can be rescored later
    traces/          per-frame traces (``RECORDING_ID-EXTRACTKEY.trace.csv.gz``)
    results/         per-recording results (``RECORDING_ID-RESULTKEY.json``)

A recording is recomputed only when its cache key changes: the extraction key hashes the
video's content (sha256), the model's sha256, the package and signal-definition versions and
the tracker settings; the result key adds the analysis settings, versions and task. Every file
is written atomically, so a batch that is interrupted (Ctrl-C, kill, power loss) resumes where
it stopped. Outputs identify recordings by pseudonymous ids (the start of the video's sha256)
and the study columns; input paths appear only with ``include_paths=True``.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from . import __version__
from ._atomic import atomic_write
from ._tables import csv_text, json_safe
from .analyze import ANALYSIS_VERSION, EVENT_COLUMNS, MINUTE_COLUMNS, AnalysisSettings, analyze_trace, event_rows
from .errors import SpasmcvError
from .landmarks import TrackerSettings
from .model import ModelInfo, file_sha256, resolve_model
from .severity import FORMULA_VERSION
from .trace import Trace, read_trace, write_trace
from .video import VIDEO_SUFFIXES

RESERVED_COLUMNS = {"path", "task", "mirrored"}
SIGNALS_VERSION_KEY = "signals_version"


class BatchError(SpasmcvError):
    """The batch cannot start (no inputs, bad manifest) or was aborted on an error."""

    exit_code = 6


@dataclass(frozen=True)
class Job:
    """One recording to score: where it is, and the study columns to carry through."""

    input_index: int
    path: Path
    study: dict = field(default_factory=dict)
    task: str = "rest"
    mirrored: bool = False


@dataclass(frozen=True)
class BatchSettings:
    """Everything that decides a batch's results (all of it goes into the cache keys)."""

    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    analysis: AnalysisSettings = field(default_factory=AnalysisSettings)


# ----------------------------------------------------------------------------------------
# inputs
# ----------------------------------------------------------------------------------------

def _truthy(value: str) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes", "y")


def read_manifest(path: str | os.PathLike, *, task: str = "rest") -> list[Job]:
    """Jobs from a manifest CSV: a ``path`` column (relative to the manifest) plus study columns.

    Optional columns ``task`` (rest/conversation/reading) and ``mirrored`` (true/false) set
    those per recording; every other column is carried through to every output row.
    """
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise BatchError(f"{path}: cannot read manifest ({exc})") from exc
    if not rows or "path" not in rows[0]:
        raise BatchError(f"{path}: a manifest needs a header with a 'path' column and at least one row")
    from .metrics import TASK_NORMS

    jobs = []
    for k, row in enumerate(rows):
        if row.get("task") and row["task"] not in TASK_NORMS:
            raise BatchError(f"{path}: row {k + 2}: task must be one of {', '.join(sorted(TASK_NORMS))}, "
                             f"not {row['task']!r}")
        video = Path(row["path"]).expanduser()
        if not video.is_absolute():
            video = path.parent / video
        study = {key: value for key, value in row.items() if key not in RESERVED_COLUMNS and key is not None}
        jobs.append(Job(input_index=k, path=video, study=study, task=row.get("task") or task,
                        mirrored=_truthy(row.get("mirrored", ""))))
    return jobs


def find_videos(inputs: Iterable[str | os.PathLike], *, task: str = "rest") -> list[Job]:
    """Jobs from folders (searched recursively for video files), glob patterns or files."""
    paths: list[Path] = []
    for item in inputs:
        item_path = Path(item).expanduser()
        if item_path.is_dir():
            paths += sorted(p for p in item_path.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
        elif any(ch in str(item) for ch in "*?["):
            anchor = Path(item_path.anchor or ".")
            pattern = str(item_path.relative_to(anchor)) if item_path.is_absolute() else str(item)
            paths += sorted(p for p in anchor.glob(pattern) if p.is_file())
        elif not item_path.exists() and item_path.suffix.lower() not in VIDEO_SUFFIXES:
            raise BatchError(f"{item}: no such file or folder")  # a mistyped folder is not an empty study
        else:
            paths.append(item_path)  # a missing video file becomes a failed row; the batch goes on
    if not paths:
        raise BatchError("no video files found in the inputs given")
    return [Job(input_index=k, path=p, task=task) for k, p in enumerate(paths)]


# ----------------------------------------------------------------------------------------
# cache keys
# ----------------------------------------------------------------------------------------

def with_overrides(settings, overrides: Iterable[str]):
    """A copy of a (nested, frozen) settings dataclass with ``"a.b=value"`` overrides applied.

    Values are parsed as JSON when possible (numbers, true/false, lists), else kept as text.
    """
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise BatchError(f"--set expects KEY=VALUE, not {item!r}")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        settings = _replace_path(settings, key.split("."), value, item)
    return settings


def _replace_path(obj, parts: list[str], value, item: str):
    import dataclasses

    if not dataclasses.is_dataclass(obj) or parts[0] not in {f.name for f in dataclasses.fields(obj)}:
        names = sorted(f.name for f in dataclasses.fields(obj)) if dataclasses.is_dataclass(obj) else []
        raise BatchError(f"--set {item}: unknown setting {parts[0]!r} (choose from {', '.join(names)})")
    if len(parts) == 1:
        return dataclasses.replace(obj, **{parts[0]: value})
    return dataclasses.replace(obj, **{parts[0]: _replace_path(getattr(obj, parts[0]), parts[1:], value, item)})


def _digest(payload) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def extraction_key(video_sha256: str, model_sha256: str, settings: BatchSettings, mirrored: bool) -> str:
    """Cache key of a trace: video content, model, versions and tracker settings."""
    from .extract import SIGNALS_VERSION

    return _digest({"video": video_sha256, "model": model_sha256, "spasmcv": __version__,
                    "signals": SIGNALS_VERSION, "tracker": asdict(settings.tracker), "mirrored": mirrored})


def result_key(extract_key: str, settings: BatchSettings, task: str) -> str:
    """Cache key of a result: the trace's key plus analysis settings, versions and task."""
    return _digest({"trace": extract_key, "analysis": asdict(settings.analysis), "task": task,
                    "analysis_version": ANALYSIS_VERSION, "formula": FORMULA_VERSION, "spasmcv": __version__})


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


# ----------------------------------------------------------------------------------------
# one recording (runs in worker processes)
# ----------------------------------------------------------------------------------------

_WORKER_MODEL: dict = {}


def _worker_model(model: ModelInfo) -> bytes:
    """The model's bytes, read once per worker process and checked against its sha256."""
    if _WORKER_MODEL.get("sha256") != model.sha256:
        data = Path(model.path).read_bytes()
        if hashlib.sha256(data).hexdigest() != model.sha256:
            raise SpasmcvError(f"{model.path}: the model file changed during the batch")
        _WORKER_MODEL.update(sha256=model.sha256, data=data)
    return _WORKER_MODEL["data"]


def _flatten(prefix: str, value, out: dict) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}_{k}" if prefix else str(k), v, out)
    elif isinstance(value, (list, tuple)):
        out[prefix] = "; ".join(str(v) for v in value)
    else:
        out[prefix] = value


def recording_row(analysis, trace: Trace) -> dict:
    """The flat recordings-table columns of one analysed recording."""
    rec = analysis.recording
    row: dict = {}
    sev = rec["severity"]
    row["jankovic_frequency_grade"] = sev["jankovic_frequency_grade"]
    row["severity_index"] = sev["severity_index"]
    row["worse_eye"] = sev["worse_eye"]
    row["not_gradable_reason"] = sev.get("not_gradable_reason")
    for side in ("left", "right"):
        row[f"{side}_jankovic_frequency_grade"] = sev[side]["jankovic_frequency_grade"]
        row[f"{side}_severity_index"] = sev[side]["severity_index"]
    metrics = dict(rec["metrics"])
    quality = metrics.pop("quality")
    for key, value in metrics.items():
        _flatten(key, value, row)
    _flatten("quality", quality, row)
    _flatten("intensity", rec["intensity"], row)
    video = trace.metadata.get("video", {})
    row.update({
        "video_duration_s": video.get("duration_s"), "video_fps": video.get("measured_fps"),
        "video_width": video.get("width"), "video_height": video.get("height"), "video_codec": video.get("codec"),
        "variable_frame_rate": video.get("variable_frame_rate"),
        "warnings": "; ".join(rec["warnings"]),
        "spasmcv_version": __version__, "analysis_version": ANALYSIS_VERSION, "formula_version": FORMULA_VERSION,
        "signals_version": trace.metadata.get(SIGNALS_VERSION_KEY),
        "model_sha256": trace.metadata.get("model", {}).get("sha256"), "video_sha256": video.get("sha256"),
    })
    return row


def analysed(trace: Trace, task: str, settings: AnalysisSettings) -> dict:
    """The result fields of one analysed trace (batch and rescore share this path)."""
    analysis = analyze_trace(trace, task=task, settings=settings)
    return {"status": "ok", "error": "", "row": recording_row(analysis, trace),
            "events": event_rows(analysis.events), "minutes": analysis.per_minute}


def score_recording(job: Job, *, out_dir: str, model: ModelInfo, settings: BatchSettings,
                    video_sha256: str, progress_queue=None) -> dict:
    """Extract (or reuse) the trace and analyse one recording; save and return its result.

    Never raises for a bad recording: the error is part of the returned (and saved) result.
    """
    out = Path(out_dir)
    started = time.perf_counter()
    recording_id = video_sha256[:12]
    ekey = extraction_key(video_sha256, model.sha256, settings, job.mirrored)
    rkey = result_key(ekey, settings, job.task)
    trace_path = out / "traces" / f"{recording_id}-{ekey}.trace.csv.gz"
    result = {"recording_id": recording_id, "extract_key": ekey, "result_key": rkey,
              "trace_file": str(trace_path.relative_to(out)), "task": job.task}
    try:
        if trace_path.exists():
            trace = read_trace(trace_path)
            result["extracted"] = False
        else:
            from .extract import extract_trace

            counter = _ProgressForwarder(progress_queue if progress_queue is not None else _WORKER["queue"],
                                         job.input_index)
            trace = extract_trace(job.path, model=model, settings=settings.tracker, mirrored=job.mirrored,
                                  recording_id=recording_id, progress=counter, model_data=_worker_model(model),
                                  decode_threads=1, prefetch_frames=0)
            counter.flush()
            write_trace(trace, trace_path)
            result["extracted"] = True
        result.update(analysed(trace, job.task, settings.analysis))
    except SpasmcvError as exc:
        result.update(status="failed", error=f"{type(exc).__name__}: {exc}".replace(str(job.path), "<input>"),
                      row={}, events=[], minutes=[])
    except Exception as exc:  # noqa: BLE001 - a batch survives any single bad recording
        result.update(status="failed", error=f"unexpected {type(exc).__name__}: {exc}", row={}, events=[], minutes=[])
    result["elapsed_s"] = round(time.perf_counter() - started, 3)
    save_result(out, result)
    return result


#: Per-worker-process state set by :func:`_worker_init` (local executor only).
_WORKER: dict = {"queue": None}


def _worker_init(queue, parent_pid: int, poll_s: float = 0.5) -> None:
    """Start-up of a local worker process: keep the progress queue, and exit as soon as the batch
    process is gone, however it died (``kill -9`` included), instead of living on as an orphan
    that finishes its recording for nobody."""
    import threading

    _WORKER["queue"] = queue

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(poll_s)
        os._exit(70)

    threading.Thread(target=watch, name="spasmcv-parent-watch", daemon=True).start()


class _ProgressForwarder:
    """Sends processed-frame counts to the parent process every 50 frames."""

    def __init__(self, queue, index: int):
        self.queue, self.index, self.pending = queue, index, 0

    def __call__(self, n: int) -> None:
        self.pending += n
        if self.pending >= 50:
            self.flush()

    def flush(self) -> None:
        if self.queue is not None and self.pending:
            self.queue.put(self.pending)
        self.pending = 0


def _result_path(out: Path, recording_id: str, rkey: str) -> Path:
    return out / "results" / f"{recording_id}-{rkey}.json"


def save_result(out: Path, result: dict) -> Path:
    """Write one recording's result atomically (NaN as null)."""
    path = _result_path(out, result["recording_id"], result["result_key"])
    with atomic_write(path) as handle:
        json.dump(json_safe(result), handle)
    return path


# ----------------------------------------------------------------------------------------
# the batch
# ----------------------------------------------------------------------------------------

@dataclass
class BatchReport:
    """What a run did: per-input results (in input order) and counts."""

    results: list
    computed: int = 0
    cached: int = 0
    failed: int = 0
    out_dir: Path | None = None


def _failure(job: Job, message: str, recording_id: str = "") -> dict:
    return {"recording_id": recording_id, "status": "failed", "error": message, "row": {}, "events": [],
            "minutes": [], "task": job.task, "extracted": False}


def run_batch(jobs: list[Job], out_dir: str | os.PathLike, *, model: ModelInfo | str | os.PathLike | None = None,
              settings: BatchSettings = BatchSettings(), workers: int | None = None, on_error: str = "continue",
              dask_address: str | None = None, include_paths: bool = False, retry_failed: bool = False,
              progress: Callable[[int, int], None] | None = None, log: Callable[[str], None] | None = None) -> BatchReport:
    """Score ``jobs`` into ``out_dir``, reusing every result whose cache key is unchanged.

    Parameters
    ----------
    jobs : list of Job
    out_dir : path
    model : ModelInfo or path, optional
    settings : BatchSettings
    workers : int, optional
        Worker processes (default: all cores). Ignored with ``dask_address``.
    on_error : {"continue", "abort"}
        Keep going after a failed recording (it becomes a row with the error), or stop.
    dask_address : str, optional
        Scheduler address of a running ``dask.distributed`` cluster; ``"local"`` starts a
        local cluster. Workers must see the videos, the output directory and the model.
    include_paths : bool
        Add the input path as a column (off by default: paths often contain names).
    retry_failed : bool
        Recompute recordings whose cached result is a failure.
    progress : callable(frames_done, frames_total), optional
    log : callable(str), optional
        Receives one line per recording (also written to ``batch.log``).
    """
    if on_error not in ("continue", "abort"):
        raise ValueError("on_error must be 'continue' or 'abort'")
    out = Path(out_dir)
    (out / "results").mkdir(parents=True, exist_ok=True)
    (out / "traces").mkdir(parents=True, exist_ok=True)
    if not isinstance(model, ModelInfo):
        model = resolve_model(model)
    log_lines: list[str] = []

    def note(line: str) -> None:
        stamped = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}"
        log_lines.append(stamped)
        if log:
            log(line)

    index = HashIndex(out / ".sha256-index.json")
    results: dict[int, dict] = {}
    todo: list[tuple[Job, str]] = []
    report = BatchReport(results=[], out_dir=out)
    for job in jobs:
        try:
            sha = index.sha256(job.path)
        except OSError as exc:
            results[job.input_index] = _failure(job, f"VideoError: cannot read <input> ({exc.strerror})")
            report.failed += 1
            note(f"#{job.input_index} failed: cannot read input ({exc.strerror})")
            continue
        ekey = extraction_key(sha, model.sha256, settings, job.mirrored)
        cached = _result_path(out, sha[:12], result_key(ekey, settings, job.task))
        if cached.exists():
            result = json.loads(cached.read_text())
            if not (retry_failed and result["status"] == "failed"):
                results[job.input_index] = result
                report.cached += 1
                continue
        todo.append((job, sha))
    index.save()
    note(f"batch: {len(jobs)} inputs, {report.cached} reused from cache, {len(todo)} to compute")

    total_frames = _count_frames(todo) if progress else 0

    def finished(job: Job, result: dict) -> None:
        results[job.input_index] = result
        if result["status"] == "failed":
            report.failed += 1
            note(f"#{job.input_index} {result['recording_id']} failed: {result['error']}")
        else:
            report.computed += 1
            note(f"#{job.input_index} {result['recording_id']} ok in {result.get('elapsed_s', 0):.1f} s"
                 f"{'' if result.get('extracted') else ' (trace reused)'}")

    aborted = None
    try:
        if dask_address:
            aborted = _run_dask(todo, out, model, settings, dask_address, on_error, finished)
        else:
            aborted = _run_local(todo, out, model, settings, workers or os.cpu_count() or 1, on_error, finished,
                                 progress, total_frames)
    finally:
        ordered = [results[j.input_index] if j.input_index in results else None for j in jobs]
        report.results = ordered
        write_tables(out, jobs, ordered, include_paths=include_paths)
        _write_summary(out, jobs, ordered, report, log_lines)
    if aborted is not None:
        raise BatchError(f"batch aborted after a failed recording (#{aborted}); see {out / 'batch.log'}")
    return report


def _count_frames(todo) -> int:
    """Frames to process, for the progress bar's ETA (container headers only: no extra pass)."""
    from .video import estimated_frame_count

    return sum(estimated_frame_count(job.path) for job, _ in todo)


def _run_local(todo, out, model, settings, workers, on_error, finished, progress, total_frames):
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    if not todo:
        return None
    context = multiprocessing.get_context("spawn")  # MediaPipe graphs must not be forked
    queue = context.Queue() if progress else None  # no manager process: nothing to outlive the batch
    done_frames = 0
    aborted = None
    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=context,
                                 initializer=_worker_init, initargs=(queue, os.getpid())) as pool:
            pending = {pool.submit(score_recording, job, out_dir=str(out), model=model, settings=settings,
                                   video_sha256=sha): job for job, sha in todo}
            try:
                while pending:
                    done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    if queue is not None:
                        done_frames += _drain(queue)
                        progress(done_frames, total_frames)
                    for future in done:
                        job = pending.pop(future)
                        result = future.result()
                        finished(job, result)
                        if result["status"] == "failed" and on_error == "abort":
                            aborted = job.input_index
                            for other in pending:
                                other.cancel()
                            pending = {}
                            break
            except BaseException:
                for other in pending:
                    other.cancel()
                raise
    except BrokenProcessPool as exc:
        raise BatchError("a worker process died (out of memory or killed); finished recordings are saved: "
                         "run the same command again to resume") from exc
    finally:
        if queue is not None:
            queue.close()
            queue.join_thread()
    return aborted


def _drain(queue) -> int:
    """Sum of the frame counts waiting in ``queue``."""
    import queue as queue_module

    total = 0
    while True:
        try:
            total += queue.get_nowait()
        except queue_module.Empty:
            return total


def _run_dask(todo, out, model, settings, address, on_error, finished):
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise BatchError("Dask is not installed: pip install 'spasmcv[distributed]'") from exc
    if not todo:
        return None
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True) if address == "local" else None
    aborted = None
    try:
        try:
            client = Client(cluster if cluster is not None else address, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise BatchError(f"cannot reach the Dask scheduler at {address} ({exc})") from exc
        with client:
            futures = {client.submit(score_recording, job, out_dir=str(out), model=model, settings=settings,
                                     video_sha256=sha, pure=False): job for job, sha in todo}
            for future in as_completed(list(futures)):
                job = futures[future]
                result = future.result()
                finished(job, result)
                if result["status"] == "failed" and on_error == "abort":
                    aborted = job.input_index
                    client.cancel([f for f in futures if not f.done()])
                    break
    finally:
        if cluster is not None:
            cluster.close()
    return aborted


# ----------------------------------------------------------------------------------------
# tables
# ----------------------------------------------------------------------------------------

def _ordered_union(rows: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def table_rows(jobs: list[Job], results: list, *, include_paths: bool = False) -> tuple[list, list, list]:
    """The recordings, events and minutes rows (study columns first) of a batch's results."""
    recordings, events, minutes = [], [], []
    for job, result in zip(jobs, results):
        ident = {"input_index": job.input_index}
        if include_paths:
            ident["path"] = str(job.path)
        ident.update(job.study)
        if result is None:
            recordings.append({**ident, "status": "not run", "error": "interrupted before this recording"})
            continue
        ident["recording_id"] = result.get("recording_id", "")
        recordings.append({**ident, "status": result["status"], "error": result.get("error", ""),
                           "task": result.get("task", job.task), **result.get("row", {})})
        events += [{**ident, **row} for row in result.get("events", [])]
        minutes += [{**ident, **row} for row in result.get("minutes", [])]
    return recordings, events, minutes


def write_tables(out: Path, jobs: list[Job], results: list, *, include_paths: bool = False) -> None:
    """Write recordings.csv, events.csv, minutes.csv and jobs.json atomically."""
    recordings, events, minutes = table_rows(jobs, results, include_paths=include_paths)
    ident = ["input_index"] + (["path"] if include_paths else []) + _ordered_union([j.study for j in jobs]) + ["recording_id"]
    with atomic_write(out / "recordings.csv") as handle:
        handle.write(csv_text(recordings, ident + [c for c in _ordered_union(recordings) if c not in ident]))
    with atomic_write(out / "events.csv") as handle:
        handle.write(csv_text(events, ident + EVENT_COLUMNS))
    with atomic_write(out / "minutes.csv") as handle:
        handle.write(csv_text(minutes, ident + MINUTE_COLUMNS))
    job_list = [{"input_index": j.input_index, "study": j.study, "task": j.task, "mirrored": j.mirrored,
                 "recording_id": (r or {}).get("recording_id", ""), "trace_file": (r or {}).get("trace_file", ""),
                 "status": (r or {}).get("status", "not run"), "error": (r or {}).get("error", ""),
                 **({"path": str(j.path)} if include_paths else {})}
                for j, r in zip(jobs, results)]
    with atomic_write(out / "jobs.json") as handle:
        json.dump(job_list, handle, indent=1)


def _write_summary(out: Path, jobs, results, report: BatchReport, log_lines: list[str]) -> None:
    not_run = sum(r is None for r in results)
    lines = [f"spasmcv {__version__} batch: {len(jobs)} recordings",
             f"  computed now:        {report.computed}",
             f"  reused from cache:   {report.cached}",
             f"  failed:              {sum(1 for r in results if r and r['status'] == 'failed')}"
             f" (this run: {report.failed})",
             f"  not run (stopped):   {not_run}"]
    failures = [(j, r) for j, r in zip(jobs, results) if r and r["status"] == "failed"]
    if failures:
        lines.append("failures:")
        lines += [f"  #{j.input_index} {r.get('recording_id') or '-'}: {r['error']}" for j, r in failures]
    with atomic_write(out / "summary.txt") as handle:
        handle.write("\n".join(lines) + "\n")
    with open(out / "batch.log", "a", encoding="utf-8") as handle:  # append-only journal
        handle.write("\n".join(log_lines) + "\n")


# ----------------------------------------------------------------------------------------
# rescoring and the Python API
# ----------------------------------------------------------------------------------------

def rescore(batch_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
            settings: AnalysisSettings = AnalysisSettings(), task: str | None = None) -> BatchReport:
    """Re-run detection and scoring on a batch's stored traces with other settings (no videos).

    Writes the same tables into ``out_dir``, which is self-contained: the traces are linked (or
    copied) into its ``traces/`` and ``jobs.json`` refers to them relative to it, so it can be
    rescored, moved or shared on its own. Recordings that had failed stay failed with their
    original reason.
    """
    src, out = Path(batch_dir), Path(out_dir)
    try:
        job_list = json.loads((src / "jobs.json").read_text())
    except (OSError, ValueError) as exc:
        raise BatchError(f"{src}: not a batch output directory (no readable jobs.json)") from exc
    (out / "traces").mkdir(parents=True, exist_ok=True)
    earlier_errors = _recorded_errors(src)
    jobs, results = [], []
    report = BatchReport(results=[], out_dir=out)
    for item in job_list:
        job = Job(input_index=item["input_index"], path=Path(item.get("path", "")), study=item["study"],
                  task=task or item["task"], mirrored=item["mirrored"])
        jobs.append(job)
        stored = src / item["trace_file"] if item.get("trace_file") else None
        if stored is None or not stored.exists():
            error = (item.get("error") or earlier_errors.get(item["input_index"])
                     or "no trace stored for this recording")
            results.append(_failure(job, error, item.get("recording_id", "")))
            report.failed += 1
            continue
        result = {"recording_id": item["recording_id"], "task": job.task,
                  "trace_file": str(Path("traces") / stored.name)}
        try:
            _link_or_copy(stored, out / result["trace_file"])
            result.update(analysed(read_trace(out / result["trace_file"]), job.task, settings))
            report.computed += 1
        except SpasmcvError as exc:
            result.update(status="failed", error=f"{type(exc).__name__}: {exc}", row={}, events=[], minutes=[])
            report.failed += 1
        results.append(result)
    report.results = results
    include_paths = any("path" in item for item in job_list)
    write_tables(out, jobs, results, include_paths=include_paths)
    _write_summary(out, jobs, results, report, [f"rescore of {src} with {json.dumps(asdict(settings), default=str)}"])
    return report


def _recorded_errors(batch_dir: Path) -> dict[int, str]:
    """input_index -> error of a batch's failed rows (recordings.csv; for jobs.json without errors)."""
    try:
        with open(batch_dir / "recordings.csv", newline="", encoding="utf-8") as handle:
            return {int(row["input_index"]): row["error"] for row in csv.DictReader(handle)
                    if row.get("status") == "failed" and row.get("error")}
    except (OSError, KeyError, ValueError):
        return {}


def _link_or_copy(source: Path, target: Path) -> None:
    """``target`` holds ``source``'s bytes: a hard link where the file system allows, else an atomic copy."""
    if target.exists() and os.path.samefile(source, target):
        return
    try:
        if target.exists():
            target.unlink()
        os.link(source, target)
    except OSError:
        with atomic_write(target, "wb") as handle:
            handle.write(source.read_bytes())


@dataclass(frozen=True)
class Tables:
    """A batch's tables as pandas DataFrames."""

    recordings: object
    events: object
    minutes: object


def load_tables(out_dir: str | os.PathLike) -> Tables:
    """Read a batch directory's tables as pandas DataFrames."""
    try:
        import pandas as pd
    except ImportError as exc:
        raise BatchError("pandas is needed for DataFrames: pip install 'spasmcv[batch]'") from exc
    out = Path(out_dir)
    return Tables(*(pd.read_csv(out / name) for name in ("recordings.csv", "events.csv", "minutes.csv")))


def score_many(inputs, out_dir: str | os.PathLike, *, manifest: str | os.PathLike | None = None,
               task: str = "rest", **kwargs) -> Tables:
    """Score many recordings and return the recordings, events and minutes tables.

    Parameters
    ----------
    inputs : list of paths, folders or glob patterns (ignored when ``manifest`` is given)
    out_dir : path
        Output and cache directory (re-running with it reuses every unchanged result).
    manifest : path, optional
        CSV with a ``path`` column and study columns.
    task : str
        Default recording task.
    **kwargs
        Passed to :func:`run_batch` (``workers``, ``on_error``, ``dask_address``, ``settings``...).

    Worker processes are started with ``spawn`` (MediaPipe must not be forked), so a script
    calling this must protect its entry point with ``if __name__ == "__main__":``.

    Examples
    --------
    >>> tables = score_many(["study/videos/"], "study/scores", workers=8)   # doctest: +SKIP
    >>> tables.recordings.groupby("visit")["severity_index"].median()       # doctest: +SKIP
    """
    jobs = read_manifest(manifest, task=task) if manifest else find_videos(inputs, task=task)
    run_batch(jobs, out_dir, **kwargs)
    return load_tables(out_dir)
