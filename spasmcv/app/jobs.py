"""Analysis in the background: one recording at a time in a worker thread, with progress and
cancelling. Each job calls the toolkit (extract_trace, analyze_trace) and stores the trace and
results with their versions; the uploaded video is deleted afterwards unless the clinician asked
to keep it."""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path

from sqlalchemy import and_, or_

from spasmcv import __version__
from spasmcv._tables import csv_text, json_safe
from spasmcv.analysis.analyze import ANALYSIS_VERSION, EVENT_COLUMNS, MINUTE_COLUMNS, analyze_trace
from spasmcv.app.db import AuditEntry, Recording
from spasmcv.errors import SpasmcvError
from spasmcv.measure.trace import Trace, scored_part, time_window, trace_bytes, trace_from_bytes


class Cancelled(Exception):
    """The clinician cancelled the analysis."""


def stored_trace(recording: Recording) -> Trace:
    """The recording's trace, from the bytes kept in the database (no file involved)."""
    return trace_from_bytes(recording.trace_csv, source=f"recording {recording.id}")


def protocol_segments(protocol: dict) -> list[dict]:
    """A guided recording's segments, ``{"task", "start_s", "end_s"}`` with times in the video (s):
    as the browser measured them (``spasmcv-guided-2``) or, for older protocols, one after the
    other from the start by their planned durations. [] for an uploaded video."""
    out, t = [], 0.0
    for segment in protocol.get("segments") or []:
        start = float(segment.get("start_s", t))
        end = float(segment.get("end_s", start + float(segment["duration_s"])))
        out.append({"task": segment["task"], "start_s": start, "end_s": end})
        t = end
    return out


def visit_segment(recording: Recording, trace: Trace, task: str) -> dict | None:
    """The segment a guided recording holding several tasks is graded on for a visit of ``task``:
    its segment of that task, if the recording has frames there (a recording stopped early may
    not); None for any other recording, which is graded whole."""
    segments = protocol_segments(recording.protocol_data)
    if len({s["task"] for s in segments}) < 2:
        return None
    return next((s for s in segments if s["task"] == task
                 and len(time_window(trace, s["start_s"], s["end_s"])) >= 2), None)


def graded_part(recording: Recording, trace: Trace, task: str) -> Trace:
    """What a recording's grade for a visit of ``task`` is measured on: a guided recording holding
    several tasks on its :func:`visit_segment` (against that task's normal rates, like an uploaded
    recording of one task), a batch row imported with its part of the video on that part; any
    other recording whole."""
    part = recording.protocol_data.get("part_s")
    if part:   # a batch row that scored part of its video (importer.part)
        return scored_part(trace, *part)
    segment = visit_segment(recording, trace, task)
    return trace if segment is None else time_window(trace, segment["start_s"], segment["end_s"])


def segment_grades(recording: Recording, trace: Trace, task: str) -> list[dict]:
    """Each segment of a guided recording holding several tasks graded against its own task
    (start and end in s, grade, severity index, closures and blinks per minute per eye), the
    one the visit's grade uses (:func:`visit_segment`) marked ``for_visit``; [] for any other
    recording."""
    segments = protocol_segments(recording.protocol_data)
    if len({s["task"] for s in segments}) < 2:
        return []
    used = visit_segment(recording, trace, task)
    out = []
    for segment in segments:
        part = time_window(trace, segment["start_s"], segment["end_s"])
        row = {**segment, "for_visit": segment == used}
        if len(part) < 2:
            out.append({**row, "gradable": False, "not_gradable_reason": "no frames recorded in this segment"})
            continue
        result = analyze_trace(part, task=segment["task"]).recording
        grade, metrics = result["severity"], result["metrics"]
        out.append({**row, "gradable": grade["gradable"], "not_gradable_reason": grade.get("not_gradable_reason"),
                    "jankovic_frequency_grade": grade["jankovic_frequency_grade"],
                    "severity_index": grade["severity_index"],
                    "normal_blink_rate_per_min": result["normal_ranges"]["blink_rate_per_min"],
                    **{f"{key}_{side}": metrics[side][key] for side in ("left", "right")
                       for key in ("closure_rate_per_min", "blink_rate_per_min")}})
    return out


def store_analysis(recording: Recording, trace: Trace, task: str) -> None:
    """Analyse ``trace`` (its :func:`graded_part` for ``task``) with the current version and keep
    the results on ``recording``; a guided recording of several tasks also keeps each segment's
    grade against its own task (``guided_segments`` in the analysis JSON)."""
    analysis = analyze_trace(graded_part(recording, trace, task), task=task)
    result = json_safe(analysis.recording)
    segments = segment_grades(recording, trace, task)
    if segments:
        result["guided_segments"] = json_safe(segments)
    recording.analysis_json = json.dumps(result)
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
        """Queue a recording; one cancelled before is analysed this time (its cancel is spent)."""
        with self._lock:
            self._cancel.discard(recording_id)
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
            mirrored = bool(recording.protocol_data.get("mirrored"))
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
            try:
                store_analysis(recording, trace, task)
            except SpasmcvError as exc:   # a trace the analysis refuses: a message, not a dead worker
                session.rollback()
                self._finish(recording_id, status="failed", error=str(exc))
                return
            session.commit()
        self._finish(recording_id, status="done", progress=1.0, error="")


def _grade_text(analysis_json: str | None) -> str:
    grade = json.loads(analysis_json or "{}").get("severity", {}).get("jankovic_frequency_grade")
    return "not gradable" if grade is None else str(grade)


def reanalyse(session, recording: Recording) -> tuple[str, bool]:
    """Analyse a stored trace again with the current version (no video needed). Returns what
    changed, for the audit log (the version it replaces, the grade before and after), and
    whether the grade changed."""
    before_version, before = recording.analysis_version, _grade_text(recording.analysis_json)
    store_analysis(recording, stored_trace(recording), recording.visit.task)
    session.commit()
    after = _grade_text(recording.analysis_json)
    return f"re-analysed with {ANALYSIS_VERSION} (was {before_version}; grade {before} -> {after})", after != before


def outdated(recording: Recording) -> bool:
    """A finished recording whose stored results an earlier version made: another analysis
    version, or a guided recording of several tasks analysed before it was graded by segment."""
    if recording.status != "done" or not recording.trace_csv:
        return False
    if recording.analysis_version != ANALYSIS_VERSION:
        return True
    segments = protocol_segments(recording.protocol_data)
    return (len({s["task"] for s in segments}) > 1
            and "guided_segments" not in json.loads(recording.analysis_json or "{}"))


def reanalyse_outdated(sessions, log=None) -> dict:
    """At start-up: every :func:`outdated` recording is analysed again from its stored trace, so
    that the visit pages, the export, the course and the report all give the current version's
    numbers (the course and report analyse the traces afresh; the pages read what is stored).
    Each is written to the audit log with what changed; returns ``{"count", "grade_changed"}``. A
    recording that cannot be analysed again is left as it was. ``log``: called with a line of
    progress (``spasmcv serve`` prints it: thousands of recordings take minutes)."""
    count = changed = 0
    with sessions() as session:
        # ids only: the stored traces are read one recording at a time (a clinic's may be gigabytes)
        earlier = or_(Recording.analysis_version.is_(None), Recording.analysis_version != ANALYSIS_VERSION,
                      and_(Recording.protocol.like('%"segments"%'), ~Recording.analysis_json.like('%"guided_segments"%')))
        todo = [rid for (rid,) in session.query(Recording.id).filter(Recording.status == "done",
                                                                      Recording.trace_csv.isnot(None), earlier)]
        if todo and log:
            log(f"{len(todo)} recording(s) may hold an earlier version's results: analysing those that do again "
                f"with {ANALYSIS_VERSION}, from their stored traces (no video needed)")
        for k, rid in enumerate(todo, 1):
            if log and k % 100 == 0:
                log(f"  {k} of {len(todo)}")
            recording = session.get(Recording, rid)
            if not outdated(recording):
                session.expunge(recording)
                continue
            try:
                text, grade_changed = reanalyse(session, recording)
            except Exception as exc:   # noqa: BLE001 - one recording that cannot be analysed must not stop the application
                session.rollback()
                if log:
                    log(f"  recording {rid} kept as it was ({type(exc).__name__}: {exc})")
                continue
            count += 1
            changed += grade_changed
            session.add(AuditEntry(action="change", target=f"recording {recording.id}: {text} at start-up",
                                   user="spasmcv"))
            session.commit()
            session.expunge(recording)
        if todo and log:
            log(f"analysed again: {count}; grade changed: {changed} (each in the audit log)")
    return {"count": count, "grade_changed": changed}
