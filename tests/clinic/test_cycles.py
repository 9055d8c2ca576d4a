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
    # a touch-up eight days later: the first injection's cycle ends before any visit after it, and
    # the touch-up has no baseline after the first injection (said so, not 'no visit before it')
    visits = [visit("before", dt.date(2026, 1, 10), 6, 1), visit("week 4", dt.date(2026, 2, 9), 0, 2)]
    first, touch_up = treatment_cycles(visits, [Treatment(injection_date=dt.date(2026, 1, 12)),
                                                Treatment(injection_date=dt.date(2026, 1, 20))],
                                       settings=CompareSettings(n_boot=200))
    assert first.describe() == ("Injection 2026-01-12: the next injection, 2026-01-20, came before any gradable "
                                "visit after it (baseline before).")
    assert touch_up.describe() == ("Injection 2026-01-20: no gradable visit in the 60 days before it, after the "
                                   "injection of 2026-01-12, so its effect cannot be judged.")


def test_the_verdict_compares_the_current_cycle_and_times_each_visit_against_its_injection():
    """With two injections the verdict is the latest cycle's: its baseline (the visit on or before
    the injection day) and the visits after it; earlier visits and a visit with a mistyped year stay out."""
    from spasmcv.clinic.compare import compare_visits
    from spasmcv.clinic.cycles import current_cycle

    base, week4 = visit("baseline", dt.date(2026, 1, 10), 6, 1), visit("week 4", dt.date(2026, 2, 9), 0, 2)
    week13, after2 = visit("week 13", dt.date(2026, 4, 13), 6, 4), visit("after 2nd", dt.date(2026, 5, 4), 0, 5)
    typo = visit("typo", dt.date(2025, 2, 16), 0, 6)   # 2026 typed as 2025
    first, second = (Treatment(injection_date=dt.date(2026, 1, 12), dose_units=25),
                     Treatment(injection_date=dt.date(2026, 4, 14), dose_units=30))
    chosen, treatment, note = current_cycle([typo, base, week4, week13, after2], [first, second])
    assert [v.label for v in chosen] == ["week 13", "after 2nd"] and treatment == second and note == ""
    verdict = compare_visits(chosen, treatment=treatment, settings=CompareSettings(n_boot=300)).verdict
    assert "Severity fell from grade 3 to grade 0 after the injection" in verdict
    assert "after 2nd (2.9 weeks after the injection" in verdict and "before the injection" not in verdict
    # a visit on an injection's day is filmed before injecting: it closes the cycle before
    on_day = visit("pre 2nd", dt.date(2026, 4, 14), 6, 7)
    chosen, treatment, _ = current_cycle([base, week4, on_day], [first, second])
    assert [v.label for v in chosen] == ["baseline", "week 4", "pre 2nd"] and treatment == first
    # without an injection before the last visit: every visit, in date order
    chosen, treatment, _ = current_cycle([week4, base], [])
    assert [v.label for v in chosen] == ["baseline", "week 4"] and treatment is None
    # no gradable visit before the injection, or one long before it: said
    chosen, _, note = current_cycle([week4, week13], [first])
    assert [v.label for v in chosen] == ["week 4", "week 13"] and "the first visit after it, week 4" in note
    # a baseline as the treatment cycles take it: within 60 days and after any earlier injection
    chosen, _, note = current_cycle([typo, week4], [first])
    assert [v.label for v in chosen] == ["week 4"] and "no gradable visit in the 60 days before" in note
    week7 = visit("week 7", dt.date(2026, 3, 1), 0, 8)
    chosen, _, note = current_cycle([base, week4, week7, after2], [first, second])   # week 4: 64 days before
    assert [v.label for v in chosen] == ["week 7", "after 2nd"] and note == ""
    chosen, _, note = current_cycle([base, week4, after2], [first, second])
    assert [v.label for v in chosen] == ["after 2nd"] and "no gradable visit in the 60 days before" in note
    chosen, _, note = current_cycle([base, after2], [first, second])   # January is before the first injection
    assert [v.label for v in chosen] == ["after 2nd"] and "2026-04-14" in note


def test_a_visit_on_the_next_injections_day_ends_its_cycle_and_begins_the_next():
    """Film, then re-inject: the visit of the re-injection day shows how long the first injection
    lasted, and is the second's baseline."""
    visits = [visit("baseline", dt.date(2026, 1, 10), 6, 1), visit("week 4", dt.date(2026, 2, 9), 0, 2),
              visit("week 12", dt.date(2026, 4, 6), 6, 3), visit("after 2nd", dt.date(2026, 5, 4), 0, 5)]
    treatments = [Treatment(injection_date=dt.date(2026, 1, 12)), Treatment(injection_date=dt.date(2026, 4, 6))]
    first, second = treatment_cycles(visits, treatments, settings=CompareSettings(n_boot=300))
    assert first.follow_up == ("week 4", "week 12") and first.worn_off_visit == "week 12"
    assert second.baseline == "week 12" and second.follow_up == ("after 2nd",)


def test_visits_before_the_injection_and_different_tasks_are_worded_so():
    from spasmcv.clinic.compare import compare_visits

    base = visit("baseline", dt.date(2026, 1, 10), 6, 1)
    talk = Visit(label="week 4", trace=visit("x", dt.date(2026, 2, 9), 0, 2).trace, date=dt.date(2026, 2, 9),
                 analysis=analyze_trace(visit("x", dt.date(2026, 2, 9), 0, 2).trace, task="conversation"))
    c = compare_visits([base, talk], treatment=Treatment(injection_date=dt.date(2026, 3, 2)),
                       settings=CompareSettings(n_boot=300))
    assert "week 4 (3 weeks before the injection" in c.verdict and "after the injection" not in c.verdict
    assert "recorded during different tasks (rest: baseline; conversation: week 4)" in c.verdict
    # a treatment cycle across two tasks says so too
    cycle, = treatment_cycles([base, talk], [Treatment(injection_date=dt.date(2026, 1, 12))],
                              settings=CompareSettings(n_boot=300))
    assert cycle.note and cycle.describe().endswith("(conversation, rest), whose blink rates differ: the change is "
                                                    "not the injection's alone.")


def test_a_visits_interval_does_not_depend_on_the_other_visits():
    from spasmcv.clinic.compare import compare_visits

    a, b, c = (visit("a", dt.date(2026, 1, 10), 6, 1), visit("b", dt.date(2026, 2, 9), 0, 2),
               visit("c", dt.date(2026, 3, 9), 1, 3))
    settings = CompareSettings(n_boot=300)
    pair, triple = compare_visits([a, c], settings=settings), compare_visits([a, b, c], settings=settings)
    assert pair.summary[1]["severity_index_ci"] == triple.summary[2]["severity_index_ci"]
    assert pair.summary[1]["index_change_ci"] == triple.summary[2]["index_change_ci"]
    # so replicates drawn once can be handed on, with the same result (as the clinic application does)
    import json
    reused = compare_visits([a, c], settings=settings, replicates=triple.replicates)
    assert json.dumps(reused.to_dict(), default=str) == json.dumps(pair.to_dict(), default=str)
    cycles = treatment_cycles([a, b, c], [Treatment(injection_date=dt.date(2026, 1, 12))], settings=settings,
                              replicates=triple.replicates)
    assert cycles[0].best_index_change_ci == treatment_cycles(
        [a, b, c], [Treatment(injection_date=dt.date(2026, 1, 12))], settings=settings)[0].best_index_change_ci


def test_the_report_gives_every_cycle_only_when_the_verdict_leaves_some_out():
    """The report's verdict is the latest cycle; earlier injections get their own section (with
    the whole course plotted), which a single cycle covering every visit does not need."""
    from spasmcv.clinic.compare import compare_visits
    from spasmcv.clinic.cycles import current_cycle
    from spasmcv.clinic.report import render_report

    from helpers import recording_trace

    def recorded(label, date, spasms, seed):   # with a face's columns, which the report's quality plots need
        closure = 1 - visit(label, date, spasms, seed).trace.columns["aperture_mm_left"] / 10
        trace = recording_trace(closure, label, seed=seed)
        return Visit(label=label, trace=trace, analysis=analyze_trace(trace), date=date)

    settings = CompareSettings(n_boot=200)
    visits = [recorded("baseline", dt.date(2026, 1, 10), 6, 1), recorded("week 4", dt.date(2026, 2, 9), 0, 2),
              recorded("week 13", dt.date(2026, 4, 13), 6, 4), recorded("after 2nd", dt.date(2026, 5, 4), 0, 5)]
    treatments = [Treatment(injection_date=dt.date(2026, 1, 12), dose_units=25),
                  Treatment(injection_date=dt.date(2026, 4, 14), dose_units=30)]
    for upto, sections in ((2, 0), (4, 1)):
        course = compare_visits(visits[:upto], settings=settings)
        shown, treatment, _ = current_cycle(visits[:upto], treatments[:upto // 2])
        current = compare_visits(shown, treatment=treatment, settings=settings, replicates=course.replicates)
        cycles = treatment_cycles(visits[:upto], treatments[:upto // 2], settings=settings,
                                  replicates=course.replicates)
        html = render_report(current, cycles=cycles, course=course)
        assert html.count("<h2>Every treatment cycle</h2>") == sections
        assert html.count("id='course-plot'") == sections
    assert "worn off by week 13 (13 weeks)" in html and "Injection 2026-04-14: best response at after 2nd" in html
