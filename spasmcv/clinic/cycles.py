"""Treatment cycles: how well and how long each botulinum toxin injection worked.

A cycle runs from one injection to the next. Its **baseline** is the last gradable visit on or
before the injection day (at most ``max_baseline_days`` before it, and after the injection before
it); its follow-up visits are the gradable visits after the injection up to the next one's day (a
visit on that day is filmed before re-injecting: it ends this cycle and is the next one's
baseline). Each cycle is a visit comparison
(:func:`spasmcv.clinic.compare.compare_visits`, baseline first), so every figure below comes with
the comparison's bootstrap intervals and no measurement is re-implemented:

* **best response**: the follow-up visit with the lowest severity index, its index change from
  baseline with the 95 % interval, and the weeks from the injection to it;
* **benefit**: "clear" when the best response's interval lies entirely below zero; the benefit
  has **worn off** at the first follow-up visit after the best response whose index-change
  interval reaches zero again (back within the baseline's range), and lasted until then; when no
  such visit exists it is still present at the last visit;
* **ptosis**: the follow-up visits flagged with possible ptosis (open-eye aperture clearly below
  baseline, docs/report.md);
* **note**: said when the cycle's visits were recorded during different tasks (their normal blink
  rates differ, so the change is not the injection's alone).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from spasmcv.clinic.compare import Comparison, Treatment, Visit, compare_visits, weeks_since


#: Injections fewer days apart than this are pointed out: one treatment entered twice, or a
#: touch-up, which the cycles take as an injection of its own.
CLOSE_INJECTION_DAYS = 14


def close_injections(treatments: list[Treatment]) -> list[tuple[dt.date, dt.date]]:
    """Pairs of consecutive injection days fewer than :data:`CLOSE_INJECTION_DAYS` apart."""
    days = sorted(t.injection_date for t in treatments if t.injection_date)
    return [(a, b) for a, b in zip(days, days[1:]) if (b - a).days < CLOSE_INJECTION_DAYS]


@dataclass(frozen=True)
class Cycle:
    """One injection and the visits it is judged by."""

    treatment: Treatment
    baseline: str | None                       # visit label, None without a gradable baseline
    follow_up: tuple[str, ...] = ()
    comparison: Comparison | None = None
    best_visit: str | None = None
    best_weeks: float = float("nan")
    best_index_change: float = float("nan")
    best_index_change_ci: tuple[float, float] = (float("nan"), float("nan"))
    clear_benefit: bool = False
    worn_off_visit: str | None = None
    worn_off_weeks: float = float("nan")
    benefit_still_present: bool = False
    ptosis_visits: tuple[str, ...] = field(default_factory=tuple)
    note: str = ""
    previous_injection: dt.date | None = None   # the injections before and after this one, if any
    next_injection: dt.date | None = None
    max_baseline_days: int = 60

    def describe(self) -> str:
        """The cycle in one or two sentences for the clinician."""
        when = self.treatment.injection_date.isoformat() if self.treatment.injection_date else "undated"
        if self.baseline is None:
            after = f", after the injection of {self.previous_injection.isoformat()}" if self.previous_injection else ""
            return (f"Injection {when}: no gradable visit in the {self.max_baseline_days} days before it{after}, "
                    "so its effect cannot be judged.")
        if not self.follow_up:
            if self.next_injection:
                return (f"Injection {when}: the next injection, {self.next_injection.isoformat()}, came before any "
                        f"gradable visit after it (baseline {self.baseline}).")
            return f"Injection {when}: no gradable visit after it yet (baseline {self.baseline})."
        lo, hi = self.best_index_change_ci
        text = (f"Injection {when}: best response at {self.best_visit} ({self.best_weeks:.0f} weeks after), "
                f"index change {self.best_index_change:+.0f} (95 % CI {lo:+.0f} to {hi:+.0f}) from baseline "
                f"{self.baseline}; ")
        if not self.clear_benefit:
            text += "no clear benefit."
        elif self.worn_off_visit:
            text += (f"the benefit had worn off by {self.worn_off_visit} ({self.worn_off_weeks:.0f} weeks after "
                     "the injection).")
        elif self.benefit_still_present:
            text += f"the benefit was still present at the last visit, {self.follow_up[-1]}."
        if self.ptosis_visits:
            text += f" Possible ptosis at {', '.join(self.ptosis_visits)}."
        return f"{text} {self.note}" if self.note else text


def treatment_cycles(visits: list[Visit], treatments: list[Treatment], *, max_baseline_days: int = 60,
                     **compare_kwargs) -> list[Cycle]:
    """One :class:`Cycle` per dated treatment, in date order.

    ``visits`` need dates; ungradable visits are left out of every cycle (they have no grade).
    ``compare_kwargs`` go to :func:`~spasmcv.clinic.compare.compare_visits` (e.g. ``settings``).
    """
    dated = sorted((t for t in treatments if t.injection_date), key=lambda t: t.injection_date)
    gradable = sorted((v for v in visits if v.date and v.analysis.recording["severity"]["gradable"]),
                      key=lambda v: v.date)
    cycles = []
    for k, treatment in enumerate(dated):
        day = treatment.injection_date
        end = dated[k + 1].injection_date if k + 1 < len(dated) else dt.date.max
        before = baseline_candidates(gradable, dated, k, max_baseline_days)
        # a visit on the next injection's day is filmed before it: the last of this cycle (and the next one's baseline)
        after = [v for v in gradable if day < v.date <= end]
        around = {"previous_injection": dated[k - 1].injection_date if k > 0 else None,
                  "next_injection": dated[k + 1].injection_date if k + 1 < len(dated) else None,
                  "max_baseline_days": max_baseline_days}
        if not before:
            cycles.append(Cycle(treatment=treatment, baseline=None, follow_up=tuple(v.label for v in after), **around))
            continue
        baseline = before[-1]
        if not after:
            cycles.append(Cycle(treatment=treatment, baseline=baseline.label, **around))
            continue
        comparison = compare_visits([baseline, *after], treatment=treatment, **compare_kwargs)
        tasks = sorted({v.analysis.recording["task"] for v in [baseline, *after]})
        note = (f"Its visits were recorded during different tasks ({', '.join(tasks)}), whose blink rates differ: "
                "the change is not the injection's alone." if len(tasks) > 1 else "")
        follow = comparison.summary[1:]
        best = min(follow, key=lambda e: e["severity_index"])
        lo, hi = best["index_change_ci"]
        clear = bool(hi < 0)
        worn = None
        if clear:
            later = follow[follow.index(best) + 1:]
            worn = next((e for e in later if not e["index_change_ci"][1] < 0), None)
        ptosis = tuple(dict.fromkeys(row["visit"] for row in comparison.side_effects if row["ptosis"]))
        cycles.append(Cycle(
            treatment=treatment, baseline=baseline.label, follow_up=tuple(v.label for v in after),
            comparison=comparison, best_visit=best["visit"], best_weeks=weeks_since(_date(best), day),
            best_index_change=best["index_change"], best_index_change_ci=(lo, hi), clear_benefit=clear,
            worn_off_visit=worn["visit"] if worn else None,
            worn_off_weeks=weeks_since(_date(worn), day) if worn else float("nan"),
            benefit_still_present=clear and worn is None, ptosis_visits=ptosis, note=note, **around))
    return cycles


def baseline_candidates(gradable: list[Visit], dated: list[Treatment], k: int, max_baseline_days: int) -> list[Visit]:
    """The gradable visits (in date order) that can be injection ``k``'s baseline: on or before its
    day, at most ``max_baseline_days`` before it and after the injection before it (a visit from
    before an earlier injection shows another state)."""
    day = dated[k].injection_date
    previous = dated[k - 1].injection_date if k > 0 else dt.date.min
    return [v for v in gradable if previous < v.date <= day and (day - v.date).days <= max_baseline_days]


def current_cycle(visits: list[Visit], treatments: list[Treatment], *,
                  max_baseline_days: int = 60) -> tuple[list[Visit], Treatment | None, str]:
    """The visits a patient's verdict and report compare, the treatment they are timed against and
    a note ('' when there is nothing to say).

    With an injection before the last visit, the latest such injection's cycle: its baseline (the
    last of :func:`baseline_candidates`, as in :func:`treatment_cycles`) and every visit after the
    injection, so that each visit is timed against the injection before it and earlier cycles (and
    a visit's mistyped year) stay out; without a baseline, the visits after the injection, the
    note saying so. A visit on an injection's day belongs to the cycle before it (it is filmed
    before injecting). Without such an injection, all visits (in date order), timed against an
    injection on the last visit's day if there is one. ``visits`` need dates.
    """
    ordered = sorted(visits, key=lambda v: v.date)
    if not ordered:
        return [], None, ""
    last = ordered[-1].date
    dated = sorted((t for t in treatments if t.injection_date), key=lambda t: t.injection_date)
    prior = [k for k, t in enumerate(dated) if t.injection_date < last]
    if not prior:
        same_day = [t for t in dated if t.injection_date == last]
        return ordered, (same_day[-1] if same_day else None), ""
    k = prior[-1]
    treatment, day = dated[k], dated[k].injection_date
    gradable = [v for v in ordered if v.analysis.recording["severity"]["gradable"]]
    before = baseline_candidates(gradable, dated, k, max_baseline_days)
    after = [v for v in ordered if v.date > day]
    if not before:
        return after, treatment, (f"no gradable visit in the {max_baseline_days} days before the injection of "
                                  f"{day.isoformat()} (after any earlier injection), so its effect cannot be judged "
                                  f"from a baseline: the first visit after it, {after[0].label}, stands in as the "
                                  "baseline")
    return [before[-1], *after], treatment, ""


def _date(entry: dict) -> dt.date:
    return dt.date.fromisoformat(entry["date"])
