"""The clinic's background analysis and data flows with the real model (no browser): cancel,
re-analyse, unacceptable recordings, the Parquet export and importing a batch folder."""

import io
import json
import time

import pytest

pytest.importorskip("flask")

from conftest import REPO  # noqa: E402
from spasmcv.app.db import Patient, Recording, open_database  # noqa: E402
from web_helpers import new_patient, token  # noqa: E402
from spasmcv.app.web import create_app  # noqa: E402

SAMPLES = REPO / "sample_videos"



def wait_for(sessions, recording_id, states, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with sessions() as s:
            status = s.get(Recording, recording_id).status
        if status in states:
            return status
        time.sleep(0.2)
    raise AssertionError(f"recording {recording_id} still {status}")


def upload(c, visit_id, name):
    data = {"csrf_token": token(c, f"/visits/{visit_id}"),
            "video": (io.BytesIO((SAMPLES / name).read_bytes()), name)}
    return c.post(f"/visits/{visit_id}/recordings", data=data, content_type="multipart/form-data",
                  headers={"Accept": "application/json"}).get_json()["recording"]


def test_cancel_reanalyse_unacceptable_and_parquet(tmp_path, database_url, model_info):
    pyarrow = pytest.importorskip("pyarrow.parquet")
    sessions = open_database(database_url)
    app = create_app(sessions, tmp_path, model=model_info)
    c = app.test_client()
    pid = new_patient(c, sessions, "P-5")
    c.post(f"/patients/{pid}/visits", data={"csrf_token": token(c, f"/patients/{pid}"), "date": "2026-01-10",
                                            "task": "rest"})
    with sessions() as s:
        vid = s.get(Patient, pid).visits[0].id

    first = upload(c, vid, "bsp_grade2.mp4")
    c.post(f"/recordings/{first}/cancel", data={"csrf_token": token(c, f"/visits/{vid}")})
    assert wait_for(sessions, first, {"cancelled", "done"}) == "cancelled"
    assert list((tmp_path / "uploads").iterdir()) == []  # a cancelled upload is not kept either
    assert "The video was deleted: upload it again to analyse it." in c.get(f"/visits/{vid}").get_data(as_text=True)

    second = upload(c, vid, "bsp_grade2.mp4")
    assert wait_for(sessions, second, {"done", "failed"}) == "done"
    page = c.get(f"/patients/{pid}").get_data(as_text=True)
    assert "id='verdict'" in page or 'id="verdict"' in page
    assert c.post(f"/recordings/{second}/reanalyse", data={"csrf_token": token(c, f"/visits/{vid}")}).status_code == 302
    with sessions() as s:
        assert s.get(Recording, second).analysis_version
    c.post(f"/recordings/{second}/acceptability", data={"csrf_token": token(c, f"/visits/{vid}"), "unacceptable": "1",
                                                         "reason": "looked away"})
    page = c.get(f"/patients/{pid}").get_data(as_text=True)
    assert "no analysed recording yet" in page and "(unacceptable)" in page

    table = pyarrow.read_table(io.BytesIO(c.get("/export.parquet").data))
    assert table.num_rows == 2 and "severity_index" in table.column_names
    assert table.column("error").to_pylist()[0] is None and table.column("used_for_course").to_pylist() == [False, False]
    sessions.kw["bind"].dispose()


@pytest.fixture(scope="module")
def batch_folder(tmp_path_factory, model_info):
    from spasmcv.study import read_manifest, run_batch

    root = tmp_path_factory.mktemp("batch")
    (root / "m.csv").write_text(
        "path,patient,date,task,start_s,end_s\n"
        f"{SAMPLES / 'visit1_baseline.mp4'},P-0007,2026-01-10,rest,,\n"
        f"{SAMPLES / 'visit2_week3.mp4'},P-0007,2026-02-02,rest,,\n"
        f"{SAMPLES / 'healthy_control.mp4'},P-0009,,rest,,\n"
        f"{SAMPLES / 'visit1_baseline.mp4'},p0007,2026-01-10,conversation,12,\n"     # parts of the first video,
        f"{SAMPLES / 'visit1_baseline.mp4'},P-0007,2026-01-10,conversation,0,12\n")  # P-0007 spelt two ways
    run_batch(read_manifest(root / "m.csv"), root / "out", model=model_info, workers=2)
    return root / "out"


def test_a_batch_folder_is_imported_once(batch_folder, database_url):
    from spasmcv.app.importer import import_batch

    sessions = open_database(database_url)
    report = import_batch(sessions, batch_folder)
    assert report.imported == 4 and len(report.skipped) == 1 and "'date'" in report.skipped[0]
    with sessions() as s:
        assert s.query(Patient).count() == 1   # p0007 is P-0007, as on the clinic's own pages
        patient = s.query(Patient).filter_by(code="P-0007").one()
        assert [(str(v.date), v.task) for v in patient.visits] == [
            ("2026-01-10", "rest"), ("2026-01-10", "conversation"), ("2026-02-02", "rest")]
        recording = patient.visits[0].recordings[0]
        assert recording.status == "done" and recording.analysis_json and recording.trace_csv
        # the part a batch row scored is the part the clinic grades, as the batch did
        import csv

        with open(batch_folder / "recordings.csv", newline="") as handle:
            batch_rows = list(csv.DictReader(handle))
        parts = [json.loads(r.analysis_json)["metrics"]["left"] for r in patient.visits[1].recordings]
        for imported, row in zip(parts, batch_rows[3:]):
            assert abs(imported["valid_time_s"] - float(row["left_valid_time_s"])) < 1e-6
        assert parts[0]["valid_time_s"] < 19 and parts[1]["valid_time_s"] < 12.1   # 12 s to the end; 0-12 s
    again = import_batch(sessions, batch_folder)
    assert again.imported == 0 and sum("already imported" in r for r in again.skipped) == 4
    sessions.kw["bind"].dispose()


def test_a_broken_upload_fails_with_a_message_and_is_not_kept(tmp_path, model_info):
    sessions = open_database(f"sqlite:///{(tmp_path / 'c.sqlite3').as_posix()}")
    app = create_app(sessions, tmp_path, model=model_info)
    c = app.test_client()
    pid = new_patient(c, sessions, "P-7")
    c.post(f"/patients/{pid}/visits", data={"csrf_token": token(c, f"/patients/{pid}"), "date": "2026-01-10",
                                            "task": "rest"})
    with sessions() as s:
        vid = s.get(Patient, pid).visits[0].id
    data = {"csrf_token": token(c, f"/visits/{vid}"),
            "video": (io.BytesIO((SAMPLES / "healthy_control.mp4").read_bytes()[:3000]), "truncated.mp4")}
    rid = c.post(f"/visits/{vid}/recordings", data=data, content_type="multipart/form-data",
                 headers={"Accept": "application/json"}).get_json()["recording"]
    assert wait_for(sessions, rid, {"failed", "done"}) == "failed"
    page = c.get(f"/visits/{vid}").get_data(as_text=True)
    assert "Analysis failed:" in page and "Traceback" not in page and str(tmp_path) not in page
    assert list((tmp_path / "uploads").iterdir()) == []
    sessions.kw["bind"].dispose()


def test_a_mirror_image_video_is_measured_on_the_patients_sides(tmp_path, model_info):
    """A left hemifacial spasm filmed as a mirror image (the sample flipped, as some phones' front
    cameras save it) reads as a right-sided one, which the pages point out for a left-sided
    diagnosis; uploaded as a mirror image it is measured on the patient's left again."""
    import cv2

    source = cv2.VideoCapture(str(SAMPLES / "hfs_left.mp4"))
    fps = source.get(cv2.CAP_PROP_FPS)
    mirrored = tmp_path / "selfie.mp4"
    writer = cv2.VideoWriter(str(mirrored), cv2.VideoWriter_fourcc(*"mp4v"), fps, (640, 480))
    for _ in range(round(15 * fps)):   # 15 s, flipped left to right
        ok, image = source.read()
        assert ok
        writer.write(cv2.flip(image, 1))
    writer.release()
    source.release()

    sessions = open_database(f"sqlite:///{(tmp_path / 'c.sqlite3').as_posix()}")
    app = create_app(sessions, tmp_path / "data", model=model_info)
    c = app.test_client()
    pid = new_patient(c, sessions, "P-8")
    with sessions() as s:
        s.get(Patient, pid).diagnosis = "hfs_left"
        s.commit()
    c.post(f"/patients/{pid}/visits", data={"csrf_token": token(c, f"/patients/{pid}"), "date": "2026-01-10",
                                            "task": "rest"})
    with sessions() as s:
        vid = s.get(Patient, pid).visits[0].id
    recordings = []
    for ticked in (False, True):
        data = {"csrf_token": token(c, f"/visits/{vid}"), "video": (io.BytesIO(mirrored.read_bytes()), "selfie.mp4")}
        if ticked:
            data["mirrored"] = "1"
        recordings.append(c.post(f"/visits/{vid}/recordings", data=data, content_type="multipart/form-data",
                                 headers={"Accept": "application/json"}).get_json()["recording"])
        assert wait_for(sessions, recordings[-1], {"failed", "done"}) == "done"
    import json

    with sessions() as s:
        asymmetry = [json.loads(s.get(Recording, r).analysis_json)["metrics"]["asymmetry"]["closure_rate"]
                     for r in recordings]
    assert asymmetry[0] < -0.33 and asymmetry[1] > 0.33   # (left - right) / (left + right)
    page = c.get(f"/visits/{vid}").get_data(as_text=True)
    assert page.count('class="warn other-side"') == 1 and page.count('class="small mirrored"') == 1
    assert page.index('class="warn other-side"') < page.index("Recording 2")
    assert "same-video" not in page   # the same file again, as a mirror image, is no mistake
    assert "one-sided on the patient&#39;s right at this recording, but the diagnosis is left hemifacial spasm" in page
    # the visit's grade uses the latest recording (the mirror image measured the right way): no warning
    assert "one-sided on the patient" not in c.get(f"/patients/{pid}").get_data(as_text=True)
    with sessions() as s:   # with only the unticked upload, the patient page says it
        s.delete(s.get(Recording, recordings[1]))
        s.commit()
    patient_page = c.get(f"/patients/{pid}").get_data(as_text=True)
    assert "Note: closures were one-sided on the patient&#39;s right at 2026-01-10" in patient_page
    sessions.kw["bind"].dispose()
