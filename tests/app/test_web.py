"""The clinic application without a browser: schema migrations, CSRF, uploads, escaping, export."""

import io
import json
import re

import pytest

pytest.importorskip("flask")
pytest.importorskip("sqlalchemy")

from spasmcv.app.db import AuditEntry, Patient, add_user, open_database, upgrade  # noqa: E402
from web_helpers import new_patient, token  # noqa: E402
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
    assert c.get("/patients/999").status_code == 404


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

    c, _, sessions = client
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
    assert "(3 if the 2 closures to check are closures)" in c.get(f"/patients/{pid}").get_data(as_text=True)
    export = c.get("/export.csv").get_data(as_text=True).splitlines()
    row = dict(zip(export[0].split(","), export[1].split(",")))
    assert (row["jankovic_frequency_grade"], row["jankovic_frequency_grade_if_review_closed"]) == ("0", "3")

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
