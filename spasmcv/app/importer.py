"""Import a ``spasmcv batch`` output folder into the clinic database.

Each successfully scored recording becomes a recording of a visit: its study columns must name
the patient (``patient``) and the visit date (``date``, YYYY-MM-DD); ``task`` comes from the
batch. The stored trace is copied into the database and analysed with the current version (the
batch's own tables may be older). Rows without a patient or date, failed recordings and
recordings already imported (same video sha256 in the same visit) are skipped, with the reason.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

from spasmcv.app.db import Patient, Recording, Visit, code_key
from spasmcv.app.jobs import store_analysis
from spasmcv.errors import BatchError
from spasmcv.measure.trace import trace_from_bytes


@dataclass
class ImportReport:
    imported: int = 0
    skipped: list[str] = field(default_factory=list)


def part(job: dict) -> dict:
    """``{"part_s": [start, end]}`` for a batch row that scored part of its video (end None: to the
    video's end), so the clinic grades the same frames; {} for a whole video."""
    start, end = job.get("start_s"), job.get("end_s")
    return {} if start is None and end is None else {"part_s": [start or 0.0, end]}


def import_batch(sessions, batch_dir: str | Path, *, patient_column: str = "patient",
                 date_column: str = "date") -> ImportReport:
    """Bring a batch folder's recordings into the clinic database (see the module docstring)."""
    batch_dir = Path(batch_dir)
    try:
        jobs = json.loads((batch_dir / "jobs.json").read_text())
    except (OSError, ValueError) as exc:
        raise BatchError(f"{batch_dir}: not a spasmcv batch output folder (no readable jobs.json)") from exc
    report = ImportReport()
    with sessions() as session:
        for job in jobs:
            where = f"input #{job['input_index']}"
            study = job.get("study", {})
            code, date_text = (study.get(patient_column) or "").strip(), (study.get(date_column) or "").strip()
            if job.get("status", "ok") != "ok" or not job.get("trace_file"):
                report.skipped.append(f"{where}: {job.get('error') or 'not scored'}")
                continue
            if not code or not date_text:
                report.skipped.append(f"{where}: no '{patient_column}' or '{date_column}' study column")
                continue
            try:
                date = dt.date.fromisoformat(date_text)
            except ValueError:
                report.skipped.append(f"{where}: date {date_text!r} is not YYYY-MM-DD")
                continue
            trace_path = batch_dir / job["trace_file"]
            if not trace_path.is_file():
                report.skipped.append(f"{where}: trace file missing")
                continue
            raw = trace_path.read_bytes()
            trace = trace_from_bytes(raw, source=str(trace_path))
            sha = (trace.metadata.get("video") or {}).get("sha256")
            # the clinic's own rule: codes differing only in case, spaces or punctuation are one patient
            patient = next((p for p in session.query(Patient) if code_key(p.code) == code_key(code)), None)
            if patient is None:
                patient = Patient(code=code, diagnosis="blepharospasm", notes="imported from a spasmcv batch")
                session.add(patient)
            visit = next((v for v in patient.visits if v.date == date and v.task == job["task"]), None)
            if visit is None:
                visit = Visit(patient=patient, date=date, task=job["task"], notes="")
                session.add(visit)
            same_part = part(job).get("part_s")   # another part of the same video is another recording
            if sha and any(r.video_sha256 == sha and r.protocol_data.get("part_s") == same_part for r in visit.recordings):
                report.skipped.append(f"{where}: already imported")
                continue
            recording = Recording(visit=visit, status="done", progress=1.0, video_sha256=sha,
                                  trace_csv=raw if raw[:2] == b"\x1f\x8b" else gzip.compress(raw, mtime=0),
                                  protocol=json.dumps({"imported_from": "spasmcv batch",
                                                       "recording_id": job.get("recording_id"),
                                                       **part(job)}))
            store_analysis(recording, trace, job["task"])
            session.add(recording)
            session.flush()
            report.imported += 1
        session.commit()
    return report
