"""The clinic application without a browser: schema migrations, CSRF, uploads, escaping, export."""

import csv
import datetime as dt
import io
import json
import re

import pytest

pytest.importorskip("flask")
pytest.importorskip("sqlalchemy")

from spasmcv.app.db import (INJECTION_SITES, AuditEntry, Patient, Recording, Visit, add_user, open_database,  # noqa: E402
                            upgrade)
from web_helpers import new_patient, token  # noqa: E402
from doc_names import undefined_columns  # noqa: E402
from conftest import REPO  # noqa: E402
from spasmcv.app.web import RecentResults, create_app  # noqa: E402


class NoWorker:
    """Stands in for the analysis thread where a test only looks at the pages (no analysis runs)."""

    def __init__(self):
        self.submitted = []

    def submit(self, recording_id):
        self.submitted.append(recording_id)

    def cancel(self, recording_id):
        pass

    def resume_interrupted(self):
        pass


@pytest.fixture
def client(tmp_path, database_url):
    sessions = open_database(database_url)
    app = create_app(sessions, tmp_path, worker=NoWorker())
    app.config["TESTING"] = True
    yield app.test_client(), tmp_path, sessions
    sessions.kw["bind"].dispose()



def test_an_old_database_is_upgraded_and_keeps_its_data(database_url):
    import sqlalchemy as sa

    upgrade(database_url, "0001")  # the first release's schema, without user accounts
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("INSERT INTO patient (code, diagnosis, notes, created_at) "
                                   "VALUES ('P-1', 'blepharospasm', '', '2026-01-01 10:00:00')"))
        assert "app_user" not in sa.inspect(connection).get_table_names()
    engine.dispose()
    sessions = open_database(database_url)  # upgraded to the current schema: data kept, accounts added
    with sessions() as s:
        assert [p.code for p in s.query(Patient)] == ["P-1"]
    add_user(sessions, "dr.a", "a long enough password")
    sessions.kw["bind"].dispose()


def test_a_deleted_rows_id_is_never_given_to_a_new_one(database_url):
    """The audit log names rows by id: SQLite gave a deleted patient's id to the next patient, so
    'delete patient 3' came to name another. Upgrading keeps every row (nothing cascades while
    the tables are rebuilt) and starts each counter above the ids the audit log names."""
    import sqlalchemy as sa

    upgrade(database_url, "0002")
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        for pid in (1, 2, 3):   # ids 1, 2, 3 as the database gives them
            connection.execute(sa.text("INSERT INTO patient (code, diagnosis, notes, created_at) "
                                       f"VALUES ('P-{pid}', 'blepharospasm', '', '2026-01-01 10:00:00')"))
        connection.execute(sa.text("INSERT INTO visit (patient_id, date, task, notes) "
                                   "VALUES (2, '2026-01-05', 'rest', 'kept')"))
        connection.execute(sa.text("DELETE FROM patient WHERE id = 3"))   # before the upgrade: its id is lost
        connection.execute(sa.text("INSERT INTO audit (at, \"user\", action, target) "
                                   "VALUES ('2026-01-06 10:00:00', 'local', 'delete', 'patient 3 (P-3)')"))
        # a deleted visit names its recordings only in a list (a recording uploaded with its visit had
        # no audit entry of its own before 0003)
        deleted_visit = ("visit 5 of patient 1: date 2026-01-04, task rest, Jankovic severity None, frequency None, "
                         "BSDI None, notes '', 2 recordings [(6, 'ab12', 'done'), (7, None, 'failed')]")
        connection.execute(sa.text("INSERT INTO audit (at, \"user\", action, target) "
                                   "VALUES ('2026-01-06 11:00:00', 'local', 'delete', :t)"), {"t": deleted_visit})
    engine.dispose()
    sessions = open_database(database_url)
    with sessions() as s:
        assert [(p.id, p.code) for p in s.query(Patient).order_by(Patient.id)] == [(1, "P-1"), (2, "P-2")]
        assert [v.notes for v in s.get(Patient, 2).visits] == ["kept"]
        s.add(Patient(code="P-4", diagnosis="blepharospasm"))
        s.commit()
        fourth = s.query(Patient).filter_by(code="P-4").one()
        assert fourth.id == 4   # not 3, which the audit log names
        s.delete(fourth)
        s.commit()
        s.add(Patient(code="P-5", diagnosis="blepharospasm"))
        s.commit()
        assert s.query(Patient).filter_by(code="P-5").one().id == 5
        if database_url.startswith("sqlite"):   # the deleted visit's entry was written for SQLite's counters
            visit = Visit(patient_id=1, date=dt.date(2026, 1, 8), task="rest")
            s.add(visit)
            s.commit()
            assert visit.id == 6   # above the deleted visit 5
            recording = Recording(visit_id=visit.id)
            s.add(recording)
            s.commit()
            assert recording.id == 8   # above the deleted visit's recordings 6 and 7
    sessions.kw["bind"].dispose()


def test_a_post_without_the_csrf_token_is_rejected(client):
    c, _, sessions = client
    assert c.post("/patients", data={"code": "P-1"}).status_code == 400
    with sessions() as s:
        assert s.query(Patient).count() == 0
    assert c.post("/patients", data={"code": "P-1", "csrf_token": "forged"}).status_code == 400
    ok = c.post("/patients", data={"code": "P-1", "diagnosis": "blepharospasm", "csrf_token": token(c)})
    assert ok.status_code == 302


def test_user_text_is_shown_as_text(client):
    c, _, _ = client
    evil = "<script>alert('x')</script><b>bold</b>"
    response = c.post("/patients", data={"code": "P-2", "name": evil, "csrf_token": token(c)}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "<b>bold</b>" not in page


def test_an_upload_name_never_becomes_a_path(client):
    c, data_dir, sessions = client
    pid = new_patient(c, sessions, "P-3")
    t = token(c, f"/patients/{pid}")
    response = c.post(f"/patients/{pid}/visits", data={
        "csrf_token": t, "date": "2026-01-10", "task": "rest",
        "video": (io.BytesIO(b"not really a video"), "../../../escaped.mp4")}, content_type="multipart/form-data")
    assert response.status_code == 302
    assert not (data_dir.parent / "escaped.mp4").exists() and not list(data_dir.rglob("escaped*"))
    stored = list((data_dir / "uploads").iterdir())
    assert len(stored) == 1 and re.fullmatch(r"[0-9a-f]{32}\.mp4", stored[0].name)
    bad = c.post(f"/patients/{pid}/visits", data={
        "csrf_token": t, "date": "2026-01-11", "task": "rest",
        "video": (io.BytesIO(b"#!/bin/sh"), "run.sh")}, content_type="multipart/form-data")
    assert bad.status_code == 400 and "not a video file type" in bad.get_data(as_text=True)


def test_bad_form_values_are_messages_not_tracebacks(client):
    c, _, sessions = client
    pid = new_patient(c, sessions, "P-4")
    t = token(c, f"/patients/{pid}")
    for data in ({"date": "10/01/2026"}, {"date": "2026-01-10", "jrs_severity": "7"},
                 {"date": "2026-01-10", "task": "sleeping"}):
        response = c.post(f"/patients/{pid}/visits", data={"csrf_token": t, "task": "rest", **data})
        assert response.status_code == 400, data
    response = c.post(f"/patients/{pid}/visits", data={"csrf_token": t, "date": "2026-01-10", "jrs_severity": "7"})
    assert "Jankovic severity: expected a whole number 0-4, not 7" in response.get_data(as_text=True)
    response = c.post(f"/patients/{pid}/visits", data={"csrf_token": t, "date": "2026-01-10", "bsdi": "500"})
    assert "BSDI: expected a number from 0 to 24, not 500" in response.get_data(as_text=True)
    response = c.post(f"/patients/{pid}/visits", data={"csrf_token": t, "date": "2099-01-01"})
    assert response.status_code == 400
    assert "the visit date 2099-01-01 is in the future" in response.get_data(as_text=True)
    assert c.get("/patients/999").status_code == 404
    # a slip of the keyboard in a dose, a second entry of one day's treatment, an empty one, a code
    # that differs only in case: each refused with the field or the reason named, nothing stored
    for data, message in (({"units_brow_left": "1000000"}, "units, left brow (corrugator/procerus): expected a "
                                                           "number from 0 to 200, not 1000000"),
                          ({"product": ""}, "give the product or the units injected")):
        response = c.post(f"/patients/{pid}/treatments",
                          data={"csrf_token": t, "date": "2026-01-12", "product": "x", **data})
        assert response.status_code == 400 and message in response.get_data(as_text=True), data
    ok = {"csrf_token": t, "date": "2026-01-12", "product": "onabotulinumtoxinA", "units_brow_left": "2.5"}
    assert c.post(f"/patients/{pid}/treatments", data=ok).status_code == 302
    again = c.post(f"/patients/{pid}/treatments", data=ok)
    assert again.status_code == 400 and "a treatment on 2026-01-12 is recorded already" in again.get_data(as_text=True)
    for code in ("p-4", "P4", "p 4", "Ｐ-４"):   # the last in full-width letters
        response = c.post("/patients", data={"code": code, "csrf_token": t})
        assert response.status_code == 400 and "exists already as &#39;P-4&#39;" in response.get_data(as_text=True)
    assert c.post("/patients", data={"code": "P-40", "csrf_token": t}).status_code == 302
    # a second injection nine days later is pointed out (one treatment entered twice, or a touch-up)
    assert "close-injections" not in c.get(f"/patients/{pid}").get_data(as_text=True)
    assert c.post(f"/patients/{pid}/treatments", data={**ok, "date": "2026-01-21"}).status_code == 302
    page = c.get(f"/patients/{pid}").get_data(as_text=True)
    assert page.count("close-injections") == 1 and "Injections on 2026-01-12 and 2026-01-21, 9 days apart" in page
    from spasmcv.app.db import Patient, Treatment
    with sessions() as s:
        assert s.query(Treatment).count() == 2 and s.query(Patient).count() == 2


def test_serve_refuses_other_addresses_until_accounts_exist(tmp_path):
    from spasmcv.app.web import serve
    from spasmcv.errors import SpasmcvError

    with pytest.raises(SpasmcvError, match="needs user accounts"):
        serve(host="0.0.0.0", data_dir=tmp_path, model=object())


def test_beyond_this_computer_nothing_is_shown_without_signing_in(tmp_path, database_url):
    sessions = open_database(database_url)
    add_user(sessions, "dr.a", "correct horse battery")
    app = create_app(sessions, tmp_path, worker=NoWorker(), require_login=True)
    c = app.test_client()
    for url in ("/", "/patients/1", "/export.csv", "/recordings/1/video"):
        response = c.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url
    assert c.post("/patients", data={"code": "X"}).status_code == 400  # no CSRF token yet: refused
    t = token(c, "/login")
    assert c.post("/patients", data={"code": "X", "csrf_token": t}).status_code == 401
    wrong = c.post("/login", data={"username": "dr.a", "password": "wrong password!", "csrf_token": t})
    assert wrong.status_code == 401 and "wrong password" in wrong.get_data(as_text=True)
    right = c.post("/login", data={"username": "dr.a", "password": "correct horse battery", "csrf_token": t})
    assert right.status_code == 302
    assert c.get("/").status_code == 200
    assert c.post("/patients", data={"code": "P-9", "csrf_token": token(c)}).status_code == 302
    with sessions() as s:
        assert {(a.user, a.action) for a in s.query(AuditEntry)} >= {("dr.a", "sign-in"), ("dr.a", "create")}
        from spasmcv.app.db import User

        assert s.query(User).one().password_hash.startswith("$argon2id$")  # never the password itself
    sessions.kw["bind"].dispose()


def test_an_upload_over_the_size_limit_is_refused_before_it_is_stored(client):
    c, data_dir, sessions = client
    pid = new_patient(c, sessions, "P-6")
    t = token(c, f"/patients/{pid}")
    c.application.config["MAX_CONTENT_LENGTH"] = 10_000  # the real limit is 2 GB
    response = c.post(f"/patients/{pid}/visits", data={
        "csrf_token": t, "date": "2026-01-10", "task": "rest",
        "video": (io.BytesIO(b"\0" * 50_000), "big.mp4")}, content_type="multipart/form-data")
    assert response.status_code == 413
    assert list((data_dir / "uploads").iterdir()) == []


def test_the_comparison_cache_keeps_only_the_most_recently_used():
    cache = RecentResults(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1          # "a" is now the most recent
    cache.put("c", 3)                   # so "b" goes
    assert (cache.get("a"), cache.get("b"), cache.get("c"), len(cache)) == (1, None, 3, 2)


def test_a_grade_that_closures_to_check_could_raise_is_shown_with_that_grade(client, real_trace):
    """Real video (Talking Face, 200 s of a healthy man talking): graded 0, but its two long
    closures that may be a lowered gaze (review) would make it grade 3; the visit page and the
    patient's table both say so beside the grade."""
    import datetime as dt

    from spasmcv.app.db import Recording, Visit
    from spasmcv.app.jobs import store_analysis
    from spasmcv.measure.trace import trace_bytes

    c, data_dir, sessions = client
    pid = new_patient(c, sessions, "P-11")
    trace = real_trace("talkingface/franck.webm")
    with sessions() as s:
        visit = Visit(patient_id=pid, date=dt.date(2026, 3, 1), task="conversation")
        s.add(visit)
        s.flush()
        recording = Recording(visit_id=visit.id, status="done", trace_csv=trace_bytes(trace, compress=True))
        store_analysis(recording, trace, "conversation")
        s.add(recording)
        s.commit()
        visit_id = visit.id
    page = c.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert "grade 3 if the 2 closures listed for review are closures: check them in the video" in page
    patient_page = c.get(f"/patients/{pid}").get_data(as_text=True)
    assert "(3 if the 2 closures to check are closures)" in patient_page
    # the comparison's warnings are on the patient's page, as in the report, not only on the visit's
    notes = patient_page[patient_page.index('id="comparison-warnings"'):]
    assert "could not be told from a lowered gaze" in notes[:notes.index("</div>")]
    export = c.get("/export.csv").get_data(as_text=True).splitlines()
    row = dict(zip(export[0].split(","), export[1].split(",")))
    assert (row["jankovic_frequency_grade"], row["jankovic_frequency_grade_if_review_closed"]) == ("0", "3")
    # every column is named in docs/clinic.md, or is the batch table's and named as docs/batch.md says
    sides_sites = {f"last_injection_units_{side}_{site}" for side in ("left", "right") for site in INJECTION_SITES}
    assert "`last_injection_units_SIDE_SITE`" in (REPO / "docs" / "clinic.md").read_text()
    assert [c for c in undefined_columns(export[0].split(","), "clinic.md") if c not in sides_sites] == []

    # a result stored before analysis-16 does not say: its visit page and the export still work, with
    # no upper grade; the patient's comparison analyses the stored trace again, so it does say
    with sessions() as s:
        stored = s.get(Recording, recording.id)
        old = json.loads(stored.analysis_json)
        del old["severity"]["if_review_closed"]
        stored.analysis_json, stored.analysis_version = json.dumps(old), "analysis-15"
        s.commit()
    assert "listed for review are" not in c.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert "(3 if the 2 closures to check are closures)" in c.get(f"/patients/{pid}").get_data(as_text=True)
    export = c.get("/export.csv").get_data(as_text=True).splitlines()
    row = dict(zip(export[0].split(","), export[1].split(",")))
    assert (row["jankovic_frequency_grade"], row["jankovic_frequency_grade_if_review_closed"]) == ("0", "")

    # the application started again: results of an earlier version are analysed again from the stored
    # trace, so that the visit page and the export agree with the patient page; audited, and said
    from spasmcv.analysis.analyze import ANALYSIS_VERSION

    with sessions() as s:   # and one whose stored trace cannot be read: kept as it was, said, not a failed start
        broken = Recording(visit_id=visit_id, status="done", trace_csv=b"not a trace", analysis_version="analysis-15",
                           analysis_json=s.get(Recording, recording.id).analysis_json)
        s.add(broken)
        s.commit()
        broken_id = broken.id
    progress = []
    restarted = create_app(sessions, data_dir, worker=NoWorker(), log=progress.append)
    restarted.config["TESTING"] = True
    assert progress[-1] == "analysed again: 1; grade changed: 0 (each in the audit log)"
    assert any(line.startswith(f"  recording {broken_id} kept as it was (TraceError") for line in progress)
    with sessions() as s:
        assert s.get(Recording, broken_id).analysis_version == "analysis-15"
        s.delete(s.get(Recording, broken_id))
        s.commit()
    with sessions() as s:
        assert s.get(Recording, recording.id).analysis_version == ANALYSIS_VERSION
        entries = [a.target for a in s.query(AuditEntry).filter_by(user="spasmcv")]
    assert entries == [f"recording {recording.id}: re-analysed with {ANALYSIS_VERSION} (was analysis-15; "
                       "grade 0 -> 0) at start-up"]
    again = restarted.test_client()
    assert "listed for review are" in again.get(f"/visits/{visit_id}").get_data(as_text=True)
    notice = again.get("/").get_data(as_text=True)
    assert "1 recording(s)\nanalysed by an earlier version were analysed again" in notice
    assert "the grade changed\nfor 0 of them" in notice
    progress.clear()
    create_app(sessions, data_dir, worker=NoWorker(), log=progress.append)   # nothing outdated any more
    with sessions() as s:
        assert s.query(AuditEntry).filter_by(user="spasmcv").count() == 1
    assert progress == []   # nothing redone, nothing said


def _stored(s, visit, trace, *, sha=None):
    """A done recording of ``visit`` holding ``trace`` and its analysis (no video, no worker)."""
    from spasmcv.app.db import Recording
    from spasmcv.app.jobs import store_analysis
    from spasmcv.measure.trace import trace_bytes

    recording = Recording(visit=visit, status="done", trace_csv=trace_bytes(trace, compress=True), video_sha256=sha)
    store_analysis(recording, trace, visit.task)
    s.add(recording)
    return recording


def _spasm_trace(rid: str, spasms: int, seed: int, *, face: bool = True):
    """60 s of 19 blinks and ``spasms`` closures of 3 s (grade 3 from one a minute), or no face at all."""
    import numpy as np

    from helpers import T, profile, recording_trace

    closure = sum(profile(T, t0, 0.08, 0.03, 0.15) for t0 in np.arange(1, 59, 3.1))
    for k in range(spasms):
        closure = closure + profile(T, 4.5 + 55 * k / spasms, 0.1, 3, 0.2)
    return recording_trace(np.clip(closure, 0, 1), rid, seed=seed, face=face)


def test_the_patient_page_judges_the_latest_injection_and_the_visits_keep_their_gradable_recording(client):
    """Two injections: the verdict and the report are the second injection's cycle (its baseline the
    visit the day before it), never 'weeks after' a later injection; a second recording that cannot
    be graded does not replace a gradable one; the same video under two visits is pointed out; the
    export keeps a visit without a recording, names the recording used and every dose column."""
    import datetime as dt

    from spasmcv.app.db import Dose, Treatment, Visit

    c, _, sessions = client
    pid = new_patient(c, sessions, "P-21")
    with sessions() as s:
        for day, units in ((dt.date(2026, 1, 12), 25), (dt.date(2026, 4, 14), 30)):
            s.add(Treatment(patient_id=pid, date=day, product="onabotulinumtoxinA",
                            doses=[Dose(site="upper_pretarsal", side="right", units=units)]))
        visits = {}
        for k, (day, spasms) in enumerate(((dt.date(2026, 1, 10), 6), (dt.date(2026, 2, 9), 0),
                                           (dt.date(2026, 4, 13), 6), (dt.date(2026, 5, 4), 0))):
            visits[day] = Visit(patient_id=pid, date=day, task="rest", jrs_frequency=3 if spasms else 1)
            s.add(visits[day])
            _stored(s, visits[day], _spasm_trace(f"r{k}", spasms, k), sha=f"{k:064x}")
        late = visits[dt.date(2026, 5, 4)]
        _stored(s, late, _spasm_trace("noface", 0, 9, face=False))           # the patient out of the picture
        _stored(s, visits[dt.date(2026, 2, 9)], _spasm_trace("r0", 6, 0), sha=f"{0:064x}")   # January's file again
        s.add(Visit(patient_id=pid, date=dt.date(2026, 6, 1), task="rest", jrs_frequency=2))   # no video yet
        s.commit()
        late_id, feb_id = late.id, visits[dt.date(2026, 2, 9)].id

    page = c.get(f"/patients/{pid}").get_data(as_text=True)
    verdict = re.search(r'id="verdict">([^<]*)<', page).group(1)
    assert "Severity fell from grade 3 to grade 0 after the injection" in verdict
    assert "2026-05-04 (2.9 weeks after the injection" in verdict and "before the injection" not in verdict
    assert "2026-02-09" not in verdict and "could not be graded" not in verdict
    assert "The injection of 2026-04-14 against its baseline, 2026-04-13, to 2026-05-04" in page
    report = c.get(f"/patients/{pid}/report.html").get_data(as_text=True)
    assert "injected 2026-04-14" in report and report.count(" before<") == 1 and "1 day before<" in report
    # the report's verdict is the latest cycle; every cycle is in it too, with the whole course
    cycles = report[report.index("<h2>Every treatment cycle</h2>"):report.index("<h2>Measurements")]
    assert "the latest cycle (the injection of 2026-04-14)" in cycles and "id='course-plot'" in cycles
    assert "diamonds: the clinician's frequency rating" in cycles
    assert "Injection 2026-01-12: best response at" in cycles and "no clear benefit" in cycles
    assert "Injection 2026-04-14: best response at 2026-05-04" in cycles
    assert "the benefit was still present at the last visit, 2026-05-04" in cycles
    visit_page = c.get(f"/visits/{late_id}").get_data(as_text=True)
    assert visit_page.count("the visit's grade and course use this one") == 1
    assert visit_page.index("the visit's grade and course use this one") < visit_page.index("Recording 2")
    with sessions() as s:   # each recording's measures per eye, as its analysis holds them
        from spasmcv.app.db import Recording as StoredRecording
        first = json.loads(s.query(StoredRecording).filter_by(visit_id=late_id).order_by(StoredRecording.id)
                           .first().analysis_json)["metrics"]["left"]
    assert (f'<td class="l">left</td>\n<td>0</td>\n<td>{first["closure_rate_per_min"]:.1f}</td>'
            f'<td>{first["blink_rate_per_min"]:.1f}</td>') in visit_page
    assert visit_page.count("<td>n/a</td>") >= 6   # the recording without a face: its rates are not numbers
    feb_page = c.get(f"/visits/{feb_id}").get_data(as_text=True)
    assert "The same video file as the recording of 2026-01-10 (recording 1)" in feb_page

    export = list(csv.DictReader(io.StringIO(c.get("/export.csv").get_data(as_text=True))))
    june = [r for r in export if r["visit_date"] == "2026-06-01"]
    assert len(june) == 1 and june[0]["status"] == "no recording" and june[0]["clinician_jrs_frequency"] == "2"
    may = [r for r in export if r["visit_date"] == "2026-05-04"]
    assert [r["used_for_course"] for r in may] == ["True", "False"] and may[1]["jankovic_frequency_grade"] == ""
    # a visit on no injection's day after the second: its last injection, and every dose column
    assert may[0]["last_injection_date"] == "2026-04-14" and may[0]["days_since_last_injection"] == "20"
    assert may[0]["last_injection_units_right_upper_pretarsal"] == "30.0000"
    assert may[0]["last_injection_units_left_brow"] == "0.0000"
    january = [r for r in export if r["visit_date"] == "2026-01-10"][0]
    assert january["last_injection_date"] == "" and january["last_injection_units_left_brow"] == ""


def test_a_visit_or_treatment_entered_wrongly_can_be_corrected_or_deleted_and_is_audited(client):
    import datetime as dt

    from spasmcv.app.db import Recording, Treatment, Visit

    c, data_dir, sessions = client
    pid = new_patient(c, sessions, "P-22")
    with sessions() as s:
        visit = Visit(patient_id=pid, date=dt.date(2025, 2, 16), task="rest")   # 2026 typed as 2025
        s.add(visit)
        recording = _stored(s, visit, _spasm_trace("r1", 1, 1))
        (data_dir / "uploads").mkdir(exist_ok=True)
        (data_dir / "uploads" / "kept.mp4").write_bytes(b"kept video")
        recording.video_file, recording.keep_video = "kept.mp4", True
        queued = Recording(visit=visit, status="queued")
        s.add(queued)
        s.add(Treatment(patient_id=pid, date=dt.date(2026, 1, 12), product="x"))
        s.commit()
        visit_id, queued_id = visit.id, queued.id
        treatment_id = s.query(Treatment).filter_by(patient_id=pid).one().id
    form = {"csrf_token": token(c, f"/visits/{visit_id}"), "date": "2026-02-16", "task": "conversation",
            "jrs_frequency": "2", "notes": "date corrected"}
    assert c.post(f"/visits/{visit_id}/edit", data=form).status_code == 302
    with sessions() as s:
        visit = s.get(Visit, visit_id)
        assert (visit.date, visit.task, visit.jrs_frequency) == (dt.date(2026, 2, 16), "conversation", 2)
        assert json.loads(visit.recordings[0].analysis_json)["task"] == "conversation"   # graded for its task
        audit = [a.target for a in s.query(AuditEntry).filter_by(action="change")]
        assert any("date 2025-02-16 -> 2026-02-16" in a and "task rest -> conversation" in a for a in audit)
        rid = visit.recordings[0].id
        assert any(re.search(rf"recording {rid} re-analysed with analysis-\d+ \(was analysis-\d+; grade \d -> \d\)", a)
                   for a in audit)   # the stored recording graded again, its grade before and after
    # nothing goes without the box ticked, nor while a recording is being analysed
    assert c.post(f"/visits/{visit_id}/delete", data={"csrf_token": form["csrf_token"]}).status_code == 400
    answer = c.post(f"/visits/{visit_id}/delete", data={"csrf_token": form["csrf_token"], "confirm": "1"})
    assert answer.status_code == 400 and "cancel its analysis first" in answer.get_data(as_text=True)
    assert (data_dir / "uploads" / "kept.mp4").exists()   # a refused deletion removes nothing
    assert c.post(f"/recordings/{queued_id}/delete", data={"csrf_token": form["csrf_token"],
                                                           "confirm": "1"}).status_code == 400
    with sessions() as s:
        s.get(Recording, queued_id).status = "cancelled"
        s.commit()
    assert c.post(f"/recordings/{queued_id}/delete", data={"csrf_token": form["csrf_token"],
                                                           "confirm": "1"}).status_code == 302
    assert c.post(f"/visits/{visit_id}/delete", data={"csrf_token": form["csrf_token"],
                                                      "confirm": "1"}).status_code == 302
    assert c.post(f"/treatments/{treatment_id}/delete", data={"csrf_token": form["csrf_token"],
                                                              "confirm": "1"}).status_code == 302
    with sessions() as s:
        assert s.get(Visit, visit_id) is None and s.query(Recording).count() == 0
        assert s.get(Treatment, treatment_id) is None
        deleted = [a.target for a in s.query(AuditEntry).filter_by(action="delete")]
        assert len(deleted) == 3   # what was deleted, so that it could be entered again
        assert any(f"visit {visit_id} of patient {pid}: date 2026-02-16, task conversation, Jankovic severity None, "
                   "frequency 2" in a for a in deleted)
        assert any("product 'x'" in a for a in deleted) and any("status cancelled" in a for a in deleted)
    assert not (data_dir / "uploads" / "kept.mp4").exists()   # the kept video went with its visit
    assert c.get(f"/visits/{visit_id}").status_code == 404


def test_a_recording_replaced_after_a_deletion_is_what_the_patient_page_shows(client):
    """Delete a wrong recording, store the right one: the patient page and report show the new one
    (SQLite gives the new row the deleted one's id, which the comparison cache must not mistake)."""
    import datetime as dt

    from spasmcv.app.db import Recording, Visit

    c, _, sessions = client
    pid = new_patient(c, sessions, "P-23")
    with sessions() as s:
        first = Visit(patient_id=pid, date=dt.date(2026, 1, 10), task="rest")
        second = Visit(patient_id=pid, date=dt.date(2026, 2, 10), task="rest")
        s.add_all([first, second])
        _stored(s, first, _spasm_trace("a", 6, 1))
        wrong = _stored(s, second, _spasm_trace("wrong", 6, 2))
        s.commit()
        second_id, wrong_id = second.id, wrong.id
    assert "(grade 3)" in re.search(r'id="verdict">([^<]*)<', c.get(f"/patients/{pid}").get_data(as_text=True)).group(1)
    t = token(c, f"/visits/{second_id}")
    assert c.post(f"/recordings/{wrong_id}/delete", data={"csrf_token": t, "confirm": "1"}).status_code == 302
    with sessions() as s:
        _stored(s, s.get(Visit, second_id), _spasm_trace("right", 0, 3))
        s.commit()
    verdict = re.search(r'id="verdict">([^<]*)<', c.get(f"/patients/{pid}").get_data(as_text=True)).group(1)
    assert "Severity fell from grade 3 to grade 0" in verdict
    assert "Severity fell from grade 3 to grade 0" in c.get(f"/patients/{pid}/report.html").get_data(as_text=True)


def test_a_guided_recording_of_several_tasks_is_graded_segment_by_segment(client):
    """40 s of rest at 15 blinks a minute, then 20 s of conversation at 54: as a whole, 28 a minute
    would grade the rest visit 1; its rest segment grades it 0, and the conversation segment is
    graded 1 against conversation's own rates. The course uses the segment too."""
    import datetime as dt

    import numpy as np

    from helpers import T, profile, recording_trace
    from spasmcv.app.db import Visit

    blinks = list(np.arange(1, 40, 4.0)) + list(np.arange(40.5, 60, 1.1))
    trace = recording_trace(np.clip(sum(profile(T, t0, 0.08, 0.03, 0.15) for t0 in blinks), 0, 1), "g", seed=1)
    c, data_dir, sessions = client
    pid = new_patient(c, sessions, "P-24")
    protocols = [{"protocol": "spasmcv-guided-1", "segments": [{"task": "rest", "duration_s": 40},
                                                               {"task": "conversation", "duration_s": 20}]},
                 {"protocol": "spasmcv-guided-2", "segments": [
                     {"task": "rest", "duration_s": 40, "start_s": 0.0, "end_s": 40.2},
                     {"task": "conversation", "duration_s": 20, "start_s": 40.2, "end_s": 60.1}]},
                 {"protocol": "spasmcv-guided-2", "segments": [{"task": "conversation", "duration_s": 20}]},
                 {"protocol": "spasmcv-guided-2", "segments": [   # graded on its conversation part, 40-60 s
                     {"task": "rest", "duration_s": 40, "start_s": 0.0, "end_s": 40.2},
                     {"task": "conversation", "duration_s": 20, "start_s": 40.2, "end_s": 60.1}]}]
    with sessions() as s:
        from spasmcv.app.db import Recording
        from spasmcv.app.jobs import store_analysis
        from spasmcv.measure.trace import trace_bytes

        ids = []
        for k, protocol in enumerate(protocols):
            visit = Visit(patient_id=pid, date=dt.date(2026, 3, 1 + k), task="conversation" if k == 3 else "rest")
            s.add(visit)
            recording = Recording(visit=visit, status="done", trace_csv=trace_bytes(trace, compress=True),
                                  protocol=json.dumps(protocol))
            store_analysis(recording, trace, visit.task)
            s.add(recording)
            s.commit()
            ids.append(visit.id)
    for visit_id in ids[:2]:
        page = c.get(f"/visits/{visit_id}").get_data(as_text=True)
        assert "The visit's grade uses the rest segment (0-40 s), the visit's task" in page
        rows = re.findall(r'<tr><td class="l">(rest|conversation)[^<]*</td><td>[^<]*</td>\n<td>(\d)</td>', page)
        assert rows == [("rest", "0"), ("conversation", "1")]
        assert "mixed-tasks" not in page
    # a guided recording of another task than the visit's is graded whole, and says so
    page = c.get(f"/visits/{ids[2]}").get_data(as_text=True)
    assert "This recording holds conversation, none of it rest; it is graded as a whole" in page
    patient = c.get(f"/patients/{pid}").get_data(as_text=True)
    grades = re.findall(r'<td class="l">(?:conversation|rest)</td>\n<td>(\d)', patient)
    # the course: the rest segments, the whole conversation at rest's rates, the conversation part at its own
    assert grades == ["0", "0", "1", "1"]
    page = c.get(f"/visits/{ids[3]}").get_data(as_text=True)   # its event strip spans its part, 40-60 s
    assert "<span>40 s</span><span>50 s</span><span>60 s</span>" in page and "Events over the 20 s from 40 s" in page
    xs = [float(x) for x in re.findall(r'<rect x="([-0-9.]+)"', page)]
    assert len(xs) == 2 * 18 and all(0 <= x < 100 for x in xs)
    export = list(csv.DictReader(io.StringIO(c.get("/export.csv").get_data(as_text=True))))
    assert [(r["graded_start_s"], r["graded_end_s"]) for r in export] == [
        ("0.0000", "40.0000"), ("0.0000", "40.2000"), ("", ""), ("40.2000", "60.1000")]
    assert {r["mirrored"] for r in export} == {"False"}
    # a protocol whose segments name no known task is refused at upload
    data = {"csrf_token": token(c, f"/visits/{ids[0]}"), "video": (io.BytesIO(b"x"), "v.webm"),
            "protocol": json.dumps({"segments": [{"task": "singing", "duration_s": 20}]})}
    reply = c.post(f"/visits/{ids[0]}/recordings", data=data, content_type="multipart/form-data")
    assert reply.status_code == 400 and "segments each need a known task" in reply.get_data(as_text=True)
    # one analysed as a whole by an earlier version is graded by segment when the application starts
    from spasmcv._tables import json_safe
    from spasmcv.analysis.analyze import analyze_trace

    with sessions() as s:
        old = s.query(Recording).filter_by(visit_id=ids[0]).one()
        old.analysis_json = json.dumps(json_safe(analyze_trace(trace, task="rest").recording))
        s.commit()
        assert json.loads(old.analysis_json)["severity"]["jankovic_frequency_grade"] == 1   # 28 blinks a minute
    create_app(sessions, data_dir, worker=NoWorker())   # a restart
    with sessions() as s:
        again = json.loads(s.query(Recording).filter_by(visit_id=ids[0]).one().analysis_json)
    assert again["severity"]["jankovic_frequency_grade"] == 0 and len(again["guided_segments"]) == 2


def test_a_guided_recording_stopped_before_the_visits_task_is_graded_whole_and_says_so(client):
    """Rest then conversation planned, but the recording stopped at 40 s: a conversation visit has
    no frames of its segment, so the recording is graded whole (as one holding none of it), never
    on an empty part, and the page does not claim a segment grade."""
    import datetime as dt

    import numpy as np

    from helpers import T, profile, recording_trace
    from spasmcv.app.db import Recording, Visit
    from spasmcv.app.jobs import store_analysis
    from spasmcv.measure.trace import Trace, time_window, trace_bytes

    closure = np.clip(sum(profile(T, t0, 0.08, 0.03, 0.15) for t0 in np.arange(1, 39, 4.0)), 0, 1)
    cut = time_window(recording_trace(closure, "short", seed=3), 0, 40)   # a 40-s recording of its own
    trace = Trace(columns=cut.columns, metadata={k: v for k, v in cut.metadata.items() if k != "time_window_s"})
    c, _, sessions = client
    pid = new_patient(c, sessions, "P-25")
    with sessions() as s:
        visit = Visit(patient_id=pid, date=dt.date(2026, 3, 1), task="conversation")
        s.add(visit)
        recording = Recording(visit=visit, status="done", trace_csv=trace_bytes(trace, compress=True),
                              protocol=json.dumps({"protocol": "spasmcv-guided-2", "segments": [
                                  {"task": "rest", "duration_s": 40, "start_s": 0.0, "end_s": 40.0},
                                  {"task": "conversation", "duration_s": 20, "start_s": 40.0, "end_s": 60.0}]}))
        store_analysis(recording, trace, visit.task)
        s.add(recording)
        s.commit()
        analysis = json.loads(recording.analysis_json)
        visit_id = visit.id
    assert analysis["provenance"]["time_window_s"] is None and analysis["metrics"]["quality"]["duration_s"] > 39
    assert [p["for_visit"] for p in analysis["guided_segments"]] == [False, False]
    assert analysis["guided_segments"][1]["not_gradable_reason"] == "no frames recorded in this segment"
    page = c.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert "graded-segment" not in page and "it is graded as a whole" in page


def test_the_event_strip_draws_a_parts_closures_within_it():
    """A segment's closure may begin before it or end after it (analysis-24): its box stays inside
    the strip, at least as wide as the thinnest box."""
    from spasmcv.app.web import _event_strip

    recording = {"metrics": {"quality": {"duration_s": 60.0}}, "provenance": {"time_window_s": [60.0, 120.0]}}
    events = [{"display": "spasm", "eye": "left", "onset_s": 58.0, "offset_s": 61.5},
              {"display": "blink", "eye": "right", "onset_s": 119.95, "offset_s": 120.3},
              {"display": "blink", "eye": "right", "onset_s": 90.0, "offset_s": 90.3}]
    boxes = _event_strip(events, recording)["boxes"]
    assert [(round(b["x"], 2), round(b["w"], 2)) for b in boxes] == [(0.0, 2.5), (99.7, 0.3), (50.0, 0.5)]
    assert all(0 <= b["x"] and b["x"] + b["w"] <= 100 + 1e-9 for b in boxes)


def test_a_hemifacial_spasm_visit_without_closures_opens(client):
    """A hemifacial spasm patient's recording in which neither eye closes (a face that never
    blinks, or no face at all): its closure-rate asymmetry is not a number, stored as null, and
    the visit page says the recording shows no one-sided closures instead of failing (it used to
    answer 500, leaving the recording impossible to mark or delete)."""
    import numpy as np

    from helpers import T, recording_trace

    c, _, sessions = client
    response = c.post("/patients", data={"code": "H-1", "diagnosis": "hfs_left", "csrf_token": token(c)})
    assert response.status_code in (302, 303)
    with sessions() as s:
        pid = s.query(Patient).filter_by(code="H-1").one().id
        visit = Visit(patient_id=pid, date=dt.date(2026, 3, 2), task="rest")
        s.add(visit)
        _stored(s, visit, recording_trace(np.zeros(len(T)), "still", seed=3))          # open eyes throughout
        _stored(s, visit, _spasm_trace("noface", 0, 4, face=False))                  # nobody in the picture
        s.commit()
        assert [json.loads(r.analysis_json)["metrics"]["asymmetry"]["closure_rate"] for r in visit.recordings] \
            == [None, None]
        vid = visit.id
    response = c.get(f"/visits/{vid}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Not gradable: " in page and "hemifacial spasm: if the video is a mirror image" not in page
    assert c.get(f"/patients/{pid}").status_code == 200 and c.get(f"/patients/{pid}/report.html").status_code == 200


def test_the_clinics_data_is_kept_to_the_user_running_it(tmp_path):
    """What the clinic keeps (database, key, uploaded videos) is readable by its user only: made so
    when found readable by others, and so from the start in a new data folder; a data folder the
    user made readable by others is left as it is, with a warning naming it."""
    import os
    import stat

    from spasmcv.app.web import private_data_dir

    def mode(path):
        return stat.S_IMODE(path.stat().st_mode)

    umask = os.umask(0o022)   # the usual default; private_data_dir sets 077 for the process
    try:
        shared = tmp_path / "shared"
        (shared / "uploads").mkdir(parents=True)
        for path in (shared / "clinic.sqlite3", shared / "uploads" / "visit.mp4"):
            path.write_bytes(b"x")
            path.chmod(0o644)
        shared.chmod(0o755)
        (shared / "uploads").chmod(0o755)
        (warning,) = private_data_dir(shared)
        assert str(shared) in warning and "mode 755" in warning and "chmod 700" in warning
        assert mode(shared / "clinic.sqlite3") == 0o600 and mode(shared / "uploads" / "visit.mp4") == 0o600
        assert mode(shared / "uploads") == 0o700 and mode(shared) == 0o755
        assert private_data_dir(tmp_path / "new" / "data") == []
        assert mode(tmp_path / "new" / "data") == 0o700
        (tmp_path / "new" / "data" / "later.txt").write_text("x")   # what the process makes from now on
        assert mode(tmp_path / "new" / "data" / "later.txt") == 0o600
    finally:
        os.umask(umask)


def test_a_cancelled_analysis_of_a_kept_video_can_be_started_again(client):
    """A recording whose analysis was cancelled keeps its video when asked to: the visit page shows
    it with a button that queues the analysis again (audited); without the video, or while it
    runs, the request is refused with a message. The worker forgets a spent cancel, so the
    recording is analysed this time."""
    from spasmcv.app.jobs import Worker

    c, data_dir, sessions = client
    pid = new_patient(c, sessions, "P-40")
    with sessions() as s:
        visit = Visit(patient_id=pid, date=dt.date(2026, 3, 2), task="rest")
        (data_dir / "uploads" / "kept.mp4").write_bytes(b"video")
        kept = Recording(visit=visit, status="cancelled", keep_video=True, video_file="kept.mp4")
        gone = Recording(visit=visit, status="cancelled")
        running = Recording(visit=visit, status="running", keep_video=True, video_file="kept.mp4")
        s.add_all([visit, kept, gone, running])
        s.commit()
        vid, kept_id, gone_id, running_id = visit.id, kept.id, gone.id, running.id
    page = c.get(f"/visits/{vid}").get_data(as_text=True)
    assert page.count("Start the analysis again") == 1 and f'id="video-{kept_id}"' in page
    with sessions() as s:   # a failure's reason is on the patient page too, not only on the visit's
        s.add(Recording(visit_id=vid, status="failed", error="truncated video: 24 of 472 frames"))
        s.commit()
    assert "failed (truncated video: 24 of 472 frames)" in c.get(f"/patients/{pid}").get_data(as_text=True)
    assert "The video was deleted: upload it again to analyse it." in page
    form = token(c, f"/visits/{vid}")
    response = c.post(f"/recordings/{kept_id}/restart", data={"csrf_token": form})
    assert response.status_code in (302, 303)
    for rid, message in ((gone_id, "was not kept: upload it again"), (running_id, "is running, not cancelled")):
        response = c.post(f"/recordings/{rid}/restart", data={"csrf_token": form})
        assert response.status_code == 400 and message in response.get_data(as_text=True)
    with sessions() as s:
        assert s.get(Recording, kept_id).status == "queued"
        assert any(e.target == f"recording {kept_id}: analysis started again" for e in s.query(AuditEntry))

    import queue

    worker = Worker(sessions, data_dir, model=None)
    worker._queue = queue.Queue()   # its thread waits on the first queue: nothing submitted here runs
    worker.cancel(kept_id)
    worker.submit(kept_id)
    assert not worker._cancelled(kept_id) and worker._queue.get_nowait() == kept_id


def test_a_patient_entered_wrongly_can_be_corrected_or_deleted(client):
    """A name typed into the code field can be corrected, and leaves no trace in the audit log,
    which says only what changed (and the diagnosis's old and new values); a code already taken is
    refused. A patient entered by mistake is deleted with every visit, recording, kept video and
    treatment, once the code is typed again; not while a recording is analysed."""
    from spasmcv.app.db import Dose, Treatment

    c, data_dir, sessions = client
    other = new_patient(c, sessions, "P-1")
    pid = new_patient(c, sessions, "Jörg Müller")
    form = token(c, f"/patients/{pid}")
    response = c.post(f"/patients/{pid}/edit", data={"code": "P-77", "name": "Jörg Müller", "diagnosis": "hfs_left",
                                                     "notes": "", "csrf_token": form})
    assert response.status_code in (302, 303)
    page = c.get(f"/patients/{pid}").get_data(as_text=True)
    assert '<h1 id="patient-code">P-77</h1>' in page and "Hemifacial spasm, left" in page
    response = c.post(f"/patients/{pid}/edit", data={"code": "p 1", "diagnosis": "hfs_left", "csrf_token": form})
    assert response.status_code == 400 and "exists already as &#39;P-1&#39;" in response.get_data(as_text=True)
    with sessions() as s:
        entries = [e.target for e in s.query(AuditEntry).order_by(AuditEntry.id)]
    assert f"patient {pid}: code changed; diagnosis blepharospasm -> hfs_left; name changed" in entries
    assert not any("Jörg" in e for e in entries)

    with sessions() as s:
        visit = Visit(patient_id=pid, date=dt.date(2026, 3, 2), task="rest")
        (data_dir / "uploads" / "kept.mp4").write_bytes(b"video")
        recording = Recording(visit=visit, status="running", keep_video=True, video_file="kept.mp4")
        s.add_all([visit, recording, Treatment(patient_id=pid, date=dt.date(2026, 3, 1), product="x",
                                               doses=[Dose(site="brow", side="left", units=5)])])
        s.commit()
        rid, vid = recording.id, visit.id
    for data, message in (({"confirm": "1"}, "type the patient&#39;s code"),
                          ({"confirm": "1", "confirm_code": "P-1"}, "type the patient&#39;s code"),
                          ({"confirm_code": "P-77"}, "tick the box"),
                          ({"confirm": "1", "confirm_code": "P-77"}, "still being analysed")):
        response = c.post(f"/patients/{pid}/delete", data={**data, "csrf_token": form})
        assert response.status_code == 400 and message in response.get_data(as_text=True), data
    with sessions() as s:
        s.get(Recording, rid).status = "done"
        s.commit()
    response = c.post(f"/patients/{pid}/delete", data={"confirm": "1", "confirm_code": "P-77", "csrf_token": form})
    assert response.status_code in (302, 303)
    with sessions() as s:
        assert s.get(Patient, pid) is None and s.get(Recording, rid) is None and s.get(Patient, other) is not None
        assert s.query(Visit).filter_by(patient_id=pid).count() == 0
        from spasmcv.app.db import Treatment as StoredTreatment
        assert s.query(StoredTreatment).filter_by(patient_id=pid).count() == 0
        assert any(e.action == "delete" and e.target.startswith(f"patient {pid}: 1 visits, 1 recordings")
                   for e in s.query(AuditEntry))
    assert not (data_dir / "uploads" / "kept.mp4").exists()
    gone = c.get(f"/patients/{pid}")
    assert gone.status_code == 404 and f"There is no patient {pid}: it was deleted" in gone.get_data(as_text=True)
    response = c.post(f"/visits/{vid}/edit", data={"date": "2026-03-03", "task": "rest", "csrf_token": form})
    assert response.status_code == 404 and f"There is no visit {vid}" in response.get_data(as_text=True)


def test_an_audit_entry_of_any_length_is_kept_whole(client):
    """Audit entries hold old and new values, and a deleted visit's notes and recordings: a long
    reason for marking a recording unacceptable, or deleting a visit with long notes, is written
    whole (PostgreSQL refused anything over 200 characters, so the change failed with an error)."""
    c, _, sessions = client
    pid = new_patient(c, sessions, "P-50")
    with sessions() as s:
        visit = Visit(patient_id=pid, date=dt.date(2026, 3, 2), task="rest", notes="n" * 400)
        recording = Recording(visit=visit, status="done")
        s.add_all([visit, recording])
        s.commit()
        vid, rid = visit.id, recording.id
    form = token(c, f"/visits/{vid}")
    reason = "the patient looked away for most of it, " * 8
    response = c.post(f"/recordings/{rid}/acceptability", data={"unacceptable": "1", "reason": reason,
                                                                 "csrf_token": form})
    assert response.status_code in (302, 303)
    response = c.post(f"/visits/{vid}/delete", data={"confirm": "1", "csrf_token": form})
    assert response.status_code in (302, 303)
    with sessions() as s:
        targets = [e.target for e in s.query(AuditEntry)]
    assert f"recording {rid}: unacceptable ({reason.strip()})" in targets
    assert any(t.startswith(f"visit {vid} of patient {pid}") and "n" * 400 in t for t in targets)


def test_the_migrations_build_the_schema_the_application_declares(database_url):
    """The tables the migrations make are those spasmcv/app/db.py declares (Alembic's comparison
    finds no difference), so a new column or type cannot be declared without its migration."""
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from spasmcv.app.db import Base

    upgrade(database_url)
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()


def test_a_trace_download_is_audited(client):
    """Every view of a patient's data is audited: the trace download too (it was not)."""
    c, _, sessions = client
    pid = new_patient(c, sessions, "P-51")
    with sessions() as s:
        visit = Visit(patient_id=pid, date=dt.date(2026, 3, 2), task="rest")
        s.add(visit)
        recording = _stored(s, visit, _spasm_trace("t", 0, 5))
        s.commit()
        rid = recording.id
    response = c.get(f"/recordings/{rid}/trace.csv.gz")
    assert response.status_code == 200 and f"recording-{rid}.trace.csv.gz" in response.headers["Content-Disposition"]
    with sessions() as s:
        assert any(e.action == "view" and e.target == f"recording {rid}: trace" for e in s.query(AuditEntry))


def test_two_visits_on_one_day_are_told_apart_in_the_visits_table(client):
    """The verdict and the cycles call two visits of one day "DATE #1" and "DATE #2"; the visits
    table names them the same way (it showed the date twice, so "#2" could not be found)."""
    c, _, sessions = client
    pid = new_patient(c, sessions, "P-52")
    with sessions() as s:
        for k in range(2):
            visit = Visit(patient_id=pid, date=dt.date(2026, 11, 1), task="rest")
            s.add(visit)
            _stored(s, visit, _spasm_trace(f"d{k}", 3 * k, k))
        s.commit()
    page = c.get(f"/patients/{pid}").get_data(as_text=True)
    table = page[page.index('<table id="visits">'):]
    assert ">2026-11-01 #1</a>" in table and ">2026-11-01 #2</a>" in table
