"""Batch scoring: many recordings, in parallel, resumable, locally or on a Dask cluster.

Layout of an output directory::

    recordings.csv   one row per input recording (metrics, severity, quality, provenance,
                     study columns; failures are rows with ``status=failed`` and the error)
    events.csv       one row per eye event
    minutes.csv      one row per recording, eye and minute
    summary.txt      what was computed, reused from cache, or failed
    batch.log        the journal, appended to as the run goes: one line per recording computed
    jobs.json        the inputs (study columns, keys), so traces can be rescored later
    traces/          per-frame traces (``RECORDING_ID-EXTRACTKEY.trace.csv.gz``)
    results/         per-recording results (``RECORDING_ID-RESULTKEY.json``)

Each video goes through :func:`score_video` (extract or reuse its trace once, then
:func:`spasmcv.study.result.analysed` for each input naming it, e.g. one per task filmed in it,
the path :func:`rescore` uses too), cached by content
(:mod:`spasmcv.study.cache`). Every file is written atomically, so a batch that is interrupted
(Ctrl-C, kill, power loss) resumes where it stopped; workers exit when the batch process dies.
Outputs identify recordings by pseudonymous ids (the start of the video's sha256) and the study
columns; input paths appear only with ``include_paths=True``.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import os
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from spasmcv import __version__
from spasmcv._atomic import atomic_write
from spasmcv.analysis.analyze import AnalysisSettings
from spasmcv.errors import BatchError, SpasmcvError, TraceError
from spasmcv.measure.model import ModelInfo, resolve_model
from spasmcv.measure.pipelining import RunSettings
from spasmcv.measure.trace import read_trace, write_trace
from spasmcv.settings import Settings
from spasmcv.study.cache import HashIndex, extraction_key, load_saved_result, result_key, result_path, save_result
from spasmcv.study.inputs import Job, find_videos, is_output_column, read_manifest
from spasmcv.study.result import RecordingResult, analysed
from spasmcv.study.tables import (BATCH_FILES, Tables, guard_batch_folder, load_tables, scored_with, scoring_changes,
                                  shown_path, write_summary, write_tables)

#: Batch workers run one recording per core: one decoder thread, no prefetching, no pinning.
WORKER_RUN = RunSettings(decode_threads=1, prefetch_frames=0, pin_threads=False)


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


def job_measure(job: Job, settings: Settings):
    """The measure settings of one job: the batch's, mirrored when the manifest says so."""
    return dataclasses.replace(settings.measure, mirrored=True) if job.mirrored else settings.measure


def score_video(jobs: list[Job], *, out_dir: str, model: ModelInfo, settings: Settings,
                video_sha256: str) -> list[RecordingResult]:
    """Extract (or reuse) one video's trace once and analyse it for each of ``jobs`` (the inputs
    naming this video with the same measure settings: e.g. one row per task of a session, each
    with its own part of the video); save and return their results, in order.

    Never raises for a bad recording: the error is part of each returned (and saved) result.
    """
    out = Path(out_dir)
    started = time.perf_counter()
    recording_id = video_sha256[:12]
    measure = job_measure(jobs[0], settings)
    ekey = extraction_key(video_sha256, model.sha256, measure)
    trace_path = out / "traces" / f"{recording_id}-{ekey}.trace.csv.gz"
    trace, error, extracted = None, "", False
    try:
        if trace_path.exists():
            try:
                trace = read_trace(trace_path)
            except TraceError:   # a damaged stored trace (cut short, edited) is measured again
                trace = None
        if trace is None:
            from spasmcv.measure.extract import extract_trace

            counter = _ProgressForwarder(_WORKER["queue"], jobs[0].input_index)
            trace = extract_trace(jobs[0].path, model=model, settings=measure, recording_id=recording_id,
                                  progress=counter, on_pass=counter.more_frames, run=WORKER_RUN,
                                  video_sha256=video_sha256,
                                  model_data=_worker_model(model))
            counter.flush()
            write_trace(trace, trace_path)
            extracted = True
    except SpasmcvError as exc:
        error = f"{type(exc).__name__}: {exc}".replace(str(jobs[0].path), "<input>")
    except Exception as exc:  # noqa: BLE001 - a batch survives any single bad recording
        error = f"unexpected {type(exc).__name__}: {exc}"
    results = []
    for job in jobs:   # the first one's time includes measuring the video
        result = RecordingResult(recording_id=recording_id, status="failed", task=job.task, extract_key=ekey,
                                 result_key=result_key(ekey, settings, job.task, job.window),
                                 trace_file=str(trace_path.relative_to(out)), error=error, extracted=extracted,
                                 row=_failure_provenance(video_sha256, model))   # which video and version failed
        if trace is not None:
            try:
                result = dataclasses.replace(result, **analysed(trace, job.task, settings.analysis, job.window))
            except SpasmcvError as exc:
                result.error = f"{type(exc).__name__}: {exc}".replace(str(job.path), "<input>")
            except Exception as exc:  # noqa: BLE001
                result.error = f"unexpected {type(exc).__name__}: {exc}"
        result.elapsed_s = round(time.perf_counter() - started, 3)
        save_result(out, result)
        results.append(result)
        extracted, started = False, time.perf_counter()   # the next part of the video reuses the trace
    return results


def _failure_provenance(video_sha256: str, model: ModelInfo) -> dict:
    """The provenance columns a failed row can have: the video's content, the model and the
    versions that tried it (a successful row's analysis replaces them with its own)."""
    from spasmcv.analysis.analyze import ANALYSIS_VERSION
    from spasmcv.measure.extract import SIGNALS_VERSION

    return {"spasmcv_version": __version__, "analysis_version": ANALYSIS_VERSION, "signals_version": SIGNALS_VERSION,
            "model_sha256": model.sha256, "video_sha256": video_sha256}


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
    """Sends processed-frame counts to the parent process every 50 frames, as ``(frames, 0)``, and
    the frames a second pass over a video adds to the total, as ``(0, frames)``."""

    def __init__(self, queue, index: int):
        self.queue, self.index, self.pending = queue, index, 0

    def __call__(self, n: int) -> None:
        self.pending += n
        if self.pending >= 50:
            self.flush()

    def more_frames(self, n: int) -> None:
        if self.queue is not None:
            self.queue.put((0, n))

    def flush(self) -> None:
        if self.queue is not None and self.pending:
            self.queue.put((self.pending, 0))
        self.pending = 0



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
    from_stored_trace: int = 0   # of ``computed``: analysed from a trace already extracted (no video decoded)


def run_batch(jobs: list[Job], out_dir: str | os.PathLike, *, model: ModelInfo | str | os.PathLike | None = None,
              settings: Settings = Settings(), workers: int | None = None, on_error: str = "continue",
              dask_address: str | None = None, include_paths: bool = False, retry_failed: bool = False,
              progress: Callable[[int, int], None] | None = None, log: Callable[[str], None] | None = None,
              force: bool = False) -> BatchReport:
    """Score ``jobs`` into ``out_dir``, reusing every result whose cache key is unchanged.

    Parameters
    ----------
    jobs : list of Job
    out_dir : path
    model : ModelInfo or path, optional
    settings : Settings
        What decides the results (the whole tree goes into the cache keys); a job whose manifest
        row says ``mirrored`` is measured mirrored.
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
    force : bool
        Replace files of the batch's names in ``out_dir`` that no batch wrote (refused otherwise;
        the videos and the manifests the jobs were read from are never written to).
    """
    if on_error not in ("continue", "abort"):
        raise ValueError("on_error must be 'continue' or 'abort'")
    out = Path(out_dir)
    taken = sorted({key for job in jobs for key in job.study if is_output_column(key)})
    if taken:   # jobs made in Python, not read from a manifest (read_manifest refuses these)
        raise BatchError(f"study column(s) {', '.join(repr(k) for k in taken)} have the name of a column the tables "
                         "compute (docs/batch.md); rename them")
    manifests = {job.manifest for job in jobs if job.manifest is not None}
    guard_batch_folder(out, [*manifests, *(job.path for job in jobs)], force=force)
    (out / "results").mkdir(parents=True, exist_ok=True)
    (out / "traces").mkdir(parents=True, exist_ok=True)
    if not isinstance(model, ModelInfo):
        model = resolve_model(model)
    def note(line: str) -> None:
        """One journal line, appended to batch.log at once: a batch killed outright (``kill -9``,
        out of memory) keeps the lines of what it had done."""
        with open(out / "batch.log", "a", encoding="utf-8") as journal:
            journal.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
        if log:
            log(line)

    index = HashIndex(out / ".sha256-index.json")
    earlier = scored_with(out / "recordings.csv")   # read before this run replaces it
    results: dict[int, dict] = {}
    todo: list[tuple[Job, str]] = []
    pending: dict[int, Path] = {}   # input index -> where its result will be saved
    report = BatchReport(results=[], out_dir=out)
    started = time.time()
    aborted = None
    unreadable: list[str] = []   # logged after the run's first line
    first_with: dict[tuple, int] = {}   # (recording id, part scored) -> the first input index with it
    repeated: list[str] = []
    for job in jobs:
        try:
            sha = index.sha256(job.path)
        except OSError as exc:
            results[job.input_index] = RecordingResult.failure(f"VideoError: cannot read <input> ({exc.strerror})",
                                                               task=job.task)
            report.failed += 1
            unreadable.append(f"#{job.input_index} failed: cannot read <input> ({exc.strerror})")
            if on_error == "abort":
                aborted = job.input_index
                break
            continue
        repeated += _listed_twice(job, sha[:12], first_with)
        ekey = extraction_key(sha, model.sha256, job_measure(job, settings))
        cached = result_path(out, sha[:12], result_key(ekey, settings, job.task, job.window))
        result, damage = load_saved_result(cached) if cached.exists() else (None, "")
        if damage:   # a damaged cache entry is a miss, not the end of the study
            unreadable.append(f"#{job.input_index} {sha[:12]}: the saved result {cached.relative_to(out)} cannot be "
                              f"used ({damage[:120]}); computed again")
        if result is not None:
            if not (retry_failed and result.failed):
                results[job.input_index] = result
                report.cached += 1
                if result.failed and on_error == "abort":   # a failure from an earlier run stops it too
                    aborted = job.input_index
                    unreadable.append(f"#{job.input_index} {result.recording_id} failed in an earlier run: {result.error}")
                    break
                continue
        todo.append((job, sha))
        pending[job.input_index] = cached
    index.save()
    note(f"batch: {len(jobs)} inputs, {report.cached} reused from cache, {len(todo)} to compute")
    for line in unreadable + repeated:
        note(line)

    # one work item per video and measure settings: its trace is extracted once for all its rows
    groups: dict[tuple, list[Job]] = {}
    for job, sha in todo:
        groups.setdefault((sha, extraction_key(sha, model.sha256, job_measure(job, settings))), []).append(job)
    work = [(group, sha) for (sha, _), group in groups.items()]
    total_frames = _count_frames(work) if progress else 0

    def finished(job: Job, result: RecordingResult) -> None:
        results[job.input_index] = result
        if result.failed:
            report.failed += 1
            note(f"#{job.input_index} {result.recording_id} failed: {result.error}")
        else:
            report.computed += 1
            report.from_stored_trace += not result.extracted
            note(f"#{job.input_index} {result.recording_id} ok in {result.elapsed_s:.1f} s"
                 f"{'' if result.extracted else ' (trace reused)'}")

    try:
        if aborted is None and dask_address:
            aborted = _run_dask(work, out, model, settings, dask_address, on_error, finished)
        elif aborted is None:
            aborted = _run_local(work, out, model, settings, workers or os.cpu_count() or 1, on_error, finished,
                                 progress, total_frames)
    finally:
        # stopped (Ctrl-C, an abort): workers may have saved results this process never received
        for input_index, path in pending.items():
            if input_index not in results and path.exists() and path.stat().st_mtime >= started:
                result, _ = load_saved_result(path)
                if result is None:   # unusable: the recording stays 'not run', computed by the next run
                    continue
                results[input_index] = result
                if result.failed:
                    report.failed += 1
                    note(f"#{input_index} {result.recording_id} failed: {result.error} (saved by a worker as the batch "
                         "stopped)")
                else:
                    report.computed += 1
                    note(f"#{input_index} {result.recording_id} ok (saved by a worker as the batch stopped)")
        ordered = [results[j.input_index] if j.input_index in results else None for j in jobs]
        if any(r is None for r in ordered):
            note(f"stopped: {sum(r is None for r in ordered)} recording(s) not run; run the batch again to score them")
        report.results = ordered
        write_tables(out, jobs, ordered, paths=[shown_path(j) for j in jobs] if include_paths else None)
        write_summary(out, jobs, ordered, computed=report.computed, cached=report.cached, failed_now=report.failed,
                      log_lines=[], warnings=repeated, from_stored_trace=report.from_stored_trace,
                      changes=scoring_changes(earlier, jobs, ordered))
    if aborted is not None:
        raise BatchError(f"batch aborted after a failed recording (#{aborted}); see {out / 'batch.log'}")
    return report


def _listed_twice(job: Job, recording_id: str, first_with: dict) -> list[str]:
    """A warning when ``job`` names a video (and part of it) an earlier input named; ``first_with``
    remembers (recording id, part) -> the first input index."""
    first = first_with.setdefault((recording_id, job.window), job.input_index)
    if first == job.input_index:
        return []
    return [f"#{job.input_index} is the same video as #{first} (recording {recording_id})"
            f"{' and the same part of it' if job.window else ''}: check the manifest"]


def _count_frames(work) -> int:
    """Frames to process, for the progress bar's ETA (container headers only: no extra pass)."""
    from spasmcv.measure.video import estimated_frame_count

    return sum(estimated_frame_count(jobs[0].path) for jobs, _ in work)


def _run_local(work, out, model, settings, workers, on_error, finished, progress, total_frames):
    import multiprocessing
    from concurrent.futures.process import BrokenProcessPool

    if not work:
        return None
    context = multiprocessing.get_context("spawn")  # MediaPipe graphs must not be forked
    queue = context.Queue() if progress else None  # no manager process: nothing to outlive the batch
    done_frames = 0
    aborted = None
    try:
        with ProcessPoolExecutor(max_workers=min(workers, len(work)), mp_context=context,
                                 initializer=_worker_init, initargs=(queue, os.getpid())) as pool:
            pending = {pool.submit(score_video, jobs, out_dir=str(out), model=model, settings=settings,
                                   video_sha256=sha): jobs for jobs, sha in work}
            try:
                while pending:
                    done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    if queue is not None:
                        frames, more = _drain(queue)
                        done_frames, total_frames = done_frames + frames, total_frames + more
                        progress(done_frames, total_frames)
                    for future in done:
                        jobs = pending.pop(future)
                        aborted = _finish_all(jobs, future.result(), finished, on_error)
                        if aborted is not None:
                            for other in pending:
                                other.cancel()
                            pending = {}
                            break
            except BaseException:   # Ctrl-C, or an error here: stop now, do not wait for the workers' videos
                # The futures are left to the pool, which fails them all once its workers are gone: one
                # cancelled here made its thread print "InvalidStateError: CANCELLED" (Python 3.11).
                _stop_workers(pool)
                if queue is not None:
                    queue.cancel_join_thread()
                raise
    except BrokenProcessPool as exc:
        raise BatchError("a worker process died (out of memory or killed); finished recordings are saved: "
                         "run the same command again to resume") from exc
    finally:
        if queue is not None:
            queue.close()
            queue.join_thread()
    return aborted


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate a pool's worker processes. A worker measuring a long video would otherwise keep a
    stopped batch waiting until its video is done (a minute or more); what it had saved stays saved
    (results are written atomically) and the next run computes the rest."""
    for process in list((getattr(pool, "_processes", None) or {}).values()):
        try:
            process.terminate()
        except (OSError, ValueError):   # already gone
            pass


def _drain(queue) -> tuple[int, int]:
    """Sums of the ``(frames processed, frames added to the total)`` messages waiting in ``queue``."""
    import queue as queue_module

    frames = more = 0
    while True:
        try:
            done, added = queue.get_nowait()
        except queue_module.Empty:
            return frames, more
        frames, more = frames + done, more + added


def _finish_all(jobs: list[Job], results: list[RecordingResult], finished, on_error: str) -> int | None:
    """Hand each of a video's results to ``finished``; the input index to abort at, if any."""
    for job, result in zip(jobs, results):
        finished(job, result)
    failed = [job.input_index for job, result in zip(jobs, results) if result.failed]
    return failed[0] if failed and on_error == "abort" else None


def _run_dask(work, out, model, settings, address, on_error, finished):
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError as exc:
        raise BatchError("Dask is not installed: pip install 'spasmcv[distributed]'") from exc
    if not work:
        return None
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True) if address == "local" else None
    aborted = None
    try:
        try:
            client = Client(cluster if cluster is not None else address, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise BatchError(f"cannot reach the Dask scheduler at {address} ({exc})") from exc
        with client:
            futures = {client.submit(score_video, jobs, out_dir=str(out), model=model, settings=settings,
                                     video_sha256=sha, pure=False): jobs for jobs, sha in work}
            for future in as_completed(list(futures)):
                aborted = _finish_all(futures[future], future.result(), finished, on_error)
                if aborted is not None:
                    client.cancel([f for f in futures if not f.done()])
                    break
    finally:
        if cluster is not None:
            cluster.close()
    return aborted


# ----------------------------------------------------------------------------------------
# rescoring and the Python API
# ----------------------------------------------------------------------------------------

def rescore(batch_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
            settings: AnalysisSettings = AnalysisSettings(), task: str | None = None, force: bool = False) -> BatchReport:
    """Re-run detection and scoring on a batch's stored traces with other settings (no videos).

    Writes the same tables into ``out_dir``, which is self-contained: the traces are linked (or
    copied) into its ``traces/`` and ``jobs.json`` refers to them relative to it, so it can be
    rescored, moved or shared on its own. Recordings that had failed stay failed with their
    original reason. ``force`` replaces files of the batch's names in ``out_dir`` that no batch wrote.
    """
    src, out = Path(batch_dir), Path(out_dir)
    try:
        job_list = json.loads((src / "jobs.json").read_text())
    except (OSError, ValueError) as exc:
        raise BatchError(f"{src}: not a batch output directory (no readable jobs.json)") from exc
    guard_batch_folder(out, [src / name for name in BATCH_FILES], force=force)
    (out / "traces").mkdir(parents=True, exist_ok=True)
    earlier_errors = _recorded_errors(src)
    jobs, results, repeated, first_with = [], [], [], {}
    report = BatchReport(results=[], out_dir=out)
    for item in job_list:
        job = Job(input_index=item["input_index"], path=Path(item.get("path", "")), study=item["study"],
                  task=task or item["task"], mirrored=item["mirrored"], start_s=item.get("start_s"),
                  end_s=item.get("end_s"))
        jobs.append(job)
        if item.get("recording_id"):
            repeated += _listed_twice(job, item["recording_id"], first_with)
        if item.get("status") == "not run":   # the batch was stopped before it: still not run, not failed
            results.append(None)
            continue
        stored = src / item["trace_file"] if item.get("trace_file") else None
        if stored is None or not stored.exists():
            error = (item.get("error") or earlier_errors.get(item["input_index"])
                     or "no trace stored for this recording")
            results.append(RecordingResult.failure(error, recording_id=item.get("recording_id", ""), task=job.task))
            report.failed += 1
            continue
        result = RecordingResult(recording_id=item["recording_id"], status="failed", task=job.task,
                                 trace_file=str(Path("traces") / stored.name))
        try:
            _link_or_copy(stored, out / result.trace_file)
            result = dataclasses.replace(result, **analysed(read_trace(out / result.trace_file), job.task, settings,
                                                            job.window))
            report.computed += 1
        except SpasmcvError as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            report.failed += 1
        results.append(result)
    report.results = results
    not_run = sum(result is None for result in results)
    if not_run:
        repeated.append(f"{not_run} recording(s) were not run by the batch rescored (it was stopped): run that batch "
                        "again to score them, then rescore it")
    # the paths as the batch wrote them: an older batch's relative ones name files relative to the
    # folder it ran in, which this run cannot know (made absolute here they would name other files)
    paths = [item.get("path", "") for item in job_list] if any("path" in item for item in job_list) else None
    relative = sum(1 for p in paths or [] if p and not os.path.isabs(p))
    if relative:
        repeated.append(f"{relative} input path(s) are relative, as that older batch wrote them: they start from the "
                        "folder that batch was run from")
    write_tables(out, jobs, results, paths=paths)
    write_summary(out, jobs, results, computed=report.computed, cached=report.cached, failed_now=report.failed,
                  log_lines=[f"rescore of {src} with {json.dumps(dataclasses.asdict(settings), default=str)}"],
                  warnings=repeated, changes=scoring_changes(scored_with(src / "recordings.csv"), jobs, results),
                  changed_from="the tables rescored", kind="rescore")
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
