import gzip

import numpy as np
import pytest

from spasmcv.errors import TraceError
from spasmcv.measure.trace import Trace, read_trace, write_trace


def _trace(n=5):
    t = np.arange(n) * 0.04
    ear = np.linspace(0.3, 0.1, n)
    ear[2] = np.nan
    return Trace(columns={"frame_index": np.arange(n), "time_s": t, "valid": (np.arange(n) != 2).astype(np.int8),
                          "ear_left": ear, "ear_right": ear[::-1].copy()},
                 metadata={"recording_id": "abc", "video": {"sha256": "00"}, "warnings": ["x"]})


@pytest.mark.parametrize("name", ["t.trace.csv", "t.trace.csv.gz"])
def test_roundtrip_keeps_values_nan_and_metadata(tmp_path, name):
    trace = _trace()
    path = write_trace(trace, tmp_path / name)
    back = read_trace(path)
    assert back.metadata == trace.metadata
    assert list(back.columns) == list(trace.columns)
    np.testing.assert_array_equal(back["frame_index"], trace["frame_index"])
    np.testing.assert_allclose(back["time_s"], trace["time_s"], rtol=1e-6)
    np.testing.assert_allclose(back["ear_left"], trace["ear_left"], rtol=1e-6)
    assert np.isnan(back["ear_left"][2])


def test_writing_is_deterministic(tmp_path):
    a = write_trace(_trace(), tmp_path / "a.csv.gz").read_bytes()
    b = write_trace(_trace(), tmp_path / "b.csv.gz").read_bytes()
    assert a == b


def test_csv_opens_with_a_plain_csv_reader_skipping_comments(tmp_path):
    path = write_trace(_trace(), tmp_path / "t.csv")
    lines = [l for l in path.read_text().splitlines() if not l.startswith("#")]
    assert lines[0] == "frame_index,time_s,valid,ear_left,ear_right"
    assert lines[3].split(",")[3] == ""  # NaN is an empty field


def test_failed_write_leaves_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("old")
    bad = Trace(columns={"time_s": np.zeros(2)}, metadata={"bad": float("nan")})  # NaN is not JSON
    with pytest.raises(ValueError):
        write_trace(bad, path)
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


@pytest.mark.parametrize("content, message", [
    (b"", "not a spasmcv trace"),
    (b"a,b\n1,2\n", "not a spasmcv trace"),
    (b'# format: "spasmcv-trace"\n# format_version: 99\na\n1\n', "version 99"),
    (b'# format: "spasmcv-trace"\n# format_version: 1\ntime_s,ear_left\n0,0.3\n0.04\n', "wrong number"),
    (b'# format: "spasmcv-trace"\n# format_version: 1\ntime_s\nabc\n', "non-number"),
    (gzip.compress(b"x")[:-4], "cannot read"),
])
def test_malformed_traces_give_a_trace_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(TraceError, match=message) as info:
        read_trace(path)
    assert "bad.csv" in str(info.value)


def test_missing_trace_file(tmp_path):
    with pytest.raises(TraceError, match="cannot read"):
        read_trace(tmp_path / "nope.csv")


def _write_rows(path, header, rows):
    path.write_text('# format: "spasmcv-trace"\n# format_version: 1\n' + header + "\n"
                    + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


@pytest.mark.parametrize("rows, message", [
    ([(0, 0.0, 1, 0.3, 0.3), (1, 0.04, 1, 0.3, 0.3), (2, 0.02, 1, 0.3, 0.3)], "line 6: time_s 0.02 s does not follow 0.04"),
    ([(0, 0.0, 1, 0.3, 0.3), (1, 0.0, 1, 0.3, 0.3)], "line 5: time_s 0 s does not follow 0"),
    ([(0, 0.0, 1, 0.3, 0.3), (1, "", 1, 0.3, 0.3)], "line 5: time_s is empty or not finite"),
    ([(0, 0.0, 1, 0.3, 0.3), (1, 0.04, 2, 0.3, 0.3)], "line 5: valid must be 0 or 1"),
    ([(0, 0.0, 1, 0.3, 0.3), (1, 1e9, 1, 0.3, 0.3)], "line 5: time_s jumps from 0 s to 1e\\+09 s, more than 1 h"),
])
def test_broken_traces_are_trace_errors_naming_the_line(tmp_path, rows, message):
    path = _write_rows(tmp_path / "t.trace.csv", "frame_index,time_s,valid,ear_left,ear_right", rows)
    with pytest.raises(TraceError, match=message):
        read_trace(path)


@pytest.mark.parametrize("value, message", [
    ("1e300", "line 4: ear_left 1e\\+300 is no eye's aspect ratio"),
    ("inf", "line 4: ear_left inf is no eye's aspect ratio"),
    ("-5", "line 4: ear_left -5 is no eye's aspect ratio"),
])
def test_an_eye_aspect_ratio_no_eye_can_have_is_a_trace_error(tmp_path, value, message):
    """An edited trace's impossible value changed the closures it was read into; it is refused
    naming the line (an empty field, not measured, stays allowed)."""
    path = _write_rows(tmp_path / "t.trace.csv", "frame_index,time_s,valid,ear_left,ear_right",
                       [(0, 0.0, 1, value, 0.3), (1, 0.04, 0, "", "")])
    with pytest.raises(TraceError, match=message):
        read_trace(path)
    assert np.isnan(read_trace(_write_rows(tmp_path / "u.trace.csv", "frame_index,time_s,valid,ear_left,ear_right",
                                           [(0, 0.0, 0, "", 0.3)]))["ear_left"][0])
    # a squeezed mesh at a turned head reads over 1 (2.01 in a real outside clip, pc_interview): kept
    assert read_trace(_write_rows(tmp_path / "v.trace.csv", "frame_index,time_s,valid,ear_left,ear_right",
                                  [(0, 0.0, 1, 0.3, 2.01229)]))["ear_right"][0] == pytest.approx(2.01229)


def test_a_column_named_twice_is_a_trace_error(tmp_path):
    """Two columns of one name: the last one used to win silently (two `valid` columns: graded
    or not, by their order)."""
    path = _write_rows(tmp_path / "t.trace.csv", "frame_index,time_s,valid,ear_left,ear_right,valid",
                       [(0, 0.0, 1, 0.3, 0.3, 0)])
    with pytest.raises(TraceError, match="valid are named twice"):
        read_trace(path)


def test_a_trace_of_the_current_signals_lacking_a_gate_column_is_a_trace_error(tmp_path):
    """A trace this spasmcv extracted always holds the quality gate's columns; without one (an
    edited file) the gate took a head turned 60 degrees as frontal and graded it. A trace saved
    with a byte-order mark (a spreadsheet) reads as it is."""
    from spasmcv.measure.extract import SIGNALS_VERSION
    from spasmcv.measure.trace import EXTRACTED_COLUMNS

    columns = {"frame_index": np.arange(3), "time_s": np.arange(3) * 0.04, "valid": np.ones(3, np.int8),
               "ear_left": np.full(3, 0.3), "ear_right": np.full(3, 0.3)}
    columns |= {name: np.ones(3) for name in EXTRACTED_COLUMNS}
    whole = Trace(columns=columns, metadata={"signals_version": SIGNALS_VERSION})
    write_trace(whole, tmp_path / "whole.trace.csv")
    assert len(read_trace(tmp_path / "whole.trace.csv")) == 3
    (tmp_path / "bom.trace.csv").write_bytes(b"\xef\xbb\xbf" + (tmp_path / "whole.trace.csv").read_bytes())
    assert len(read_trace(tmp_path / "bom.trace.csv")) == 3
    del columns["head_yaw_deg"]
    write_trace(Trace(columns=columns, metadata={"signals_version": SIGNALS_VERSION}), tmp_path / "edited.trace.csv")
    with pytest.raises(TraceError, match=f"lacks the column.s. head_yaw_deg, which signals {SIGNALS_VERSION} always"):
        read_trace(tmp_path / "edited.trace.csv")
    write_trace(Trace(columns=columns, metadata={"signals_version": "eyelid-1"}), tmp_path / "old.trace.csv")
    assert len(read_trace(tmp_path / "old.trace.csv")) == 3   # an older extraction's columns are its own


def test_a_trace_without_a_required_column_is_a_trace_error(tmp_path):
    path = _write_rows(tmp_path / "t.trace.csv", "frame_index,time_s,valid,ear_left", [(0, 0.0, 1, 0.3)])
    with pytest.raises(TraceError, match="lacks the column.*ear_right"):
        read_trace(path)


def test_analysis_refuses_times_that_go_backwards_in_memory():
    from spasmcv.analysis.analyze import analyze_trace
    from spasmcv.measure.trace import Trace

    t = np.arange(100) / 25.0
    t[50:] -= 1.0
    columns = {"time_s": t, "valid": np.ones(100, dtype=np.int8), "ear_left": np.full(100, 0.3),
               "ear_right": np.full(100, 0.3)}
    with pytest.raises(TraceError, match="row 51"):
        analyze_trace(Trace(columns=columns, metadata={"recording_id": "r"}))


def test_a_table_that_is_not_a_trace_is_a_trace_error_on_the_command_line(tmp_path):
    import subprocess
    import sys

    table = tmp_path / "scores.csv"
    table.write_text("id,score\n1,2\n")
    result = subprocess.run([sys.executable, "-m", "spasmcv", "analyze", str(table), "-o", str(tmp_path / "x")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 5 and "not a spasmcv trace" in result.stderr and "Traceback" not in result.stderr


def test_a_parts_frame_warnings_are_its_own_and_the_files_stay():
    """A second face seen only in the second half of a guided recording is warned for that part,
    with its own count, and not for the first; a warning about the file stays with every part."""
    from spasmcv.measure.trace import frame_warnings, time_window

    n = 100
    columns = {"time_s": np.arange(n) * 0.1, "valid": np.ones(n, np.int8), "face_detected": np.ones(n, np.int8),
               "n_faces": np.where(np.arange(n) >= 70, 2, 1), "face_size_px": np.full(n, 300.0),
               "subject_track": np.zeros(n), "shot": np.zeros(n)}
    file_warning = "variable frame rate: frame times are taken from the container's timestamps"
    whole = Trace(columns=columns, metadata={"warnings": frame_warnings(columns) + [file_warning],
                                             "subject_reacquisitions": 0})
    assert "several faces were visible in 30 frames" in whole.metadata["warnings"][0]
    first, second = time_window(whole, 0.0, 5.0), time_window(whole, 5.0, 10.0)
    assert first.metadata["warnings"] == [file_warning]
    assert second.metadata["warnings"][0].startswith("several faces were visible in 30 frames")
    assert second.metadata["warnings"][1:] == [file_warning]
    clean = Trace(columns=dict(columns), metadata={"warnings": []})   # a part warns where the whole need not
    columns["valid"][80:] = 0   # the eyes lost for half of the second part
    assert time_window(clean, 6.0, 10.0).metadata["warnings"][0].startswith("the eyes were measurable in only 50%")
    assert "the eyes were measurable in only 50% of frames" in time_window(whole, 6.0, 10.0).metadata["warnings"][0]


def test_a_part_starting_at_a_frames_time_keeps_that_frame():
    """Frame times carry rounding (7.3999999999999995 for the frame at 7.4 s at 30 frames/s): a part
    from 7.4 s to 22.4 s holds its 450 frames, and consecutive parts share none and miss none."""
    from spasmcv.measure.trace import time_window

    n = 900
    time_s = np.arange(n) * (1 / 30.0)   # as frame index times the frame interval
    assert time_s[222] < 7.4   # 7.3999999999999995
    trace = Trace(columns={"time_s": time_s, "valid": np.ones(n, np.int8)}, metadata={})
    assert len(time_window(trace, 7.4, 22.4)) == 450
    edges = [0.0, 7.4, 14.8, 22.2, 30.0]
    parts = [time_window(trace, a, b) for a, b in zip(edges, edges[1:])]
    assert sum(len(p) for p in parts) == n
    assert len(np.unique(np.concatenate([p["time_s"] for p in parts]))) == n
