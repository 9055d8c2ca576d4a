"""The clinic's pages (Flask, server-rendered, no external assets: works offline).

Security: bound to 127.0.0.1 by default; listening on another address needs user accounts
(argon2 hashes) and then every page but the sign-in page needs a signed-in user; every form
carries a CSRF token checked on every POST; the session cookie is HttpOnly and SameSite=Lax;
templates escape all user text; uploads are stored under the data folder with names spasmcv
makes up (the uploaded file name is never used as a path); every view and change is written to
the audit log with the user.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import os
import re
import secrets
import sys
import threading
import unicodedata
import uuid
from collections import OrderedDict
from pathlib import Path
from urllib.parse import quote

from flask import Flask, Response, abort, g, redirect, render_template, request, send_file, session, url_for

from spasmcv import __version__
from spasmcv._atomic import atomic_write
from spasmcv.analysis.analyze import ANALYSIS_VERSION
from spasmcv.analysis.events import display_kind
from spasmcv.analysis.metrics import TASK_NORMS, shown_metric
from spasmcv.analysis.severity import review_closures_phrase
from spasmcv.app.db import (DIAGNOSES, HFS_SIDE, INJECTION_SITES, AuditEntry, Dose, Patient, Recording, Treatment,
                            User, Visit, check_password, code_key)
from spasmcv.app.jobs import Worker, graded_part, protocol_segments, reanalyse, reanalyse_outdated, stored_trace
from spasmcv.clinic.compare import Treatment as CompareTreatment
from spasmcv.clinic.compare import one_sided, other_side_warning
from spasmcv.clinic.cycles import close_injections
from spasmcv.clinic.palette import KIND_COLORS, KIND_LABELS
from spasmcv.measure.video import VIDEO_SUFFIXES

#: Largest upload accepted (bytes); a 5-minute 1080p phone video is about 600 MB.
MAX_UPLOAD_BYTES = 2 * 1024 ** 3
SIDES = ("right", "left")


def _secret_key(data_dir: Path) -> bytes:
    """The session-signing key, made once per data folder and readable by its owner only."""
    path = data_dir / "secret.key"
    if not path.exists():
        with atomic_write(path, "wb") as handle:
            handle.write(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


def _date(text: str | None) -> dt.date:
    try:
        return dt.date.fromisoformat((text or "").strip())
    except ValueError:
        abort(400, "a date is needed as YYYY-MM-DD")


def attachment(filename: str) -> dict:
    """The header that downloads a response as ``filename`` (e.g. a patient code's report): the
    name in UTF-8 (RFC 6266 ``filename*``, which browsers take), and an ASCII stand-in for those
    that do not, both without path separators or control characters. Unquoted, a code holding
    ``;`` or a non-ASCII letter was cut short or dropped, so reports of two patients could be saved
    under one name."""
    name = "".join("_" if c in '/\\' or unicodedata.category(c)[0] == "C" else c for c in filename).strip() or "download"
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    plain = re.sub(r'[^A-Za-z0-9._ -]', "_", plain).strip(" .") or "download"
    return {"Content-Disposition": f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"}


def _int_or_none(text: str | None, lo: int, hi: int, field: str) -> int | None:
    """A form's whole number in ``lo``-``hi``, or None when left empty (``field`` names it in the message)."""
    if not (text or "").strip():
        return None
    try:
        value = int(text)
    except ValueError:
        abort(400, f"{field}: expected a whole number {lo}-{hi}, not {text!r}")
    if not lo <= value <= hi:
        abort(400, f"{field}: expected a whole number {lo}-{hi}, not {value}")
    return value


def _float_or_none(text: str | None, field: str, hi: float = math.inf) -> float | None:
    """A form's number from 0 to ``hi``, or None when left empty (``field`` names it in the message)."""
    if not (text or "").strip():
        return None
    try:
        value = float(text)
    except ValueError:
        abort(400, f"{field}: expected a number, not {text!r}")
    if not math.isfinite(value) or not 0 <= value <= hi:
        abort(400, f"{field}: expected a number from 0" + (f" to {hi:g}" if math.isfinite(hi) else " up")
              + f", not {text.strip()}")
    return value


#: The most units accepted for one injection site and side: above any product's dose (a typing slip).
MAX_UNITS_PER_SITE = 200.0
#: The Blepharospasm Disability Index's range: six activities rated 0-4 each.
BSDI_MAX = 24.0


def _visit_date(text: str | None) -> dt.date:
    """A visit's date: filmed already, so not after tomorrow (time zones), whatever was typed."""
    day = _date(text)
    if day > dt.date.today() + dt.timedelta(days=1):
        abort(400, f"the visit date {day} is in the future")
    return day


#: Patient comparisons kept in memory: the most recently used (each holds its visits' analyses).
COMPARISON_CACHE_SIZE = 64


class RecentResults:
    """A thread-safe cache of the ``size`` most recently used results (least recently used dropped),
    so a server running for years over thousands of patients holds a bounded amount of memory."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key, value) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


def create_app(sessions, data_dir: Path, *, model=None, worker: Worker | None = None,
               require_login: bool = False, log=None) -> Flask:
    """The application, on an open database (``sessions``) and a data folder for uploads.

    ``require_login``: every page but the sign-in page needs a signed-in user (``spasmcv serve``
    sets it whenever it listens on another address than this computer). ``log``: called with
    lines of start-up progress (re-analysing an earlier version's results)."""
    data_dir = Path(data_dir)
    (data_dir / "uploads").mkdir(parents=True, exist_ok=True)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=_secret_key(data_dir), MAX_CONTENT_LENGTH=MAX_UPLOAD_BYTES,
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    worker = worker or Worker(sessions, data_dir, model)
    worker.resume_interrupted()
    reanalysed = reanalyse_outdated(sessions, log)   # stored results of an earlier version: the pages would disagree
    comparisons = RecentResults(COMPARISON_CACHE_SIZE)

    # ------------------------------------------------------------------ plumbing
    @app.before_request
    def _open():
        g.db = sessions()
        token = session.get("csrf")
        if not token:
            session["csrf"] = token = secrets.token_urlsafe(32)
        g.csrf = token
        if request.method == "POST":
            sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token")
            if not sent or not secrets.compare_digest(sent, token):
                abort(400, "the form is out of date or did not come from this application (CSRF check); "
                           "reload the page and try again")
        g.user = session.get("user")
        if require_login and g.user is None and request.endpoint not in ("login", "static"):
            if request.method == "GET" and request.endpoint is not None:
                return redirect(url_for("login", next=request.path))
            abort(401, "sign in first")

    @app.teardown_request
    def _close(_exc):
        db = g.pop("db", None)
        if db is not None:
            db.close()

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; media-src 'self'; "
                                    "style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'")
        return response

    @app.context_processor
    def _globals():
        return {"csrf_token": g.get("csrf", ""), "user": g.get("user"), "version": __version__,
                "analysis_version": ANALYSIS_VERSION,
                "DIAGNOSES": DIAGNOSES, "SITES": INJECTION_SITES, "TASKS": list(TASK_NORMS),
                "KIND_COLORS": KIND_COLORS, "KIND_LABELS": KIND_LABELS,
                "review_closures_phrase": review_closures_phrase, "shown_metric": shown_metric}

    def audit(action: str, target: str) -> None:
        g.db.add(AuditEntry(action=action, target=target, user=g.get("user") or "local"))
        g.db.commit()

    def get_or_404(model, key):
        obj = g.db.get(model, key)
        if obj is None:   # e.g. a page left open in another tab after the row was deleted
            kind = {"app_user": "user"}.get(model.__tablename__, model.__tablename__)
            abort(404, f"There is no {kind} {key}: it was deleted (the audit log says when and by whom), "
                       "or never existed.")
        return obj

    # ------------------------------------------------------------------ accounts
    @app.route("/login", methods=["GET", "POST"])
    def login():
        error = None
        if request.method == "POST":
            username = request.form.get("username", "").strip()
            user = g.db.query(User).filter_by(username=username).first()
            if user is not None and check_password(user.password_hash, request.form.get("password", "")):
                session.clear()
                session["user"], session["csrf"] = user.username, secrets.token_urlsafe(32)
                g.user = user.username
                audit("sign-in", f"user {user.username}")
                target = request.args.get("next", "/")
                return redirect(target if target.startswith("/") and not target.startswith("//") else "/")
            error = "unknown user name or wrong password"
        return render_template("login.html", error=error), 401 if error else 200

    @app.post("/logout")
    def logout():
        audit("sign-out", f"user {g.get('user')}")
        session.clear()
        return redirect(url_for("login") if require_login else url_for("index"))

    # ------------------------------------------------------------------ patients
    @app.get("/")
    def index():
        patients = g.db.query(Patient).order_by(Patient.code).all()
        audit("view", "patient list")
        return render_template("index.html", patients=patients, reanalysed=reanalysed)

    def _patient_code(patient_id: int | None = None) -> str:
        """The form's patient code: 1-64 characters, not another patient's (``patient_id``: the one
        being corrected, who keeps his own)."""
        code = request.form.get("code", "").strip()
        if not code or len(code) > 64:
            abort(400, "a patient code of 1-64 characters is needed")
        same = next((other for pid, other in g.db.query(Patient.id, Patient.code)
                     if code_key(other) == code_key(code) and pid != patient_id), None)
        if same:   # P-0007, p-0007 and P0007 would be one person's visits split in two
            abort(400, f"patient code {code!r} exists already" + (f" as {same!r} (codes differing only in case, "
                                                                  "spaces or punctuation are one code)"
                                                                  if same != code else ""))
        return code

    def _diagnosis() -> str:
        diagnosis = request.form.get("diagnosis", "blepharospasm")
        if diagnosis not in DIAGNOSES:
            abort(400, "unknown diagnosis")
        return diagnosis

    @app.post("/patients")
    def create_patient():
        code, diagnosis = _patient_code(), _diagnosis()
        patient = Patient(code=code, diagnosis=diagnosis, name=request.form.get("name", "").strip() or None,
                          notes=request.form.get("notes", ""))
        g.db.add(patient)
        g.db.commit()
        audit("create", f"patient {patient.id}")
        return redirect(url_for("patient_page", patient_id=patient.id))

    @app.get("/patients/<int:patient_id>")
    def patient_page(patient_id: int):
        patient = get_or_404(Patient, patient_id)
        audit("view", f"patient {patient.id}")
        (course, current, cycles, note), reason = patient_comparison(patient)
        rows = visit_rows(patient, course)
        close = close_injections([CompareTreatment(injection_date=t.date) for t in patient.treatments])
        return render_template("patient.html", patient=patient, comparison=current, cycles=cycles, cycle_note=note,
                               no_comparison=reason, rows=rows, today=dt.date.today().isoformat(),
                               close_injections=close)

    @app.post("/patients/<int:patient_id>/edit")
    def edit_patient(patient_id: int):
        """Correct a patient's code, name, diagnosis or notes. The audit entry names what changed;
        it keeps the old and new diagnosis, but not the old code, name or notes, so that a name typed
        into the wrong field can be removed for good."""
        patient = get_or_404(Patient, patient_id)
        new = {"code": _patient_code(patient.id), "diagnosis": _diagnosis(),
               "name": request.form.get("name", "").strip() or None, "notes": request.form.get("notes", "")}
        changed = [key for key, value in new.items() if getattr(patient, key) != value]
        described = [f"diagnosis {patient.diagnosis} -> {new['diagnosis']}" if key == "diagnosis" else f"{key} changed"
                     for key in changed]
        for key in changed:
            setattr(patient, key, new[key])
        g.db.commit()
        if changed:
            audit("change", f"patient {patient.id}: " + "; ".join(described))
        return redirect(url_for("patient_page", patient_id=patient.id))

    @app.post("/patients/<int:patient_id>/delete")
    def delete_patient(patient_id: int):
        """Delete a patient entered by mistake, with every visit, recording, kept video and
        treatment; the patient's code typed again confirms it (audited with the counts)."""
        patient = get_or_404(Patient, patient_id)
        _confirmed()
        if request.form.get("confirm_code", "").strip() != patient.code:
            abort(400, "type the patient's code exactly as shown to confirm the deletion")
        recordings = [r for visit in patient.visits for r in visit.recordings]
        _delete_recording_files(recordings)
        text = (f"patient {patient.id}: {len(patient.visits)} visits, {len(recordings)} recordings "
                + str([(r.id, r.video_sha256, r.status) for r in recordings])
                + f", {len(patient.treatments)} treatments")
        _delete(patient, text)
        return redirect(url_for("index"))

    @app.post("/patients/<int:patient_id>/treatments")
    def create_treatment(patient_id: int):
        patient = get_or_404(Patient, patient_id)
        day, product = _date(request.form.get("date")), request.form.get("product", "").strip()
        doses = []
        for site in INJECTION_SITES:
            for side in SIDES:
                units = _float_or_none(request.form.get(f"units_{site}_{side}"),
                                       f"units, {side} {INJECTION_SITES[site]}", MAX_UNITS_PER_SITE)
                if units:
                    doses.append(Dose(site=site, side=side, units=units))
        if not product and not doses:
            abort(400, "give the product or the units injected")
        if any(t.date == day for t in patient.treatments):
            abort(400, f"a treatment on {day} is recorded already: delete it first to enter it again")
        treatment = Treatment(patient=patient, date=day, product=product, doses=doses,
                              dilution=request.form.get("dilution", "").strip(), notes=request.form.get("notes", ""))
        g.db.add(treatment)
        g.db.commit()
        audit("create", f"treatment {treatment.id} of patient {patient.id}")
        return redirect(url_for("patient_page", patient_id=patient.id))

    @app.post("/patients/<int:patient_id>/visits")
    def create_visit(patient_id: int):
        patient = get_or_404(Patient, patient_id)
        task = request.form.get("task", "rest")
        if task not in TASK_NORMS:
            abort(400, "unknown recording task")
        visit = Visit(patient=patient, date=_visit_date(request.form.get("date")), task=task,
                      jrs_severity=_int_or_none(request.form.get("jrs_severity"), 0, 4, "Jankovic severity"),
                      jrs_frequency=_int_or_none(request.form.get("jrs_frequency"), 0, 4, "Jankovic frequency"),
                      bsdi=_float_or_none(request.form.get("bsdi"), "BSDI", BSDI_MAX),
                      notes=request.form.get("notes", ""))
        g.db.add(visit)
        upload = request.files.get("video")
        if upload is not None and upload.filename:
            add_recording(visit, upload)
        g.db.commit()
        audit("create", f"visit {visit.id} of patient {patient.id}"
              + "".join(f", recording {r.id}" for r in visit.recordings))   # every row the log may name later
        for recording in visit.recordings:
            worker.submit(recording.id)
        return redirect(url_for("visit_page", visit_id=visit.id))

    def add_recording(visit: Visit, upload) -> Recording:
        """Store an uploaded video as a queued recording of ``visit``, with the form's choices: keep
        the video, a mirror image, the guided protocol's settings (JSON)."""
        protocol = request.form.get("protocol") or "{}"
        suffix = Path(upload.filename).suffix.lower()
        if suffix not in VIDEO_SUFFIXES:
            abort(400, f"not a video file type spasmcv reads ({', '.join(sorted(VIDEO_SUFFIXES))})")
        try:
            parsed = json.loads(protocol)
            if not isinstance(parsed, dict):
                raise ValueError("not an object")
            for segment in protocol_segments(parsed):
                if segment["task"] not in TASK_NORMS or not 0 <= segment["start_s"] < segment["end_s"]:
                    raise ValueError("a segment's task or times")
        except (ValueError, TypeError, KeyError, AttributeError):
            abort(400, "the recording protocol is not a valid JSON object (a guided recording's segments each "
                       "need a known task and a duration)")
        if request.form.get("mirrored"):   # measured with the sides swapped back (MeasureSettings.mirrored)
            protocol = json.dumps({**parsed, "mirrored": True})
        name = f"{uuid.uuid4().hex}{suffix}"   # never the uploaded name: no path can be smuggled in
        target = (data_dir / "uploads" / name).resolve()
        if target.parent != (data_dir / "uploads").resolve():
            abort(400, "bad upload")
        upload.save(target)
        recording = Recording(visit=visit, keep_video=bool(request.form.get("keep_video")), video_file=name,
                              protocol=protocol)
        g.db.add(recording)
        return recording

    # ------------------------------------------------------------------ visits and recordings
    @app.get("/visits/<int:visit_id>")
    def visit_page(visit_id: int):
        visit = get_or_404(Visit, visit_id)
        audit("view", f"visit {visit.id}")
        results = {r.id: json.loads(r.analysis_json) for r in visit.recordings if r.analysis_json}
        events = {r.id: _events(r) for r in visit.recordings if r.events_csv}
        strips = {r.id: _event_strip(events[r.id], results[r.id]) for r in visit.recordings if r.id in events}
        protocols = {r.id: r.protocol_data for r in visit.recordings}
        used = used_recording(visit)

        def reading(recording):   # the same file read another way (a mirror image, another part) is no mistake
            return recording.protocol_data.get("mirrored", False), recording.protocol_data.get("part_s")

        same_video = {r.id: [f"{other.visit.date} (recording {other.visit.recordings.index(other) + 1})"
                             for v in visit.patient.visits for other in v.recordings
                             if other is not r and r.video_sha256 and other.video_sha256 == r.video_sha256
                             and reading(other) == reading(r)]
                      for r in visit.recordings}
        affected = HFS_SIDE.get(visit.patient.diagnosis)
        other_side = {rid: other_side_warning([{"visit": "this recording", "one_sided": one_sided(result["metrics"])}],
                                              affected) if affected else ""
                      for rid, result in results.items()}
        return render_template("visit.html", visit=visit, results=results, events=events, protocols=protocols,
                               strips=strips, used_id=used.id if used is not None else None, same_video=same_video,
                               other_side=other_side)

    @app.post("/visits/<int:visit_id>/recordings")
    def upload_recording(visit_id: int):
        visit = get_or_404(Visit, visit_id)
        upload = request.files.get("video")
        if upload is None or not upload.filename:
            abort(400, "no video was sent")
        recording = add_recording(visit, upload)
        g.db.commit()
        audit("create", f"recording {recording.id} of visit {visit.id}")
        worker.submit(recording.id)
        if request.headers.get("Accept") == "application/json":
            return {"recording": recording.id, "visit_url": url_for("visit_page", visit_id=visit.id)}
        return redirect(url_for("visit_page", visit_id=visit.id))

    @app.get("/recordings/<int:recording_id>/status")
    def recording_status(recording_id: int):
        recording = get_or_404(Recording, recording_id)
        return {"status": recording.status, "progress": recording.progress, "error": recording.error}

    @app.post("/recordings/<int:recording_id>/cancel")
    def cancel_recording(recording_id: int):
        recording = get_or_404(Recording, recording_id)
        worker.cancel(recording.id)
        audit("change", f"recording {recording.id}: cancel")
        return redirect(url_for("visit_page", visit_id=recording.visit_id))

    @app.post("/recordings/<int:recording_id>/restart")
    def restart_recording(recording_id: int):
        """Analyse again a recording whose analysis was cancelled or failed, from its kept video."""
        recording = get_or_404(Recording, recording_id)
        if recording.status not in ("cancelled", "failed"):
            abort(400, f"this recording's analysis is {recording.status}, not cancelled or failed")
        if not recording.video_file or not (data_dir / "uploads" / recording.video_file).is_file():
            abort(400, "this recording's video was not kept: upload it again to analyse it")
        recording.status, recording.progress, recording.error = "queued", 0.0, ""
        g.db.commit()
        audit("change", f"recording {recording.id}: analysis started again")
        worker.submit(recording.id)
        return redirect(url_for("visit_page", visit_id=recording.visit_id))

    @app.post("/recordings/<int:recording_id>/reanalyse")
    def reanalyse_recording(recording_id: int):
        recording = get_or_404(Recording, recording_id)
        if recording.trace_csv is None:
            abort(400, "this recording has no stored trace")
        text, _ = reanalyse(g.db, recording)
        audit("change", f"recording {recording.id}: {text}")
        return redirect(url_for("visit_page", visit_id=recording.visit_id))

    @app.post("/recordings/<int:recording_id>/acceptability")
    def set_acceptability(recording_id: int):
        recording = get_or_404(Recording, recording_id)
        recording.unacceptable = request.form.get("unacceptable") == "1"
        recording.unacceptable_reason = request.form.get("reason", "").strip() if recording.unacceptable else ""
        if recording.unacceptable and not recording.unacceptable_reason:
            abort(400, "say why the recording is unacceptable")
        g.db.commit()
        audit("change", f"recording {recording.id}: "
                        + (f"unacceptable ({recording.unacceptable_reason})" if recording.unacceptable else "acceptable"))
        return redirect(url_for("visit_page", visit_id=recording.visit_id))

    @app.post("/visits/<int:visit_id>/edit")
    def edit_visit(visit_id: int):
        """Correct a visit's date, task, ratings or notes (audited with the old and new values); a
        changed task analyses its stored traces again, since the grade is judged against the task."""
        visit = get_or_404(Visit, visit_id)
        task = request.form.get("task", visit.task)
        if task not in TASK_NORMS:
            abort(400, "unknown recording task")
        new = {"date": _visit_date(request.form.get("date")), "task": task,
               "jrs_severity": _int_or_none(request.form.get("jrs_severity"), 0, 4, "Jankovic severity"),
               "jrs_frequency": _int_or_none(request.form.get("jrs_frequency"), 0, 4, "Jankovic frequency"),
               "bsdi": _float_or_none(request.form.get("bsdi"), "BSDI", BSDI_MAX),
               "notes": request.form.get("notes", "")}
        changed = {key: (getattr(visit, key), value) for key, value in new.items() if getattr(visit, key) != value}
        for key, (_, value) in changed.items():
            setattr(visit, key, value)
        regraded = []   # a changed task grades the stored recordings again, against the new task's rates
        if "task" in changed:
            for recording in visit.recordings:
                if recording.status == "done" and recording.trace_csv is not None:
                    regraded.append(f"recording {recording.id} {reanalyse(g.db, recording)[0]}")
        g.db.commit()
        if changed:
            audit("change", f"visit {visit.id}: " + "; ".join([f"{key} {old!s} -> {value!s}"
                                                                for key, (old, value) in changed.items()] + regraded))
        return redirect(url_for("visit_page", visit_id=visit.id))

    def _confirmed() -> None:
        if request.form.get("confirm") != "1":
            abort(400, "tick the box to confirm the deletion")

    def _delete(row, what: str) -> None:
        """Delete ``row`` and write ``what`` was deleted to the audit table."""
        g.db.delete(row)
        g.db.commit()
        audit("delete", what)

    def _delete_recording_files(recordings: list[Recording]) -> None:
        """Remove the kept videos of recordings about to be deleted; none while one is being analysed."""
        if any(r.status in ("queued", "running") for r in recordings):
            abort(400, "a recording is still being analysed: cancel its analysis first")
        for recording in recordings:
            if recording.video_file:
                (data_dir / "uploads" / recording.video_file).unlink(missing_ok=True)

    @app.post("/visits/<int:visit_id>/delete")
    def delete_visit(visit_id: int):
        """Delete a visit entered by mistake, with its recordings and any kept video (audited)."""
        visit = get_or_404(Visit, visit_id)
        _confirmed()
        _delete_recording_files(list(visit.recordings))
        patient_id = visit.patient_id
        text = (f"visit {visit.id} of patient {patient_id}: date {visit.date}, task {visit.task}, Jankovic severity "
                f"{visit.jrs_severity}, frequency {visit.jrs_frequency}, BSDI {visit.bsdi}, notes {visit.notes!r}, "
                f"{len(visit.recordings)} recordings "
                + str([(r.id, r.video_sha256, r.status) for r in visit.recordings]))
        _delete(visit, text)
        return redirect(url_for("patient_page", patient_id=patient_id))

    @app.post("/recordings/<int:recording_id>/delete")
    def delete_recording(recording_id: int):
        """Delete a recording uploaded by mistake (another patient's, the wrong visit's), with its kept video."""
        recording = get_or_404(Recording, recording_id)
        _confirmed()
        _delete_recording_files([recording])
        visit_id = recording.visit_id
        text = (f"recording {recording_id} of visit {visit_id}: video sha256 {recording.video_sha256}, "
                f"status {recording.status}, analysis {recording.analysis_version}")
        _delete(recording, text)
        return redirect(url_for("visit_page", visit_id=visit_id))

    @app.post("/treatments/<int:treatment_id>/delete")
    def delete_treatment(treatment_id: int):
        """Delete a treatment entered by mistake (audited with its date and units)."""
        treatment = get_or_404(Treatment, treatment_id)
        _confirmed()
        patient_id = treatment.patient_id
        text = (f"treatment {treatment.id} of patient {patient_id}: date {treatment.date}, "
                f"product {treatment.product!r}, dilution {treatment.dilution!r}, {treatment.total_units:g} U: "
                + "; ".join(f"{d.side} {d.site} {d.units:g}" for d in treatment.doses))
        _delete(treatment, text)
        return redirect(url_for("patient_page", patient_id=patient_id))

    @app.get("/recordings/<int:recording_id>/video")
    def recording_video(recording_id: int):
        recording = get_or_404(Recording, recording_id)
        if not recording.video_file:
            abort(404)
        audit("view", f"recording {recording.id}: video")
        return send_file(data_dir / "uploads" / recording.video_file, conditional=True)

    @app.get("/recordings/<int:recording_id>/trace.csv.gz")
    def recording_trace(recording_id: int):
        recording = get_or_404(Recording, recording_id)
        if recording.trace_csv is None:
            abort(404)
        audit("view", f"recording {recording.id}: trace")
        return Response(recording.trace_csv, mimetype="application/gzip",
                        headers=attachment(f"recording-{recording.id}.trace.csv.gz"))

    # ------------------------------------------------------------------ comparison, report, export
    def usable_recordings(patient: Patient) -> list[tuple[Visit, Recording]]:
        """Each visit with the recording its course uses (:func:`used_recording`), visits without one left out."""
        out = []
        for visit in patient.visits:
            used = used_recording(visit)
            if used is not None:
                out.append((visit, used))
        return out

    def clinician_ratings(patient: Patient) -> list[tuple]:
        """(visit day, the clinician's Jankovic frequency rating) of the visits on the course plot."""
        return [(v.date, v.jrs_frequency) for v, _ in usable_recordings(patient) if v.jrs_frequency is not None]

    def patient_comparison(patient: Patient):
        """``(course, current, cycles, note), reason``: the course (compare_visits over every
        analysed, acceptable visit: the plot and the visits table), the comparison the verdict and
        the report give (the current treatment cycle, :func:`spasmcv.clinic.cycles.current_cycle`,
        whose note, if any, is also the first of its warnings) and the treatment cycles; cached per
        content."""
        from spasmcv.clinic.compare import Visit as CompareVisit
        from spasmcv.clinic.compare import compare_visits
        from spasmcv.clinic.cycles import current_cycle, treatment_cycles

        pairs = usable_recordings(patient)
        if not pairs:
            return (None, None, [], ""), "no analysed recording yet"
        treatments = [CompareTreatment(injection_date=t.date, product=t.product or None,
                                       dose_units=t.total_units or None) for t in patient.treatments]
        # by content, not only ids: a database may give a deleted visit's or recording's id to a new one
        key = (patient.id, patient.diagnosis,
               tuple((v.id, r.id, r.analysis_version, v.date, v.task,
                      hashlib.sha256((r.analysis_json or "").encode("utf-8")).hexdigest()) for v, r in pairs),
               tuple((t.injection_date, t.product, t.dose_units) for t in treatments))
        cached = comparisons.get(key)
        if cached is not None:
            return cached, None
        visits = [CompareVisit.from_trace(f"{v.date.isoformat()}", graded_part(r, stored_trace(r), v.task),
                                          date=v.date, task=v.task) for v, r in pairs]
        labels = [v.label for v in visits]
        if len(set(labels)) != len(labels):  # two visits on one day: numbered within the day, in entry order
            visits = [CompareVisit(label=f"{v.label} #{labels[:k].count(v.label) + 1}", trace=v.trace,
                                   analysis=v.analysis, date=v.date) if labels.count(v.label) > 1 else v
                      for k, v in enumerate(visits)]
        course = compare_visits(visits)
        cycle_visits, treatment, note = current_cycle(visits, treatments)
        # the same visits again: their replicates are drawn once, for the course
        current = compare_visits(cycle_visits, treatment=treatment, replicates=course.replicates)
        affected = HFS_SIDE.get(patient.diagnosis)
        other_side = other_side_warning(course.asymmetry, affected) if affected else ""
        for text in (other_side, note):   # first in the verdict, so that the report's first screen says them too
            if text:
                current = dataclasses.replace(current, verdict=f"Note: {text}.\n{current.verdict}",
                                              warnings=[text, *current.warnings])
        cycles = treatment_cycles(visits, treatments, replicates=course.replicates)
        comparisons.put(key, (course, current, cycles, note))
        return (course, current, cycles, note), None

    def visit_rows(patient: Patient, comparison) -> list[dict]:
        summary = {}
        if comparison is not None:
            for visit, entry in zip((v for v, _ in usable_recordings(patient)), comparison.summary):
                summary[visit.id] = entry
        rows = []
        for visit in patient.visits:
            entry = summary.get(visit.id)
            used = used_recording(visit) if len(visit.recordings) > 1 else None
            rows.append({"visit": visit, "entry": entry,
                         "status": ", ".join(r.status + (f" ({r.error})" if r.status == "failed" and r.error else "")
                                             + (" (unacceptable)" if r.unacceptable else "")
                                             + (" (used)" if r is used else "")
                                             for r in visit.recordings) or "no recording"})
        return rows

    @app.get("/patients/<int:patient_id>/timeline.png")
    def timeline_png(patient_id: int):
        from spasmcv.clinic import plotting

        patient = get_or_404(Patient, patient_id)
        (comparison, _, _, _), _ = patient_comparison(patient)
        if comparison is None:
            abort(404)
        fig, ax = plotting.subplots(width_in=7.5, height_in=3.0)
        plotting.plot_course(comparison.summary, ax=ax, ratings=clinician_ratings(patient),
                             injections=[(t.date, t.total_units) for t in patient.treatments])
        return Response(plotting.to_png(fig), mimetype="image/png")

    @app.get("/patients/<int:patient_id>/report.html")
    def patient_report(patient_id: int):
        from spasmcv.clinic.report import render_report

        patient = get_or_404(Patient, patient_id)
        (course, comparison, cycles, _), reason = patient_comparison(patient)
        if comparison is None:
            abort(404, reason)
        audit("view", f"patient {patient.id}: report")
        diagnosis = DIAGNOSES[patient.diagnosis] if patient.diagnosis != "other" else "Eyelid spasm"
        text = render_report(comparison, patient_id=patient.code, diagnosis=diagnosis, cycles=cycles, course=course,
                             ratings=clinician_ratings(patient))
        return Response(text, mimetype="text/html",
                        headers=attachment(f"{patient.code}.report.html"))

    def export_rows() -> list[dict]:
        from types import SimpleNamespace

        from spasmcv.study.result import recording_row

        rows = []
        for patient in g.db.query(Patient).order_by(Patient.code):
            for visit in patient.visits:
                # a visit on an injection's day is filmed before injecting (as in the treatment cycles)
                before = [t for t in patient.treatments if t.date < visit.date]
                last = before[-1] if before else None
                base = {"patient": patient.code, "diagnosis": patient.diagnosis, "visit_date": visit.date.isoformat(),
                        "task": visit.task, "clinician_jrs_severity": visit.jrs_severity,
                        "clinician_jrs_frequency": visit.jrs_frequency, "bsdi": visit.bsdi,
                        "last_injection_date": last.date.isoformat() if last else None,
                        "days_since_last_injection": (visit.date - last.date).days if last else None,
                        "last_injection_product": last.product if last else None,
                        "last_injection_units": last.total_units if last else None}
                for site in INJECTION_SITES:   # every site's column, whatever was injected
                    for side in SIDES:
                        base[f"last_injection_units_{side}_{site}"] = (
                            float(sum(d.units for d in last.doses if d.site == site and d.side == side)) if last
                            else None)
                used = used_recording(visit)
                for recording in visit.recordings:
                    row = dict(base, recording=recording.id, status=recording.status, error=recording.error or None,
                               unacceptable=recording.unacceptable,
                               unacceptable_reason=recording.unacceptable_reason or None,
                               used_for_course=recording is used, analysis_version=recording.analysis_version,
                               mirrored=bool(recording.protocol_data.get("mirrored")),
                               graded_start_s=None, graded_end_s=None)
                    if recording.analysis_json and recording.trace_csv:
                        # the batch tables' own row builder: the same columns as recordings.csv
                        analysis = SimpleNamespace(recording=json.loads(recording.analysis_json))
                        row.update(recording_row(analysis, stored_trace(recording)))
                        for part in analysis.recording.get("guided_segments", []):   # graded on one segment
                            if part["for_visit"]:
                                row.update(graded_start_s=part["start_s"], graded_end_s=part["end_s"])
                        row.update(spasmcv_version=recording.spasmcv_version,
                                   mirrored=bool(recording.protocol_data.get("mirrored")),   # the clinic's record
                                   analysis_version=recording.analysis_version,
                                   formula_version=analysis.recording["severity"]["formula_version"])
                    rows.append(row)
                if not visit.recordings:   # the clinician's ratings are kept without a video
                    rows.append(dict(base, recording=None, status="no recording", used_for_course=False))
        audit("view", "export")
        return rows

    @app.get("/export.csv")
    def export_csv():
        from spasmcv._tables import csv_text

        rows = export_rows()
        columns = list(dict.fromkeys(k for row in rows for k in row))
        return Response(csv_text(rows, columns, float_format=".4f"), mimetype="text/csv",
                        headers=attachment("spasmcv-clinic-export.csv"))

    @app.get("/export.parquet")
    def export_parquet():
        import io

        import pyarrow as pa
        import pyarrow.parquet as pq

        rows = export_rows()
        columns = list(dict.fromkeys(k for row in rows for k in row))
        table = pa.Table.from_pylist([{c: row.get(c) for c in columns} for row in rows])
        buffer = io.BytesIO()
        pq.write_table(table, buffer)
        return Response(buffer.getvalue(), mimetype="application/vnd.apache.parquet",
                        headers=attachment("spasmcv-clinic-export.parquet"))

    @app.errorhandler(400)
    @app.errorhandler(401)
    @app.errorhandler(404)
    @app.errorhandler(413)
    def _error(exc):
        return render_template("error.html", error=exc), exc.code

    return app


def used_recording(visit: Visit) -> Recording | None:
    """The recording a visit's grade comes from: among its analysed, acceptable recordings the
    latest gradable one, else the latest one (not gradable: the visit says so); None without any.
    A second recording that could not be graded (the patient out of the picture) does not hide a
    gradable one."""
    done = [r for r in visit.recordings if r.status == "done" and not r.unacceptable and r.trace_csv]
    gradable = [r for r in done if r.analysis_json and json.loads(r.analysis_json).get("severity", {}).get("gradable")]
    return (gradable or done or [None])[-1]


def _event_strip(events: list[dict], recording: dict) -> dict:
    """Rectangles of an SVG event timeline (one row per eye, the report's colours), in percent of
    the time analysed (the recording, or the part graded: from ``start``, s), drawn within it (a
    closure listed in the part may begin before it or end after it); each carries its onset for
    seeking the video."""
    duration = float(recording["metrics"]["quality"]["duration_s"]) or 1.0
    start = float((recording["provenance"].get("time_window_s") or [0.0])[0])
    boxes = []
    for e in events:
        if e["display"] == "partial":
            continue
        onset, offset = float(e["onset_s"]), float(e["offset_s"])
        left, right = (min(max(100 * (t - start) / duration, 0.0), 100.0) for t in (onset, offset))
        left = min(left, 99.7)
        boxes.append({"x": left, "w": max(right - left, 0.3),
                      "y": 0 if e["eye"] == "right" else 50, "color": KIND_COLORS[e["display"]],
                      "onset": onset, "title": f"{e['eye']} eye, {e['display']}, {onset:.2f} s, {offset - onset:.2f} s"})
    return {"boxes": boxes, "duration": duration, "start": start}


def _events(recording: Recording) -> list[dict]:
    """The recording's event rows, each with its ``display`` kind (events.display_kind: the one
    rule for what a picture calls an event)."""
    import csv
    import io
    from types import SimpleNamespace

    rows = list(csv.DictReader(io.StringIO(recording.events_csv)))
    for row in rows:
        row["display"] = display_kind(SimpleNamespace(kind=row["kind"], flutter_burst=row["flutter_burst"] or None))
    return rows


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(*, host: str = "127.0.0.1", port: int = 8765, data_dir: Path | None = None, database_url: str | None = None,
          model=None) -> None:
    """Run the application (waitress, a production WSGI server) until interrupted.

    On another address than this computer's own, sign-in is required and at least one account
    must exist (``spasmcv serve --add-user NAME``)."""
    from waitress import serve as waitress_serve

    from spasmcv.app.db import default_database_url, open_database
    from spasmcv.errors import SpasmcvError
    from spasmcv.measure.model import resolve_model

    data_dir = Path(data_dir or default_data_dir())
    for warning in private_data_dir(data_dir):
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    sessions = open_database(database_url or default_database_url(data_dir))
    require_login = host not in LOOPBACK
    if require_login:
        with sessions() as session:
            if session.query(User).count() == 0:
                raise SpasmcvError(f"listening on {host} (beyond this computer) needs user accounts and sign-in: "
                                   "add one first with 'spasmcv serve --add-user NAME'")
    app = create_app(sessions, data_dir, model=model if model is not None else resolve_model(None),
                     require_login=require_login, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"spasmcv clinic on http://{host}:{port}/  (data: {data_dir}; "
          f"{'sign-in required; ' if require_login else ''}stop with Ctrl-C)", flush=True)
    waitress_serve(app, host=host, port=port, threads=4)


#: What the clinic keeps in its data folder (patients' names and notes, the session key).
PRIVATE_FILES = ("clinic.sqlite3", "clinic.sqlite3-wal", "clinic.sqlite3-shm", "clinic.sqlite3-journal", "secret.key")


def private_data_dir(data_dir: Path) -> list[str]:
    """Keep the clinic's data to the user running it: from now on this process creates files
    readable by its user only (umask 077); the data folder, when made here, is 0700; the
    database, the key, the uploaded videos (0600) and their folder (0700) are made so if they are
    not. Returns a warning when the data folder itself can be read by others (a folder the user
    chose: left as it is). Patient names and face videos used to be readable by every account on
    a shared computer."""
    os.umask(0o077)
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    uploads = data_dir / "uploads"
    kept = [*(data_dir / name for name in PRIVATE_FILES), uploads, *(uploads.iterdir() if uploads.is_dir() else ())]
    for path in kept:
        try:
            if path.stat().st_mode & 0o077:
                path.chmod(0o700 if path.is_dir() else 0o600)
        except OSError:   # absent, or another user's: nothing this process may change
            continue
    mode = data_dir.stat().st_mode & 0o777
    if mode & 0o077:
        return [f"the data folder {data_dir} can be read by other users of this computer (mode {mode:o}); "
                f"'chmod 700 {data_dir}' keeps the patients' data to you"]
    return []


def default_data_dir() -> Path:
    """The user's data folder: $SPASMCV_DATA_DIR, else the platform's usual place."""
    if os.environ.get("SPASMCV_DATA_DIR"):
        return Path(os.environ["SPASMCV_DATA_DIR"]).expanduser()
    if os.name == "nt" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "spasmcv"
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "spasmcv"
