"""A short plain-text summary of an analysis, for the terminal (what a clinician wants first)."""

from __future__ import annotations

import math

from spasmcv.analysis.analyze import Analysis, changed_settings
from spasmcv.analysis.metrics import shown_metric
from spasmcv.analysis.quality import REASONS
from spasmcv.analysis.severity import review_closures_phrase


def _fmt(value, spec=".1f", unit=""):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:{spec}}{unit}"


def _share(fraction: float) -> str:
    """A share of the recording's time in whole percent; one that would round to 0 % is "under 1 %"."""
    return f"{100 * fraction:.0f} %" if fraction >= 0.005 else "under 1 %"


def part_text(window) -> str:
    """'part: 60 s to 120 s' for an analysis of part of a recording (its provenance's
    ``time_window_s``); '' for all of it."""
    if not window:
        return ""
    start, end = window
    return f"part: {start:g} s to " + ("the end" if end is None or end == float("inf") else f"{end:g} s")


def format_summary(analysis: Analysis) -> str:
    """Headline numbers per eye with normal ranges, the severity, and data-quality warnings."""
    rec = analysis.recording
    sev, met, norms = rec["severity"], rec["metrics"], rec["normal_ranges"]
    lo, hi = norms["blink_rate_per_min"]
    d_lo, d_hi = norms["blink_duration_s"]
    q = met["quality"]
    lines = [
        f"recording {rec['recording_id']}  task: {rec['task']}  "
        f"measurable: {_fmt(q['valid_time_s'])} s of {_fmt(q['duration_s'])} s ({_fmt(100 * q['valid_share'], '.0f')} %)"
        + (f"  {part}" if (part := part_text(rec["provenance"].get("time_window_s"))) else ""),
        (f"Jankovic frequency grade (objective): {sev['jankovic_frequency_grade']}   "
         f"severity index: {_fmt(sev['severity_index'], '.0f')}/100   (formula {sev['formula_version']})"
         if sev["gradable"] else f"not gradable: {sev['not_gradable_reason']} (formula {sev['formula_version']})"),
    ]
    changed = changed_settings(rec["provenance"].get("settings"))
    if changed:
        lines.append(f"settings changed from the defaults: {changed}")
    upper = sev.get("if_review_closed") or {}
    if sev["gradable"] and upper.get("jankovic_frequency_grade") not in (None, sev["jankovic_frequency_grade"]):
        lines.append(f"  if the {review_closures_phrase(upper['review_count'])}, not a lowered gaze: "
                     f"grade {upper['jankovic_frequency_grade']}, index {_fmt(upper['severity_index'], '.0f')}/100 "
                     f"(check them in the video)")
    shares = q.get("invalid_share", {})
    unmeasured = {k: v for k, v in shares.items() if v > 0 and k != "near_eye_only"}
    if unmeasured:
        lines.append("not measured: " + ", ".join(f"{REASONS[k]} {_share(v)}" for k, v in unmeasured.items()))
    if shares.get("near_eye_only", 0) > 0:  # one eye is measured there: not among the unmeasured
        lines.append(f"one eye measured: {REASONS['near_eye_only']} {_share(shares['near_eye_only'])}")
    lines += ["", f"{'':30s}{'left eye':>12s}{'right eye':>12s}   normal"]

    def row(label, key, spec=".1f", normal=""):
        left, right = (_fmt(shown_metric(met[side], key, sev["gradable"]), spec) for side in ("left", "right"))
        lines.append(f"{label:30s}{left:>12s}{right:>12s}   {normal}")

    row("closures per min", "closure_rate_per_min", normal=f"{lo:g}-{hi:g} blinks/min ({rec['task']})")
    row("blinks per min", "blink_rate_per_min")
    row("blink duration, median (s)", "blink_duration_median_s", ".2f", f"{d_lo:g}-{d_hi:g} s")
    row("flutter bursts per min", "flutter_bursts_per_min", normal="0")
    events = analysis.settings.events   # the thresholds in use: the defaults, or those given with --set
    row(f"prolonged closures {events.prolonged_s:g}-{events.spasm_s:g} s", "prolonged_count", "d", "rare")
    row(f"spasms {events.spasm_s:g} s or longer", "spasm_count", "d", "0")
    row("spasm time (s)", "spasm_total_s")
    row("longest closure (s)", "longest_closure_s", ".2f", "under 1")
    row("to check by eye (review)", "review_count", "d")
    lines.append(f"{'time eyes closed (>=50 %)':30s}{_fmt(100 * met['left']['share_closed'], '.1f', ' %'):>12s}"
                 f"{_fmt(100 * met['right']['share_closed'], '.1f', ' %'):>12s}   grade 4 above 50 %")
    lines.append(f"{'PERCLOS (>=80 % closed)':30s}{_fmt(100 * met['left']['perclos'], '.1f', ' %'):>12s}"
                 f"{_fmt(100 * met['right']['perclos'], '.1f', ' %'):>12s}")
    row("open-eye aperture (mm)", "open_aperture_mm", normal="about 8-11 mm")
    if met["bilateral_count"] is None:
        lines.append("bilateral closures: n/a (nothing measured)")
    else:
        lines.append(f"bilateral closures: {met['bilateral_count']}, left only: {met['unilateral_left_count']}, "
                     f"right only: {met['unilateral_right_count']}"
                     + (f", with only one eye measured (head turned): {met['one_eye_measured_count']}"
                        if met.get("one_eye_measured_count") else ""))
    for warning in rec["warnings"]:
        lines.append(f"warning: {warning}")
    return "\n".join(lines)
