"""The one settings tree: the same --set keys on every command that computes, recorded typed."""

import json
import subprocess
import sys

import numpy as np
import pytest

from spasmcv.errors import SettingsError
from spasmcv.measure.trace import Trace, write_trace
from spasmcv.settings import Settings, digest, with_overrides
from helpers import T, profile, trace_columns


def test_overrides_reach_every_branch_and_unknown_keys_are_named():
    s = with_overrides(Settings(), ["analysis.quality.max_yaw_deg=20", "measure.mirrored=true",
                                    "analysis.closure.closed_ratio_bounds=[0.01, 0.3]"])
    assert s.analysis.quality.max_yaw_deg == 20 and s.measure.mirrored is True
    assert s.analysis.closure.closed_ratio_bounds == (0.01, 0.3)
    assert digest(s) != digest(Settings()) and digest(Settings()) == digest(Settings())
    with pytest.raises(SettingsError, match="choose from measure, analysis|choose from analysis, measure"):
        with_overrides(Settings(), ["tracker.num_faces=1"])
    with pytest.raises(SettingsError, match="KEY=VALUE"):
        with_overrides(Settings(), ["analysis.events.spasm_s"])


def test_text_where_a_number_is_expected_is_refused_and_null_switches_a_rule_off():
    """A typo such as ``none`` or ``1,5`` for a number is a message naming the setting, not a
    traceback deep in the analysis; JSON null turns off the rules that take None."""
    for item in ("analysis.quality.max_near_eye_yaw_deg=none", "analysis.events.spasm_s=1,5"):
        with pytest.raises(SettingsError, match="not the text"):
            with_overrides(Settings(), [item])
    s = with_overrides(Settings(), ["analysis.quality.max_near_eye_yaw_deg=null", "analysis.closure.measure=ear"])
    assert s.analysis.quality.max_near_eye_yaw_deg is None and s.analysis.closure.measure == "ear"


def test_a_whole_number_for_a_decimal_setting_is_the_same_setting():
    """``spasm_s=2`` and ``spasm_s=2.0`` are one setting: one digest (one cache entry in a batch)
    and one ``analysis_settings`` text, where they made two."""
    from spasmcv.analysis.analyze import changed_settings
    from dataclasses import asdict

    whole, decimal = (with_overrides(Settings(), [f"analysis.events.spasm_s={v}"]) for v in ("2", "2.0"))
    assert whole == decimal and digest(whole) == digest(decimal)
    assert changed_settings(asdict(whole.analysis)) == changed_settings(asdict(decimal.analysis)) \
        == "analysis.events.spasm_s=2.0"
    assert with_overrides(Settings(), ["measure.tracker.num_faces=1"]).measure.tracker.num_faces == 1   # ints stay


@pytest.fixture
def trace_file(tmp_path):
    closure = sum(profile(T, t0, 0.08, 0.03, 0.15) for t0 in np.arange(1, 59, 3.1)) + profile(T, 30, 0.1, 1.5, 0.2)
    return write_trace(Trace(columns=trace_columns(closure), metadata={"recording_id": "r1", "warnings": []}),
                       tmp_path / "v.trace.csv")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "spasmcv", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_analyze_takes_set_and_records_it(trace_file, tmp_path):
    plain = cli("analyze", trace_file, "-o", tmp_path / "plain", "-q")
    strict = cli("analyze", trace_file, "-o", tmp_path / "strict", "-q", "--set", "analysis.events.spasm_s=5")
    assert plain.returncode == 0 and strict.returncode == 0, strict.stderr
    a = json.loads((tmp_path / "plain.analysis.json").read_text())
    b = json.loads((tmp_path / "strict.analysis.json").read_text())
    assert b["provenance"]["settings"]["events"]["spasm_s"] == 5
    assert a["metrics"]["left"]["spasm_count"] == 1 and b["metrics"]["left"]["spasm_count"] == 0


@pytest.mark.parametrize("command", ["analyze", "report"])
def test_an_unknown_setting_is_a_usage_error(command, trace_file, tmp_path):
    result = cli(command, trace_file, "-o", tmp_path / "x", "--set", "events.spasm_s=5")
    assert result.returncode == 2 and "did you mean analysis.events.spasm_s" in result.stderr
    assert "Traceback" not in result.stderr and not list(tmp_path.glob("x.*"))


def test_rescore_refuses_measure_settings(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "jobs.json").write_text("[]")
    result = cli("rescore", tmp_path / "b", "-o", tmp_path / "c", "--set", "measure.mirrored=true")
    assert result.returncode == 2 and "measure.* settings cannot change" in result.stderr


def test_event_durations_out_of_order_are_refused():
    """A spasm shorter than a prolonged closure would label closures with impossible ranges
    ("prolonged closures 0.5-0.3 s")."""
    for items in (["analysis.events.spasm_s=0.3"], ["analysis.events.prolonged_s=2"], ["analysis.events.prolonged_s=0"]):
        with pytest.raises(SettingsError, match="must be above 0 and below analysis.events.spasm_s"):
            with_overrides(Settings(), items)
    with pytest.raises(SettingsError, match="analysis.events.spasm_s takes seconds"):
        with_overrides(Settings(), ["analysis.events.spasm_s=null"])
    s = with_overrides(Settings(), ["analysis.events.spasm_s=0.3", "analysis.events.prolonged_s=0.2"])
    assert (s.analysis.events.prolonged_s, s.analysis.events.spasm_s) == (0.2, 0.3)


def test_measure_settings_for_a_trace_are_refused_not_ignored(trace_file, tmp_path):
    """A trace is measured already: a measure.* setting given with one would change nothing."""
    result = cli("analyze", trace_file, "-o", tmp_path / "x", "--set", "measure.tracker.num_faces=1")
    assert result.returncode == 2 and "is a trace, measured already: measure.* settings" in result.stderr
    assert "Traceback" not in result.stderr and not list(tmp_path.glob("x.*"))


def test_every_setting_is_described_and_the_reference_is_up_to_date():
    """Every ``--set`` key has a description in its settings class's docstring, and
    docs/settings.md is what scripts/settings_reference.py writes from them (a definitions audit
    found 21 keys named nowhere in the docs)."""
    from conftest import REPO
    from spasmcv.settings import settings_reference

    rows = settings_reference()
    assert len(rows) > 60 and all(description for _, _, description in rows), \
        [key for key, _, description in rows if not description]
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "settings_reference.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    text = (REPO / "docs" / "settings.md").read_text()
    assert all(f"`{key}`" in text for key, _, _ in rows)
