"""Treatment cycles on array traces: best response, when the benefit wore off, no baseline."""

import datetime as dt

import numpy as np

from spasmcv.analysis.analyze import analyze_trace
from spasmcv.clinic.compare import CompareSettings, Treatment, Visit
from spasmcv.clinic.cycles import treatment_cycles
from spasmcv.measure.trace import Trace
from helpers import T, profile, trace_columns


def visit(label: str, date: dt.date, spasms: int, seed: int) -> Visit:
    """60 s with 19 blinks and ``spasms`` closures of 3 s (frequency grade 3 from 1 spasm/min)."""
    closure = sum(profile(T, t0, 0.08, 0.03, 0.15) for t0 in np.arange(1, 59, 3.1))
    for k in range(spasms):
        closure = closure + profile(T, 4.5 + 55 * k / max(spasms, 1), 0.1, 3, 0.2)
    trace = Trace(columns=trace_columns(np.clip(closure, 0, 1), seed=seed), metadata={"recording_id": label})
    return Visit(label=label, trace=trace, analysis=analyze_trace(trace), date=date)


def test_best_response_and_when_the_benefit_wore_off():
    visits = [visit("baseline", dt.date(2026, 1, 10), 6, 1), visit("week 4", dt.date(2026, 2, 9), 0, 2),
              visit("week 8", dt.date(2026, 3, 9), 1, 3), visit("week 13", dt.date(2026, 4, 13), 6, 4),
              visit("after 2nd", dt.date(2026, 5, 4), 0, 5)]
    treatments = [Treatment(injection_date=dt.date(2026, 1, 12), dose_units=25),
                  Treatment(injection_date=dt.date(2026, 4, 14), dose_units=30)]
    first, second = treatment_cycles(visits, treatments, settings=CompareSettings(n_boot=400))
    assert first.baseline == "baseline" and first.follow_up == ("week 4", "week 8", "week 13")
    assert first.best_visit == "week 4" and first.clear_benefit
    assert first.best_weeks == (dt.date(2026, 2, 9) - dt.date(2026, 1, 12)).days / 7
    assert first.best_index_change < 0 and first.best_index_change_ci[1] < 0
    assert first.worn_off_visit == "week 13" and not first.benefit_still_present
    assert "worn off by week 13" in first.describe()
    # the second injection is judged from the visit the day before it
    assert second.baseline == "week 13" and second.follow_up == ("after 2nd",)
    assert second.benefit_still_present and "still present" in second.describe()


def test_a_cycle_without_a_baseline_is_said_so():
    visits = [visit("week 4", dt.date(2026, 2, 9), 0, 2)]
    (cycle,) = treatment_cycles(visits, [Treatment(injection_date=dt.date(2026, 1, 12))])
    assert cycle.baseline is None and "cannot be judged" in cycle.describe()
