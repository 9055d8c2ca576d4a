"""Outputs never harm inputs: refusal before any work, atomic sets, and ordinary file permissions.

Every case runs the real command line (``python -m spasmcv``) on copies in a temporary folder and
checks the input's sha256 afterwards.
"""

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spasmcv._atomic import atomic_write_set
from spasmcv.measure.trace import Trace, write_trace
from conftest import REPO
from helpers import T, profile, trace_columns

SAMPLE = REPO / "sample_videos" / "healthy_control.mp4"


def run_cli(*args, umask=0o022):
    return subprocess.run([sys.executable, "-m", "spasmcv", *map(str, args)], capture_output=True, text=True,
                          timeout=600, preexec_fn=lambda: os.umask(umask))


def sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def trace_file(tmp_path):
    closure = sum(profile(T, t0, 0.08, 0.03, 0.15) for t0 in np.arange(1, 59, 3.1))
    columns = trace_columns(closure)
    n = len(T)
    columns.update(face_detected=np.ones(n, np.int8), n_faces=np.ones(n, np.int64), head_yaw_deg=np.zeros(n),
                   head_pitch_deg=np.zeros(n), head_roll_deg=np.zeros(n))
    trace = Trace(columns=columns, metadata={"recording_id": "r1", "warnings": [],
                                             "model": {"sha256": "0" * 64, "official": True}})
    return write_trace(trace, tmp_path / "visit.trace.csv")


@pytest.fixture
def video(tmp_path):
    return shutil.copy(SAMPLE, tmp_path / "patient.mp4")


@pytest.mark.parametrize("command", ["extract", "annotate"])
def test_an_output_that_is_the_input_video_is_refused_before_any_work(command, video):
    from pathlib import Path

    video = Path(video)
    before = sha256(video)
    result = run_cli(command, video, "-o", video)
    assert result.returncode == 7, result.stderr
    assert "never writes to its inputs" in result.stderr and "Traceback" not in result.stderr
    assert sha256(video) == before


def test_analyze_and_report_refuse_to_overwrite_the_trace_they_read(trace_file, tmp_path):
    before = sha256(trace_file)
    # a prefix whose .events.csv is the input itself
    events_named = tmp_path / "x.events.csv"
    shutil.copy(trace_file, events_named)
    result = run_cli("analyze", events_named, "-o", tmp_path / "x", "-q")
    assert result.returncode == 7 and "never writes to its inputs" in result.stderr
    assert sha256(events_named) == before
    report_named = tmp_path / "y.report.html"
    shutil.copy(trace_file, report_named)
    result = run_cli("report", report_named, "-o", tmp_path / "y")
    assert result.returncode == 7 and sha256(report_named) == before


def test_a_result_given_for_a_recording_is_named_as_such(trace_file, tmp_path):
    """spasmcv's own results given where a video or trace is expected (an easy slip after
    `analyze`) are refused before any work, saying what they are, and are left as they were."""
    assert run_cli("analyze", trace_file, "-o", tmp_path / "v", "-q").returncode == 0
    for name, what in (("v.analysis.json", "analysis result"), ("v.events.csv", "events table"),
                       ("v.minutes.csv", "per-minute table")):
        path = tmp_path / name
        before = sha256(path)
        for args in (("analyze", path, "-q"), ("report", path), ("compare", "--visit", f"a:{path}", "--visit",
                                                                 f"b:{trace_file}")):
            result = run_cli(*args)
            assert result.returncode == 5, (args, result.stderr)
            assert f"{path} is spasmcv's {what}, not a recording: give the recording's video or its .trace.csv" \
                in result.stderr
            assert "Traceback" not in result.stderr and sha256(path) == before


def test_a_foreign_file_is_replaced_only_with_force(trace_file, tmp_path):
    """A file that is not spasmcv's is refused without --force, even under one of spasmcv's own
    names (a clinician's notes.events.csv); spasmcv's own outputs and empty files are replaced."""
    foreign = tmp_path / "notes.analysis.json.bak"
    foreign.write_text("a clinician's own notes")
    result = run_cli("extract", SAMPLE, "-o", foreign, "--max-frames", "5", "-q")
    assert result.returncode == 7 and "--force" in result.stderr
    assert foreign.read_text() == "a clinician's own notes"
    prefix = tmp_path / "notes"
    for suffix in (".events.csv", ".analysis.json", ".minutes.csv"):
        own_name = tmp_path / f"notes{suffix}"
        own_name.write_text("my own notes")
        result = run_cli("analyze", trace_file, "-o", prefix, "-q")
        assert result.returncode == 7 and f"notes{suffix} exists and is not a spasmcv output" in result.stderr
        assert own_name.read_text() == "my own notes"
        own_name.write_text("")   # empty: nothing to lose
    ok = run_cli("analyze", trace_file, "-o", prefix, "-q")
    assert ok.returncode == 0, ok.stderr
    again = run_cli("analyze", trace_file, "-o", prefix, "-q")   # its own outputs are replaced
    assert again.returncode == 0, again.stderr
    (tmp_path / "notes.events.csv").write_text("my own notes")
    forced = run_cli("analyze", trace_file, "-o", prefix, "-q", "--force")
    assert forced.returncode == 0 and (tmp_path / "notes.events.csv").read_text().startswith("eye,kind,")
    report = run_cli("report", trace_file, "-o", prefix)
    assert report.returncode == 0, report.stderr
    assert run_cli("report", trace_file, "-o", prefix).returncode == 0   # its own report is replaced
    (tmp_path / "notes.report.html").write_text("<html>my page</html>")
    assert run_cli("report", trace_file, "-o", prefix).returncode == 7


def test_only_spasmcvs_own_review_video_is_replaced_without_force(tmp_path):
    """The review video carries a container comment; another video under its name is not replaced."""
    import av

    from spasmcv.cli import _is_own_output
    from spasmcv.clinic.annotate import REVIEW_VIDEO_COMMENT

    own, other = tmp_path / "a.review.mp4", tmp_path / "b.review.mp4"
    shutil.copy(SAMPLE, other)
    with av.open(str(SAMPLE)) as source, av.open(str(own), "w", format="mp4") as target:
        target.metadata["comment"] = REVIEW_VIDEO_COMMENT
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)
    assert _is_own_output(own) and not _is_own_output(other)
    renamed = tmp_path / "visit1 for the clinic.mp4"   # spasmcv's review video under a name of one's own
    shutil.copy(own, renamed)
    assert _is_own_output(renamed) and not _is_own_output(shutil.copy(SAMPLE, tmp_path / "camera.mp4"))
    (tmp_path / "c.review.mp4").write_text("not a video")
    assert not _is_own_output(tmp_path / "c.review.mp4")


def test_an_output_folder_that_cannot_exist_is_reported_before_extraction(video, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli("extract", video, "-o", blocker / "out.trace.csv", "-q")
    assert result.returncode == 7 and "is not a folder" in result.stderr and "Traceback" not in result.stderr



def test_an_existing_folder_as_output_receives_the_default_names(video, trace_file, tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    result = run_cli("extract", video, "-o", str(folder) + "/", "--max-frames", "5", "-q")
    assert result.returncode == 0, result.stderr
    assert (folder / "patient.trace.csv").is_file()
    assert run_cli("analyze", trace_file, "-o", folder, "-q").returncode == 0
    assert {p.name for p in folder.iterdir()} == {"patient.trace.csv", "visit.analysis.json", "visit.events.csv",
                                                  "visit.minutes.csv"}
    assert not list(tmp_path.glob("results.*"))  # nothing written beside the folder


def test_a_bad_visit_date_is_named_as_a_date(trace_file):
    result = run_cli("compare", "--visit", f"baseline=2026-1-10:{trace_file}", "--visit", f"week3:{trace_file}")
    assert result.returncode == 2 and "not a date (YYYY-MM-DD): '2026-1-10'" in result.stderr
    assert "not found" not in result.stderr and "Traceback" not in result.stderr


def test_rescore_refuses_to_replace_the_batch_it_reads(tmp_path):
    batch = tmp_path / "scores"
    batch.mkdir()
    (batch / "recordings.csv").write_text("recording_id\n")
    result = run_cli("rescore", batch, "-o", batch)
    assert result.returncode == 7 and "being rescored" in result.stderr
    assert (batch / "recordings.csv").read_text() == "recording_id\n"


def test_outputs_are_readable_like_any_other_file(trace_file, tmp_path):
    """Under umask 022 every output is 0644 (analysis set, trace, report)."""
    out = tmp_path / "out"
    assert run_cli("analyze", trace_file, "-o", out / "v", "-q").returncode == 0
    assert run_cli("report", trace_file, "-o", out / "v").returncode == 0
    mine = list(out.iterdir())
    assert {p.name for p in mine} == {"v.analysis.json", "v.events.csv", "v.minutes.csv", "v.report.html"}
    os.umask(0o022)
    write_trace(Trace(columns={"time_s": np.arange(3.0)}, metadata={}), out / "t.trace.csv")
    for path in [*mine, out / "t.trace.csv"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path


def test_a_set_is_written_whole_or_not_at_all(tmp_path):
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    atomic_write_set({first: "old a", second: "old b"})

    class Unwritable:
        pass

    with pytest.raises(TypeError):
        atomic_write_set({first: "new a", second: Unwritable()})  # the second cannot be written
    assert first.read_text() == "old a" and second.read_text() == "old b"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]  # no temporary files left


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="writes under /proc, which refuses new files")
def test_a_failed_write_names_the_file_asked_for_not_its_temporary_name(tmp_path):
    """A folder where no file can be made (/proc, even for root): the error names the output the
    user gave (or its folder, which cannot be made), never the hidden temporary file beside it."""
    from spasmcv._atomic import atomic_write

    for target in (Path("/proc/spasmcv-out.txt"), Path("/proc/spasmcv-missing/out.txt")):
        with pytest.raises(OSError) as raised:
            with atomic_write(target) as handle:
                handle.write("x")
        assert raised.value.filename in (str(target), str(target.parent)), raised.value
        with pytest.raises(OSError) as raised:
            atomic_write_set({tmp_path / "fine.txt": "a", target: "b"})
        assert raised.value.filename in (str(target), str(target.parent)), raised.value
    assert not (tmp_path / "fine.txt").exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [
    ["probe", "{v}"],
    ["extract", "{v}", "-o", "{out}/t.trace.csv"],
    ["analyze", "{v}", "-o", "{out}/a", "-q", "--save-trace"],
    ["report", "{v}", "-o", "{out}/r"],
    ["annotate", "{v}", "-o", "{out}/v.review.mp4", "-q"],
    ["compare", "--visit", "a:{v}", "--visit", "b:{v}", "-o", "{out}/c", "-q", "--n-boot", "100"],
    ["batch", "{v}", "-o", "{out}/batch", "--workers", "1", "--quiet"],
])
def test_no_command_changes_the_video_it_reads(command, video, tmp_path):
    """Every command that reads a patient's video leaves its bytes (sha256) and mode as they were."""
    from pathlib import Path

    video = Path(video)
    video.chmod(0o444)  # as a clinic's archive would hand it over
    before = sha256(video), video.stat().st_mode
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli(*[part.format(v=video, out=out) for part in command])
    assert result.returncode == 0, result.stderr
    assert (sha256(video), video.stat().st_mode) == before
    assert list(video.parent.glob("patient*")) == [video]  # nothing written beside the input


def test_an_output_prefix_typed_with_one_of_spasmcvs_endings_is_that_prefix(trace_file, tmp_path):
    """-o visit1.analysis.json (or .trace.csv) names the prefix visit1, not visit1.analysis.json.analysis.json."""
    for given in ("visit1.analysis.json", "visit2.trace.csv"):
        result = run_cli("analyze", trace_file, "-o", tmp_path / given, "-q")
        assert result.returncode == 0, result.stderr
        stem = given.split(".")[0]
        assert sorted(p.name for p in tmp_path.glob(f"{stem}*")) == [f"{stem}.analysis.json", f"{stem}.events.csv",
                                                                     f"{stem}.minutes.csv"]


def test_part_of_a_recording_is_analysed_on_its_own_frames(tmp_path, real_video, model_info):
    """`analyze --start-s/--end-s` (one task of a session filmed in one video): the part's frames
    alone, said in the summary and the provenance; a part past the end and an end before the
    start are refused with a message (the latter before any work)."""
    import csv
    import json

    video = real_video("liveportrait/d3.mp4")   # 11.8 s
    env_model = ["--model", str(model_info.path)]
    result = run_cli("analyze", video, "--start-s", "5", "-o", tmp_path / "part", "--save-trace", *env_model)
    assert result.returncode == 0, result.stderr
    assert "part: 5 s to the end" in result.stdout
    analysis = json.loads((tmp_path / "part.analysis.json").read_text())
    assert analysis["provenance"]["time_window_s"] == [5.0, None]
    assert 6 < analysis["metrics"]["quality"]["duration_s"] < 7
    with open(tmp_path / "part.events.csv", newline="") as handle:
        onsets = [float(row["onset_s"]) for row in csv.DictReader(handle)]
    assert onsets and min(onsets) >= 5
    whole = run_cli("analyze", tmp_path / "part.trace.csv", "-o", tmp_path / "whole", "-q")
    assert whole.returncode == 0
    assert json.loads((tmp_path / "whole.analysis.json").read_text())["provenance"]["time_window_s"] is None
    past = run_cli("analyze", tmp_path / "part.trace.csv", "--start-s", "20", "-o", tmp_path / "past", "-q")
    assert past.returncode == 5 and "holds no frames of the recording (its frames run from 0 to 11.8 s)" in past.stderr
    backwards = run_cli("report", video, "--start-s", "5", "--end-s", "3", "-o", tmp_path / "b", *env_model)
    assert backwards.returncode == 2 and "--end-s 3 is not after --start-s 5" in backwards.stderr
    assert not list(tmp_path.glob("past.*")) and not list(tmp_path.glob("b.*"))


def test_a_trace_is_written_only_under_a_csv_name(video, tmp_path):
    """`extract -o` with a name that is not .csv or .csv.gz (a review video's, an analysis's) is
    refused before any work; it used to write the trace there, replacing a spasmcv review video or
    analysis with a CSV."""
    for name in ("visit.review.mp4", "visit.analysis.json"):
        result = run_cli("extract", video, "-o", tmp_path / name, "-q")
        assert result.returncode == 7 and "give a name ending .csv or .csv.gz" in result.stderr, result.stderr
        assert not (tmp_path / name).exists()


def test_an_output_that_is_a_pipe_is_refused_not_waited_on(trace_file, tmp_path):
    """An output name that is a FIFO (or a device) is refused: judging whether it is spasmcv's own
    file used to open it and wait forever."""
    fifo = tmp_path / "visit.events.csv"
    os.mkfifo(fifo)
    result = run_cli("analyze", trace_file, "-o", tmp_path / "visit", "-q")
    assert result.returncode == 7 and "is not a regular file" in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_while_measuring_says_interrupted_and_nothing_else(tmp_path, model_info, real_video):
    """Ctrl-C (SIGINT to the process alone) while `extract` measures a real video: exit 130, one
    line "spasmcv: interrupted", no output file. Before, about one run in six also printed
    "Exception ignored in: FaceLandmarker.__del__ ... TypeError", the model graph being released
    only at interpreter exit; six runs, interrupted at different moments."""
    import signal
    import time

    video = real_video("pyfeat/WolfgangLanger_Pexels.mp4")
    for delay in (1.5, 2.2, 2.9, 3.6, 4.3, 5.0):
        out = tmp_path / f"after_{delay}.trace.csv"
        proc = subprocess.Popen([sys.executable, "-m", "spasmcv", "extract", str(video), "-o", str(out), "--model",
                                 str(model_info.path), "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
        if proc.returncode == 0:   # finished before the signal (a fast machine): nothing to judge
            continue
        assert proc.returncode == 130 and err == "spasmcv: interrupted\n", err
        assert not out.exists()
