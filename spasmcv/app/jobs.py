"""Analysis in the background: one recording at a time in a worker thread, with progress and
cancelling. Each job calls the toolkit (extract_trace, analyze_trace) and stores the trace and
results with their versions; the uploaded video is deleted afterwards unless the clinician asked
to keep it."""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path

from spasmcv import __version__
from spasmcv._tables import csv_text, json_safe
from spasmcv.analysis.analyze import ANALYSIS_VERSION, EVENT_COLUMNS, MINUTE_COLUMNS, analyze_trace
from spasmcv.app.db import Recording
from spasmcv.errors import SpasmcvError
from spasmcv.measure.trace import Trace, trace_bytes, trace_from_bytes


class Cancelled(Exception):
    """The clinician cancelled the analysis."""


def stored_trace(recording: Recording) -> Trace:
    """The recording's trace, from the bytes kept in the database (no file involved)."""
    return trace_from_bytes(recording.trace_csv, source=f"recording {recording.id}")


def store_analysis(recording: Recording, trace: Trace, task: str) -> None:
    """Analyse ``trace`` with the current version and keep the results on ``recording``."""
    analysis = analyze_trace(trace, task=task)
    recording.analysis_json = json.dumps(json_safe(analysis.recording))
    recording.events_csv = csv_text(analysis.events.summary(), EVENT_COLUMNS, float_format=".4f")
    recording.minutes_csv = csv_text(analysis.per_minute, MINUTE_COLUMNS, float_format=".4f")
    recording.spasmcv_version, recording.analysis_version = __version__, ANALYSIS_VERSION


class Worker:
    """A single background thread that analyses queued recordings (``submit``) in order."""

    def __init__(self, sessions, data_dir: Path, model):
        self.sessions, self.data_dir, self.model = sessions, data_dir, model
        self._queue: queue.Queue[int] = queue.Queue()
        self._cancel: set[int] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="spasmcv-analysis", daemon=True)
        self._thread.start()

    def submit(self, recording_id: int) -> None:
        self._queue.put(recording_id)

    def cancel(self, recording_id: int) -> None:
        with self._lock:
            self._cancel.add(recording_id)

    def resume_interrupted(self) -> None:
        """At start-up: recordings left queued or running by a stopped server are queued again."""
        with self.sessions() as session:
            for recording in session.query(Recording).filter(Recording.status.in_(["queued", "running"])):
                recording.status, recording.progress = "queued", 0.0
                self.submit(recording.id)
            session.commit()

    def _cancelled(self, recording_id: int) -> bool:
        with self._lock:
            return recording_id in self._cancel

    def _run(self) -> None:
        while True:
            recording_id = self._queue.get()
            try:
                self._analyse(recording_id)
            except Exception as exc:  # noqa: BLE001 - the worker must survive any one recording
                self._finish(recording_id, status="failed", error=f"unexpected {type(exc).__name__}: {exc}")

    def _finish(self, recording_id: int, **changes) -> None:
        with self.sessions() as session:
            recording = session.get(Recording, recording_id)
            if recording is None:
                return
            for key, value in changes.items():
                setattr(recording, key, value)
            # privacy default: the upload goes once it has been analysed, cancelled or found unusable
            if recording.video_file and not recording.keep_video and recording.status in ("done", "cancelled", "failed"):
                (self.data_dir / "uploads" / recording.video_file).unlink(missing_ok=True)
                recording.video_file = None
            session.commit()

    def _analyse(self, recording_id: int) -> None:
        from spasmcv.measure.extract import MeasureSettings, extract_trace
        from spasmcv.measure.pipelining import RunSettings
        from spasmcv.measure.video import probe_video

        with self.sessions() as session:
            recording = session.get(Recording, recording_id)
            if recording is None or recording.status != "queued":
                return
            cancelled = self._cancelled(recording_id)
            if not cancelled:
                recording.status, recording.progress = "running", 0.0
            session.commit()
            video = self.data_dir / "uploads" / (recording.video_file or "")
            task = recording.visit.task
            mirrored = bool(json.loads(recording.protocol or "{}").get("mirrored"))
        if cancelled:
            self._finish(recording_id, status="cancelled", progress=0.0)
            return
        try:
            info = probe_video(video)
            total = [max(info.frame_count, 1)]   # frames to process: a second pass adds its own
            done = [0]

            def progress(n: int) -> None:
                done[0] += n
                if self._cancelled(recording_id):
                    raise Cancelled()
                if done[0] % 30 == 0:
                    with self.sessions() as s:
                        s.get(Recording, recording_id).progress = min(done[0] / total[0], 0.99)
                        s.commit()

            def on_pass(frames: int) -> None:
                total[0] += frames

            trace = extract_trace(video, model=self.model, progress=progress, on_pass=on_pass, info=info,
                                  settings=MeasureSettings(mirrored=mirrored), run=RunSettings(pin_threads=False))
        except Cancelled:
            self._finish(recording_id, status="cancelled", progress=0.0)
            return
        except SpasmcvError as exc:
            self._finish(recording_id, status="failed", error=str(exc).replace(str(video), "the uploaded video"))
            return
        with self.sessions() as session:
            recording = session.get(Recording, recording_id)
            recording.trace_csv = trace_bytes(trace, compress=True)
            recording.video_sha256 = trace.metadata["video"]["sha256"]
            store_analysis(recording, trace, task)
            session.commit()
        self._finish(recording_id, status="done", progress=1.0, error="")


def reanalyse(session, recording: Recording) -> None:
    """Analyse a stored trace again with the current version (no video needed)."""
    store_analysis(recording, stored_trace(recording), recording.visit.task)
    session.commit()
