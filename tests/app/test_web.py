"""The clinic application without a browser: schema migrations, CSRF, uploads, escaping, export."""

import io
import re

import pytest

pytest.importorskip("flask")
pytest.importorskip("sqlalchemy")

from spasmcv.app.db import Patient, default_database_url, open_database, upgrade  # noqa: E402
from spasmcv.app.web import create_app  # noqa: E402


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
def client(tmp_path):
    sessions = open_database(default_database_url(tmp_path))
    app = create_app(sessions, tmp_path, worker=NoWorker())
    app.config["TESTING"] = True
    return app.test_client(), tmp_path, sessions


def token(client, url="/"):
    page = client.get(url).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_an_old_database_is_upgraded_and_keeps_its_data(tmp_path):
    url = default_database_url(tmp_path)
    upgrade(url, "0001")  # the first release's schema
    sessions = open_database(url)
    with sessions() as s:
        s.add(Patient(code="P-1", diagnosis="blepharospasm", notes=""))
        s.commit()
    sessions = open_database(url)  # upgraded to the current head again: data kept
    with sessions() as s:
        assert [p.code for p in s.query(Patient)] == ["P-1"]


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
    c.post("/patients", data={"code": "P-3", "csrf_token": token(c)})
    with sessions() as s:
        pid = s.query(Patient).filter_by(code="P-3").one().id
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
    c.post("/patients", data={"code": "P-4", "csrf_token": token(c)})
    with sessions() as s:
        pid = s.query(Patient).filter_by(code="P-4").one().id
    t = token(c, f"/patients/{pid}")
    for data in ({"date": "10/01/2026"}, {"date": "2026-01-10", "jrs_severity": "7"},
                 {"date": "2026-01-10", "task": "sleeping"}):
        response = c.post(f"/patients/{pid}/visits", data={"csrf_token": t, "task": "rest", **data})
        assert response.status_code == 400, data
    assert c.get("/patients/999").status_code == 404


def test_serve_refuses_other_addresses_until_accounts_exist(tmp_path):
    from spasmcv.app.web import serve
    from spasmcv.errors import SpasmcvError

    with pytest.raises(SpasmcvError, match="this computer only"):
        serve(host="0.0.0.0", data_dir=tmp_path, model=object())
