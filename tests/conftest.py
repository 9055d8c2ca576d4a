"""Shared fixtures: the real model and the real videos in ../shared.

Outside CI, tests needing ../shared or the model skip when they are absent. In CI
(``CI=true``) their absence is a failure: those tests are the point of the run.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL = SHARED / "data" / "real"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(what: str):
    if IN_CI:
        pytest.fail(f"{what} is missing, and in CI (CI=true) that is a failure, not a skip")
    pytest.skip(f"{what} is not available")


@pytest.fixture(scope="session")
def model_info():
    """The official face landmarker, found the way users find it (no download in tests)."""
    from spasmcv.errors import ModelError
    from spasmcv.measure.model import resolve_model

    candidates = [os.environ.get("SPASMCV_MODEL"), str(SHARED / "models" / "face_landmarker.task")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return resolve_model(candidate)
    try:
        return resolve_model(allow_download=False)
    except ModelError:
        _missing("the face landmarker model ($SPASMCV_MODEL or ../shared/models/face_landmarker.task)")


@pytest.fixture(scope="session")
def real_video():
    """Path to a video under ../shared/data/real (skips or fails when absent)."""

    def get(relative: str) -> Path:
        path = REAL / relative
        if not path.is_file():
            _missing(f"../shared/data/real/{relative}")
        return path

    return get


@pytest.fixture(scope="session")
def external_video():
    """Path to a video of labels/external/ in $SPASMCV_EXTERNAL_CLIPS (.ci/run fetches them with
    scripts/fetch_external_clips.py; skips or fails when absent)."""
    folder = os.environ.get("SPASMCV_EXTERNAL_CLIPS")

    def get(file: str) -> Path:
        path = Path(folder) / file if folder else None
        if path is None or not path.is_file():
            _missing(f"the outside clip {file} ($SPASMCV_EXTERNAL_CLIPS; scripts/fetch_external_clips.py)")
        return path

    return get


def _extracted_once(find, model_info):
    """A function name -> trace, extracting the video ``find(name)`` with the real model the first
    time only (a test session's traces are shared by every test that asks)."""
    from spasmcv.measure.extract import extract_trace

    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = extract_trace(find(name), model=model_info)
        return cache[name]

    return get


@pytest.fixture(scope="session")
def real_trace(real_video, model_info):
    """The trace of a video under ../shared/data/real, extracted with the real model once per test
    session (the real-label tests and the real-video comparison share Talking Face's 200 s)."""
    return _extracted_once(real_video, model_info)


@pytest.fixture(scope="session")
def external_trace(external_video, model_info):
    """The trace of an outside clip (``labels/external/clips.csv``'s file name), extracted with the
    real model once per test session (its labels' test and aperture_repeatability.py's share them)."""
    return _extracted_once(external_video, model_info)


# ---- databases for the clinic application's tests -------------------------------------------
# SQLite always, and a real PostgreSQL server when SPASMCV_TEST_DATABASE_URL names one (.ci/run
# starts Debian's postgresql and sets it; in CI it is required). Each test gets its own database.

PG_URL = os.environ.get("SPASMCV_TEST_DATABASE_URL")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{(tmp_path / 'clinic.sqlite3').as_posix()}"
        return
    if not PG_URL:
        if os.environ.get("CI"):
            pytest.fail("SPASMCV_TEST_DATABASE_URL is not set: CI must start PostgreSQL (.ci/run)")
        pytest.skip("no PostgreSQL server (set SPASMCV_TEST_DATABASE_URL)")
    pytest.importorskip("psycopg")
    import sqlalchemy as sa
    import sqlalchemy.orm  # noqa: F401  (sa.orm below; a test run of the browser tests alone imports it nowhere else)

    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    name = f"spasmcv_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_URL).set(database=name)
    yield url.render_as_string(hide_password=False)
    sa.orm.close_all_sessions()
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
