"""Every number the toolkit writes has a named definition in the docs.

Each key of ``PREFIX.analysis.json`` and ``PREFIX.comparison.json``, each column of the events,
minutes, comparison and batch tables, is looked for in the docs that define it, written as code
(between backticks). The keys are those of a real analysis of Talking Face (a real video through
the real model), so a key added to an output without a definition fails here.
(docs/settings.md's own test covers every setting's description.)
"""

import datetime as dt

import pytest

from conftest import REPO
from doc_names import ANALYSIS_PAGES, BATCH_RULES, batch_column_key, named_in, undefined_columns


def key_paths(value, path=()):
    """Every key of nested dicts (through lists) as a path of keys."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield path + (key,)
            yield from key_paths(inner, path + (key,))
    elif isinstance(value, list):
        for inner in value:
            yield from key_paths(inner, path + ("[]",))


def undefined(paths, names: set[str]) -> list[str]:
    return sorted({".".join(p) for p in paths if p[-1] not in names})


@pytest.fixture(scope="module")
def franck(real_trace):
    from spasmcv.analysis.analyze import analyze_trace

    trace = real_trace("talkingface/franck.webm")
    return trace, analyze_trace(trace, task="conversation")


def test_named_in_reads_code_spans_only(tmp_path):
    (tmp_path / "page.md").write_text("`spasm_count` and `left_KEY`, but closure_count in prose\n```\ncode block\n```\n")
    names = named_in("page.md", docs=tmp_path)
    assert names == {"spasm_count", "left_KEY"}
    assert undefined([("metrics", "spasm_count"), ("metrics", "closure_count")], names) == ["metrics.closure_count"]
    assert batch_column_key("left_spasm_count", names) == "spasm_count"
    assert batch_column_key("left_closure_count", names) is None


def test_every_key_of_the_analysis_json_is_defined(franck):
    from spasmcv._tables import json_safe

    _, analysis = franck
    recording = json_safe(analysis.recording)
    assert recording["intensity"]["left"] and recording["severity"]["if_review_closed"]   # the rarer branches are there
    assert undefined(key_paths(recording), named_in(*ANALYSIS_PAGES)) == []


def test_every_column_of_the_events_and_minutes_tables_is_defined(franck):
    from spasmcv.analysis.analyze import EVENT_COLUMNS, MINUTE_COLUMNS

    _, analysis = franck
    assert set(analysis.events.summary()[0]) == set(EVENT_COLUMNS)
    assert set(analysis.per_minute[0]) == set(MINUTE_COLUMNS)
    names = named_in("analysis.md")
    assert [c for c in EVENT_COLUMNS + MINUTE_COLUMNS if c not in names] == []


def test_every_column_of_the_batch_recordings_table_is_defined(franck):
    from spasmcv.study.inputs import Job
    from spasmcv.study.result import RecordingResult, recording_columns, recording_row
    from spasmcv.study.tables import table_rows

    trace, analysis = franck
    result = RecordingResult(recording_id=analysis.recording["recording_id"], status="ok", error="",
                             task="conversation", row=recording_row(analysis, trace))
    # the columns a batch writes when no row was scored are those of a real recording, in order
    assert tuple(result.row) == recording_columns()
    (row,), _, _ = table_rows([Job(input_index=0, path=REPO / "franck.webm")], [result])
    batch_page = (REPO / "docs" / "batch.md").read_text(encoding="utf-8")
    assert [rule for rule in BATCH_RULES.values() if rule not in batch_page] == []
    assert undefined_columns(row) == []


def test_every_key_of_the_comparison_json_and_csv_is_defined(franck):
    from spasmcv._tables import json_safe
    from spasmcv.clinic.compare import (COMPARISON_CSV_COLUMNS, CompareSettings, Treatment, Visit,
                                        compare_visits)
    from spasmcv.measure.trace import Trace

    trace, _ = franck
    half = len(trace) // 2

    def part(start, stop):
        columns = {name: values[start:stop].copy() for name, values in trace.columns.items()}
        columns["time_s"] -= columns["time_s"][0]
        return Trace(columns, dict(trace.metadata))

    visits = [Visit.from_trace("first", part(0, half), task="conversation", date=dt.date(2026, 1, 10)),
              Visit.from_trace("second", part(half, len(trace)), task="conversation", date=dt.date(2026, 2, 10))]
    comparison = compare_visits(visits, treatment=Treatment(dt.date(2026, 1, 12), "onabotulinumtoxinA", 25),
                                settings=CompareSettings(n_boot=50))
    content = json_safe({"patient_id": "P-01", **comparison.to_dict()})
    assert undefined(key_paths(content), named_in("report.md", *ANALYSIS_PAGES)) == []
    assert [c for c in COMPARISON_CSV_COLUMNS if c not in named_in("report.md")] == []
