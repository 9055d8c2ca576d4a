"""The clinician's report: one self-contained HTML file for one recording or a visit series.

:func:`render_report` turns a :class:`~spasmcv.clinic.compare.Comparison` into HTML text (inline CSS,
plots as inline base64 PNG from :mod:`spasmcv.clinic.plotting`, no script, no network, no external
file); :func:`write_report` writes it atomically. The verdict in plain words comes first, then
the per-visit table with normal ranges, side effects, plots, data quality and the methods with
provenance. Recordings are named only by their visit label and pseudonymous recording id,
never by a file name or path, and no face image is included.

Examples
--------
>>> from spasmcv.clinic.compare import Visit, compare_visits
>>> comparison = compare_visits([Visit.from_trace("baseline", trace)])     # doctest: +SKIP
>>> write_report(comparison, "patient7.report.html", patient_id="P-007")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import math
import os
from pathlib import Path

import numpy as np

from spasmcv import __version__
from spasmcv._atomic import atomic_write
from spasmcv.analysis.analyze import changed_settings
from spasmcv.analysis.closure import SIDES
from spasmcv.clinic.compare import COMPARE_VERSION, HEADLINE_METRICS, Comparison, percentile_interval
from spasmcv.clinic.palette import kind_labels
from spasmcv.analysis.events import closures, display_kind
from spasmcv.analysis.severity import review_closures_phrase
from spasmcv.analysis.summary import part_text

_CSS = """
:root { --ink: #1d2327; --muted: #5f6b72; --line: #d5dbdf; --accent: #1f4e79; }
* { box-sizing: border-box; }
body { margin: 0; background: #ffffff; color: var(--ink);
       font: 14px/1.45 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 1040px; margin: 0 auto; padding: 20px 28px 40px; }
header { border-bottom: 3px solid var(--accent); padding-bottom: 8px; margin-bottom: 14px;
         display: flex; justify-content: space-between; align-items: flex-end; gap: 16px; }
h1 { font-size: 22px; margin: 0; color: var(--accent); }
h1 .sub { font-weight: 400; font-size: 17px; color: var(--muted); margin-left: 10px; }
.nw { white-space: nowrap; }
h2 { font-size: 17px; margin: 26px 0 8px; color: var(--accent); border-bottom: 1px solid var(--line);
     padding-bottom: 3px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.meta { color: var(--muted); font-size: 12.5px; text-align: right; }
.verdict { border: 1px solid #9fb7cf; border-left: 6px solid var(--accent); background: #f3f7fb;
           padding: 12px 16px; font-size: 15.5px; line-height: 1.5; margin: 0 0 14px; }
.verdict p { margin: 0 0 6px; } .verdict p:last-child { margin-bottom: 0; }
.grid { display: grid; grid-template-columns: minmax(0, 1.1fr) minmax(0, 1fr); gap: 16px; align-items: start; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; margin: 4px 0 8px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 6px; text-align: right; vertical-align: top; }
th { background: #f4f6f7; font-weight: 600; }
td.l, th.l { text-align: left; }
tr.group td { border-top: 2px solid #c3cbd0; }
.ci { color: var(--muted); font-size: 11.5px; white-space: nowrap; }
.clear { font-weight: 700; color: #14385c; }
.flag { color: #b03a2e; font-weight: 700; }
.wrap { white-space: normal; display: inline-block; max-width: 11em; font-size: 0.85em; }
.ok { color: #2e7d32; }
.small { font-size: 12px; color: var(--muted); }
figure { margin: 6px 0 12px; } figure img { width: 100%; height: auto; display: block; }
figcaption { font-size: 12px; color: var(--muted); margin-top: 2px; }
ul.warnings { margin: 4px 0; padding-left: 20px; color: #8a4b00; }
.settings-note { color: #8a4b00; font-weight: 600; margin: 6px 0; }
dl.defs dt { font-weight: 600; margin-top: 6px; } dl.defs dd { margin: 0 0 0 16px; }
code { font-size: 12px; background: #f4f6f7; padding: 0 3px; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { font-size: 10.5pt; }
  main { max-width: none; padding: 0; }
  h2, h3, h4 { break-after: avoid; page-break-after: avoid; }
  .page-break { break-before: page; }
  figure, table, .verdict, .grid { break-inside: avoid; }
  .verdict { background: #ffffff; }
}
"""


def _num(x, decimals: int = 1, *, signed: bool = False) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    text = f"{x:+.{decimals}f}" if signed else f"{x:.{decimals}f}"
    return text.replace("-", "\u2212")


def _one_sided(row: dict) -> str:
    """The asymmetry table's verdict cell: the one-sided eye flagged, "no", or n/a when nothing was measured."""
    if row["one_sided"]:
        return f"<span class=flag>{row['one_sided']} eye</span>"
    return "n/a" if row["bilateral_count"] is None else "no"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _esc(text) -> str:
    return html.escape(str(text))


def _weeks(entry: dict) -> str:
    w = entry["weeks_since_injection"]
    if not math.isfinite(w):
        return "n/a"
    days = round(w * 7)
    if days < 0:
        return f"{-days} day{'s' if days < -1 else ''} before"
    return f"{_num(w, 0 if abs(w - round(w)) < 1e-9 else 1)}"


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------

def _header(comparison: Comparison, patient_id: str | None, diagnosis: str | None = None) -> str:
    t = comparison.treatment
    treatment = []
    if t is not None:
        if t.product:
            treatment.append(_esc(t.product))
        if t.dose_units is not None:
            treatment.append(f"{_num(t.dose_units, 0 if float(t.dose_units).is_integer() else 1)} units")
        if t.injection_date:
            treatment.append(f"<span class='nw'>injected {t.injection_date.isoformat()}</span>")
    n = len(comparison.visits)
    name = _esc(diagnosis or "Blepharospasm")
    title = f"{name} video assessment" + ("" if n == 1 else "<span class='sub'>visit comparison</span>")
    lines = [f"patient {_esc(patient_id)}" if patient_id else "patient: pseudonymous id not given",
             f"{n} recording{'s' if n > 1 else ''}" + (": " + ", ".join(_esc(v.label) for v in comparison.visits)),
             ]
    if treatment:
        lines.append("treatment: " + ", ".join(treatment))
    return (f"<header><div><h1>{title}</h1><div class='small'>Objective measurement from face video "
            f"(spasmcv {_esc(__version__)}); supports, does not replace, clinical examination.</div></div>"
            f"<div class='meta'>{'<br>'.join(lines)}</div></header>")


def _verdict(comparison: Comparison) -> str:
    paragraphs = "".join(f"<p>{_esc(p)}</p>" for p in comparison.verdict.split("\n") if p.strip())
    return f"<section class='verdict' id='verdict'>{paragraphs}</section>"


def _summary_table(comparison: Comparison) -> str:
    multi = len(comparison.visits) > 1
    head = ("<tr><th class='l'>visit</th><th>grade<br><span class='small'>(L / R)</span></th>"
            "<th>severity index<br><span class='small'>(95 % CI)</span></th>"
            + ("<th>change vs baseline<br><span class='small'>(95 % CI)</span></th>" if multi else "") + "</tr>")
    body = []
    for entry, visit in zip(comparison.summary, comparison.visits):
        lo, hi = entry["severity_index_ci"]
        change = ""
        if multi:
            if entry is comparison.summary[0]:
                change = "<td class='small'>baseline</td>"
            elif entry["grade_change"] is None:
                change = "<td class='small'>none: a visit could not be graded</td>"
            else:
                c_lo, c_hi = entry["index_change_ci"]
                clear = (c_hi < 0 or c_lo > 0)
                meaningful = ("" if not entry["meaningful_change"] else
                              "<br><span class='flag'>meaningful (&#8805; 2 grades)</span>" if clear else
                              "<br><span class='small'>&#8805; 2 grades, but the interval includes no change</span>")
                change = (f"<td><span class='{'clear' if clear else ''} nw'>grade {_num(entry['grade_change'], 0, signed=True)}, "
                          f"index {_num(entry['index_change'], 0, signed=True)}</span><br>"
                          f"<span class='ci'>{_num(c_lo, 0)} to {_num(c_hi, 0)}</span>{meaningful}</td>")
        when = [entry["date"]] if entry["date"] else []
        weeks = _weeks(entry)
        if weeks != "n/a":
            when.append(weeks if "before" in weeks else "injection day" if weeks == "0"
                        else f"week {weeks} after injection")
        if entry["gradable"]:
            upper = entry["grade_if_review_closed"]
            unsettled = ("" if upper == entry["jankovic_frequency_grade"] else
                         f"<br><span class='flag wrap'>{upper} if the "
                         f"{review_closures_phrase(entry['review_count'], 'to check')}</span>")
            grade_cell = (f"<td class='nw'><b>{entry['jankovic_frequency_grade']}</b> <span class='small'>"
                          f"({_grade(entry['grade_left'])} / {_grade(entry['grade_right'])})</span>{unsettled}</td>")
            index_cell = (f"<td class='nw'><b>{_num(entry['severity_index'], 0)}</b><br>"
                          f"<span class='ci'>{_num(lo, 0)} to {_num(hi, 0)}</span></td>")
        else:  # never a number for a recording that could not be graded
            grade_cell = (f"<td class='l'><b>not gradable</b><br><span class='small'>"
                          f"{_esc(entry['not_gradable_reason'])}</span></td>")
            index_cell = "<td>&#8212;</td>"
        body.append(
            f"<tr><td class='l'><b>{_esc(entry['visit'])}</b><br><span class='small'>{_esc(' · '.join(when))}"
            f"{'<br>' if when else ''}id {_esc(entry['recording_id'])}, {_num(entry['valid_time_s'], 0)} s measured"
            f"{_esc(_part_phrase(visit))}</span></td>"
            f"{grade_cell}{index_cell}{change}</tr>")
    note = ("<p class='small'>Grade: objective Jankovic frequency grade 0-4 (worse eye; left / right eye). Index: 0-100, "
            "20 points per grade." + (f" A change of {comparison.settings.meaningful_grade_change} or more Jankovic points "
                                      "is the size clinicians consider meaningful. Bold changes: the 95 % interval "
                                      "excludes zero." if multi else "") + "</p>")
    return f"<table id='visits'>{head}{''.join(body)}</table>{note}"


def _part_phrase(visit) -> str:
    """', part: 60 s to 120 s' for a visit analysed on part of its recording; '' otherwise."""
    part = part_text(visit.analysis.recording["provenance"].get("time_window_s"))
    return f", {part}" if part else ""


def _grade(grade) -> str:
    """A per-eye grade for people: the number, or a dash for an eye that could not be graded."""
    return "&#8212;" if grade is None else str(grade)


def _metric_table(comparison: Comparison) -> str:
    visits = [v.label for v in comparison.visits]
    rows = {(r["metric"], r["eye"], r["visit"]): r for r in comparison.rows}
    head = ("<tr><th class='l'>measure</th><th class='l'>eye</th><th>normal</th>"
            + "".join(f"<th>{_esc(v)}</th>" for v in visits) + "</tr>")
    body = []
    specs = list(HEADLINE_METRICS) + [{"key": "severity_index", "label": "Severity index", "unit": "0-100", "decimals": 0}]
    for spec in specs:
        eyes = ("worse",) if spec["key"] == "severity_index" else ("right", "left")
        for k, eye in enumerate(eyes):
            cells = []
            for label in visits:
                r = rows[(spec["key"], eye, label)]
                d = spec["decimals"]
                cell = f"<b>{_num(r['value'], d)}</b>"
                if math.isfinite(r["change"]):
                    clear = r["change_ci_high"] < 0 or r["change_ci_low"] > 0
                    cell += (f"<br><span class='{'clear' if clear else ''}'>{_num(r['change'], d, signed=True)}</span> "
                             f"<span class='ci'>({_num(r['change_ci_low'], d)} to {_num(r['change_ci_high'], d)})</span>")
                    if "ratio" in r and math.isfinite(r["ratio_ci_low"]):
                        cell += (f"<br><span class='ci'>ratio {_num(r['ratio'], 2)} "
                                 f"({_num(r['ratio_ci_low'], 2)}-{_num(r['ratio_ci_high'], 2)})</span>")
                cells.append(f"<td>{cell}</td>")
            label = rows[(spec["key"], eye, visits[0])]["label"]   # with the thresholds in use
            unit = "" if f"({spec['unit']})" in label else f" <span class='small'>({_esc(spec['unit'])})</span>"
            name = f"{_esc(label)}{unit}" if k == 0 else ""
            # each task's own range when the visits were recorded during different tasks
            normal = "; ".join(dict.fromkeys(rows[(spec["key"], eye, v)]["normal"] for v in visits))
            body.append(f"<tr class='{'group' if k == 0 else ''}'><td class='l'>{name}</td><td class='l'>{eye}</td>"
                        f"<td class='small'>{_esc(normal)}</td>{''.join(cells)}</tr>")
    note = ("<p class='small'>" + ("Each cell: the visit's value; below it the change from the first visit with its "
                                    "95 % confidence interval (block bootstrap, see Methods) and, for rates, the rate "
                                    "ratio visit / baseline with its interval. " if len(visits) > 1 else "")
            + "Left and right are the patient's sides. Time closed: share of measured time with the lid at least "
            "half closed during a closure.</p>")
    return f"<table id='metrics'>{head}{''.join(body)}</table>{note}"


def _side_effects(comparison: Comparison) -> str:
    s = comparison.settings
    head = ("<tr><th class='l'>visit</th><th class='l'>eye</th><th>open-eye aperture (mm)</th><th>change (mm)</th>"
            "<th>change (%)</th><th>ptosis flag</th></tr>")
    body = []
    for r in comparison.side_effects:
        if math.isfinite(r["change_mm"]):
            change = (f"{_num(r['change_mm'], 2, signed=True)} <span class='ci'>({_num(r['change_ci_low_mm'], 2)} to "
                      f"{_num(r['change_ci_high_mm'], 2)})</span>")
            pct = _num(r["change_percent"], 1, signed=True)
            flag = ("<span class='flag'>possible ptosis</span>" if r["ptosis"] else "<span class='ok'>no</span>"
                    if r.get("ptosis_judged", True) else f"not judged (under {s.ptosis_min_measured_s:g} s measured)")
        elif r["visit"] == comparison.visits[0].label:
            change, pct, flag = "baseline", "", ""
        else:   # a visit without an aperture to compare (not gradable, or no open eye measured): a blank would read "no"
            change, pct, flag = "n/a", "", "not judged (no aperture to compare)"
        body.append(f"<tr><td class='l'>{_esc(r['visit'])}</td><td class='l'>{r['eye']}</td>"
                    f"<td>{_num(r['open_aperture_mm'], 2)}</td><td>{change}</td><td>{pct}</td><td>{flag}</td></tr>")
    a_head = ("<tr><th class='l'>visit</th><th>closure rate</th><th>time closed</th><th>open aperture</th>"
              "<th>closures both eyes / left only / right only</th><th>one-sided?</th></tr>")
    a_body = "".join(
        f"<tr><td class='l'>{_esc(r['visit'])}</td><td>{_num(r['closure_rate'], 2, signed=True)}</td>"
        f"<td>{_num(r['share_closed'], 2, signed=True)}</td><td>{_num(r['open_aperture'], 3, signed=True)}</td>"
        f"<td>{_num(r['bilateral_count'], 0)} / {_num(r['unilateral_left_count'], 0)} / "
        f"{_num(r['unilateral_right_count'], 0)}</td>"
        f"<td>{_one_sided(r)}</td></tr>"
        for r in comparison.asymmetry)
    if len(comparison.visits) == 1:   # nothing to compare with: the aperture alone, no ptosis column
        head = "<tr><th class='l'>eye</th><th>open-eye aperture (mm)</th></tr>"
        body = [f"<tr><td class='l'>{r['eye']}</td><td>{_num(r['open_aperture_mm'], 2)}</td></tr>"
                for r in comparison.side_effects]
    return (f"<h3>Open-eye aperture{' and ptosis' if len(comparison.visits) > 1 else ''}</h3>"
            f"<table id='ptosis'>{head}{''.join(body)}</table>"
            f"<p class='small'>Ptosis (a side effect, judged only against a baseline visit) is flagged when "
            f"the open eye's aperture is at least "
            f"{100 * s.ptosis_lid_drop:.0f} % narrower than at baseline (about 1 mm of a 9-10 mm fissure), fell by at least "
            f"{s.ptosis_min_drop_mm:g} mm, and the 95 % interval of the change lies below zero; it is judged only "
            f"between recordings with {s.ptosis_min_measured_s:g} s or more of the eye measured (parts of one sitting "
            f"this short differ by 10 % or more about one time in six). The face mesh reads partly "
            f"lowered real lids about linearly (docs/lid-reading.md). Millimetres use the iris as ruler (11.7 mm).</p>"
            f"<h3>Left/right asymmetry (hemifacial spasm)</h3><table id='asymmetry'>{a_head}{a_body}</table>"
            f"<p class='small'>Asymmetry = (left &#8722; right) / (left + right): &#8722;1 right only, 0 equal, "
            f"+1 left only. Closures are called one-sided when |asymmetry of the closure rate| &#8805; "
            f"{s.asymmetry_flag:g} (one eye closes at least twice as often).</p>")


def _severity_plot(comparison: Comparison) -> str:
    from spasmcv.clinic import plotting

    summary = comparison.summary
    weeks = np.array([e["weeks_since_injection"] for e in summary], dtype=float)
    dated = np.isfinite(weeks).all()
    x = weeks if dated else np.arange(len(summary), dtype=float)
    fig, ax = plotting.subplots(width_in=5.2, height_in=3.0)
    plotting.plot_severity_timeline(
        x, [e["severity_index"] for e in summary], [e["severity_index_ci"][0] for e in summary],
        [e["severity_index_ci"][1] for e in summary], [e["jankovic_frequency_grade"] for e in summary],
        [e["visit"] for e in summary], ax=ax, xlabel="weeks since injection" if dated else "visit",
        injection_x=0.0 if dated else None)
    if not dated:
        ax.set_xticks(x, [e["visit"] for e in summary])
    return (f"<figure id='severity-plot'>{_img(plotting.to_png(fig), 'severity index per visit')}"
            "<figcaption>Severity index per visit with its 95 % interval; shaded bands are the Jankovic frequency "
            "grades.</figcaption></figure>")


def _rates_plot(comparison: Comparison) -> str:
    from spasmcv.clinic import plotting

    labels = [v.label for v in comparison.visits]
    shown = {(r["metric"], r["eye"], r["visit"]): r["value"] for r in comparison.rows}   # NaN: too short to grade
    values, lower, upper = {}, {}, {}
    for metric, name in (("closure_rate_per_min", "Closures"), ("blink_rate_per_min", "Blinks")):
        for side in ("right", "left"):
            series = f"{name} ({side})"
            values[series] = [shown[metric, side, v.label] for v in comparison.visits]
            cis = [percentile_interval(comparison.replicates[v.label][f"{side}.{metric}"],
                                       confidence=comparison.settings.confidence) for v in comparison.visits]
            lower[series], upper[series] = [c[0] for c in cis], [c[1] for c in cis]
    normal = tuple(comparison.visits[0].analysis.recording["normal_ranges"]["blink_rate_per_min"])
    fig, ax = plotting.subplots(width_in=7.5, height_in=2.8)
    plotting.plot_visit_rates(labels, values, lower, upper, normal_range=normal, ax=ax)
    return (f"<figure id='rates-plot'>{_img(plotting.to_png(fig), 'closures and blinks per minute per visit')}"
            "<figcaption>Closures (every counted blink, prolonged closure and spasm) and blinks (outside flutter bursts) "
            "per minute of measured video, per eye, with 95 % intervals; green: the normal spontaneous blink rate for "
            "the task.</figcaption></figure>")


def _durations_plot(comparison: Comparison) -> str:
    from spasmcv.clinic import plotting

    n = len(comparison.visits)
    fig, axes = plotting.subplots(1, n, width_in=max(3.2 * n, 4.5), height_in=2.4, sharey=True, squeeze=False)
    for ax, v in zip(axes[0], comparison.visits):
        durations: dict[str, list] = {}
        for side in SIDES:
            for e in closures(v.analysis.events.per_eye[side]):
                kind = display_kind(e)
                durations.setdefault(kind, []).append(e.duration_s)
        limits = v.analysis.settings.events
        plotting.plot_durations(durations, ax=ax, prolonged_s=limits.prolonged_s, spasm_s=limits.spasm_s)
        ax.set_title(v.label)
    axes[0][-1].legend(frameon=False, fontsize=7, loc="upper right")
    spasm_s = _thresholds(comparison)["spasm_s"]
    return (f"<figure id='durations-plot'>{_img(plotting.to_png(fig), 'closure duration distributions')}"
            "<figcaption>Durations of the counted closures of both eyes (log scale). Green: a normal blink "
            f"(0.1-0.4 s); dashed red: {spasm_s}, from which a closure is a spasm.</figcaption></figure>")


def _closure_plots(comparison: Comparison) -> str:
    from spasmcv.clinic import plotting

    out = []
    for v in comparison.visits:
        signal, events = v.analysis.signal, v.analysis.events
        duration = float(signal.time_s[-1] - signal.time_s[0]) if len(signal.time_s) else 0.0
        # long recordings are folded into rows of at most 60 s so that blinks stay visible
        row_s = 60.0 if duration > 75 else max(duration, 1.0)
        n_rows = max(1, int(math.ceil(duration / row_s - 1e-9)))
        fig, axes = plotting.subplots(2 * n_rows, 1, width_in=7.5, height_in=1.0 + 1.1 * 2 * n_rows, squeeze=False)
        for row in range(n_rows):
            t0 = float(signal.time_s[0]) + row * row_s
            keep = (signal.time_s >= t0) & (signal.time_s <= t0 + row_s)
            for k, side in enumerate(("right", "left")):
                ax = axes[2 * row + k][0]
                evs = [e for e in events.per_eye[side] if e.offset_s >= t0 and e.onset_s <= t0 + row_s]
                plotting.plot_closure(signal.time_s[keep], signal.closure[side][keep], evs, side=side, ax=ax)
                ax.set_xlim(t0, t0 + row_s)
                if k == 0:
                    ax.set_xticklabels([])
        axes[-1][0].set_xlabel("time (s)")
        limits = v.analysis.settings.events
        plotting.kind_legend(axes[0][0], labels=kind_labels(limits.prolonged_s, limits.spasm_s))
        counts = {}
        for side in SIDES:   # an eye with no measured time has no count: "not measured", never 0 closures
            n = len(closures(events.per_eye[side]))
            measured = (v.analysis.recording["metrics"][side].get("valid_time_s") or 0) > 0
            counts[side] = f"{n} closure{'' if n == 1 else 's'}" if measured else "not measured"
        out.append(f"<figure class='closure-plot'>{_img(plotting.to_png(fig), f'eyelid closure over time, {v.label}')}"
                   f"<figcaption><b>{_esc(v.label)}</b>: closure of each eye (0 open, 1 closed) with detected events "
                   f"(right eye {counts['right']}, left eye {counts['left']}); hatched grey: no face measured."
                   f"</figcaption></figure>")
    return "".join(out)


def _invalid_reasons(quality: dict) -> str:
    """'head turned or pitched away 23 %, ...' (reasons above 0.5 % of the time), or a dash.

    A turned head read on its near eye (``near_eye_only``) is named for the eye not measured.
    """
    from spasmcv.analysis.quality import REASONS

    words = {**REASONS, "near_eye_only": "head turned (the far eye only)"}
    shares = quality.get("invalid_share", {})
    return ", ".join(f"{words[k]} {100 * v:.0f} %" for k, v in sorted(shares.items(), key=lambda kv: -kv[1])
                     if v >= 0.005) or "-"


def _cycles_section(comparison: Comparison, course: Comparison | None, cycles: list, ratings: list = ()) -> str:
    """Every injection's treatment cycle (:mod:`spasmcv.clinic.cycles`) and the whole course, for
    a report whose verdict covers the latest cycle only."""
    from spasmcv.clinic import plotting
    from spasmcv.clinic.cycles import close_injections

    t = comparison.treatment
    scope = (f"The verdict and the tables above cover the latest cycle (the injection of "
             f"{t.injection_date.isoformat()})." if t is not None and t.injection_date else "")
    rows = []
    for c in cycles:
        units = _num(c.treatment.dose_units, 0 if float(c.treatment.dose_units).is_integer() else 1) \
            if c.treatment.dose_units else "&#8212;"
        if c.best_visit:
            lo, hi = c.best_index_change_ci
            best = (f"<td class='l'>{_esc(c.best_visit)}</td><td>{_num(c.best_weeks, 0)}</td>"
                    f"<td class='nw'>{_num(c.best_index_change, 0, signed=True)} "
                    f"<span class='ci'>{_num(lo, 0, signed=True)} to {_num(hi, 0, signed=True)}</span></td>")
            benefit = ("no clear benefit" if not c.clear_benefit else
                       f"worn off by {_esc(c.worn_off_visit)} ({_num(c.worn_off_weeks, 0)} weeks)" if c.worn_off_visit
                       else f"still present at {_esc(c.follow_up[-1])}")
        else:
            best, benefit = "<td class='l'>&#8212;</td><td>&#8212;</td><td>&#8212;</td>", "&#8212;"
        rows.append(f"<tr><td class='l nw'>{_esc(c.treatment.injection_date.isoformat())}</td><td>{units}</td>"
                    f"<td class='l'>{_esc(c.baseline or 'none gradable')}</td>{best}<td class='l'>{benefit}</td>"
                    f"<td class='l'>{_esc(', '.join(c.ptosis_visits)) or '&#8212;'}</td></tr>")
    table = ("<table id='cycles'><tr><th class='l'>injection</th><th>units</th><th class='l'>baseline</th>"
             "<th class='l'>best response</th><th>weeks to best</th><th>index change<br>"
             "<span class='small'>(95 % CI)</span></th><th class='l'>benefit</th><th class='l'>possible ptosis</th></tr>"
             f"{''.join(rows)}</table>")
    sentences = "".join(f"<li>{_esc(c.describe())}</li>" for c in cycles)
    close = close_injections([c.treatment for c in cycles])
    sentences += "".join(f"<li class='flag'>Injections on {a.isoformat()} and {b.isoformat()}, {(b - a).days} day"
                         f"{'s' if (b - a).days != 1 else ''} apart: one treatment entered twice, or a touch-up, "
                         "which is taken here as an injection with a cycle of its own.</li>" for a, b in close)
    plot = ""
    if course is not None and len(course.summary) > 1 and all(e["date"] for e in course.summary):
        fig, ax = plotting.subplots(width_in=7.5, height_in=2.8)
        plotting.plot_course(course.summary, ax=ax, ratings=ratings,
                             injections=[(c.treatment.injection_date, c.treatment.dose_units) for c in cycles])
        plot = (f"<figure id='course-plot'>{_img(plotting.to_png(fig), 'severity index over every visit')}"
                "<figcaption>Every analysed visit with its severity index and 95 % interval; dashed "
                "lines: injections" + ("; diamonds: the clinician's frequency rating, in the middle of its grade band"
                                       if ratings else "") + ".</figcaption></figure>")
    return (f"<p class='small'>{scope} Each injection's cycle: its baseline is the last gradable visit on or before "
            "the injection day (at most 60 days before it, after any earlier injection); the best response is the "
            "follow-up visit with the lowest index up to the next injection's day; the benefit is clear when that "
            "change's interval lies below zero and has worn off at the first later visit whose interval reaches "
            f"zero again.</p>{table}<ul class='small'>{sentences}</ul>{plot}")


def _quality(comparison: Comparison) -> str:
    from spasmcv.clinic import plotting

    head = ("<tr><th class='l'>visit</th><th>duration</th><th>face found</th><th>measurable</th>"
            "<th class='l'>not measured because</th><th>longest gap</th>"
            "<th>head yaw / pitch / roll, median (sd), deg</th><th>frame rate</th><th>dropped-frame gaps</th>"
            "<th>re-acquired</th></tr>")
    body, warnings, figs = [], [], []
    for v in comparison.visits:
        q = v.analysis.recording["metrics"]["quality"]
        columns, meta = v.trace.columns, v.trace.metadata
        video = meta.get("video") or {}
        detected = np.asarray(columns.get("face_detected", []), dtype=float)
        face = float(np.mean(detected)) if detected.size else float("nan")
        pose = " / ".join(f"{_num(q[f'head_{a}_median_deg'], 0)} ({_num(q[f'head_{a}_sd_deg'], 0)})"
                          for a in ("yaw", "pitch", "roll"))
        body.append(f"<tr><td class='l'>{_esc(v.label)}</td><td>{_num(q['duration_s'], 0)} s</td>"
                    f"<td>{_num(100 * face, 0)} %</td><td>{_num(100 * q['valid_share'], 0)} %</td>"
                    f"<td class='l'>{_esc(_invalid_reasons(q))}</td>"
                    f"<td>{_num(q['longest_gap_s'], 2)} s</td><td>{pose}</td>"
                    f"<td>{_num(video.get('measured_fps', float('nan')), 1)} fps</td>"
                    f"<td>{len(video.get('gaps', []) or [])}</td><td>{meta.get('subject_reacquisitions', 0)}</td></tr>")
        if not all(f"head_{a}_deg" in columns for a in ("yaw", "pitch", "roll")):   # an old or hand-made trace
            continue
        fig, ax = plotting.subplots(width_in=3.6, height_in=1.7)
        plotting.plot_head_pose(columns["time_s"], columns["head_yaw_deg"], columns["head_pitch_deg"],
                                columns["head_roll_deg"], ax=ax)
        ax.set_title(v.label, fontsize=9)
        figs.append(f"<figure>{_img(plotting.to_png(fig), f'head pose, {v.label}')}</figure>")
    warnings = comparison.warnings
    warn_html = ("<ul class='warnings'>" + "".join(f"<li>{_esc(w)}</li>" for w in warnings) + "</ul>"
                 if warnings else "<p class='ok'>No data-quality warnings.</p>")
    return (f"<table id='quality'>{head}{''.join(body)}</table>{warn_html}"
            f"<div class='grid'>{''.join(figs)}</div>"
            "<p class='small'>Head angles within about &#177;15 degrees (green band) keep the eyelid measures "
            "comparable; recordings should be made looking ahead at the camera.</p>")


def _thresholds(comparison: Comparison) -> dict[str, str]:
    """The event durations (as text, s) the visits were analysed with; visits analysed with
    different ones show each visit's."""
    def text(name: str) -> str:
        values = [getattr(v.analysis.settings.events, name) for v in comparison.visits]
        if len(set(values)) == 1:
            return f"{values[0]:g} s"
        return ", ".join(f"{value:g} s ({_esc(v.label)})" for v, value in zip(comparison.visits, values))
    return {"prolonged_s": text("prolonged_s"), "spasm_s": text("spasm_s")}


def _changed_settings(comparison: Comparison) -> list[tuple[str, str]]:
    """(visit label, its analysis settings that differ from the defaults) for each visit whose do."""
    found = [(v.label, changed_settings(v.analysis.recording["provenance"].get("settings")))
             for v in comparison.visits]
    return [(label, changed) for label, changed in found if changed]


def _settings_note(comparison: Comparison) -> str:
    """A visible note when any visit was analysed with settings other than the defaults."""
    changed = _changed_settings(comparison)
    if not changed:
        return ""
    return ("<p class='settings-note' id='settings-note'>Analysed with settings changed from the defaults: "
            + "; ".join(f"{_esc(label)}: <code>{_esc(text)}</code>" for label, text in changed)
            + ". The thresholds below are those in use (Methods).</p>")


def _methods(comparison: Comparison) -> str:
    s = comparison.settings
    limits = _thresholds(comparison)
    changed = _changed_settings(comparison)
    settings_text = ("; ".join(f"{_esc(label)}: <code>{_esc(text)}</code>" for label, text in changed)
                     if changed else "the defaults (docs/analysis.md)")
    several = len(comparison.visits) > 1
    resampled = "the visits are resampled independently;" if several else ""
    replicated = ("replicated differences. Closures and blinks per minute also get a rate ratio (visit / baseline; "
                  "half an event added to each replicated count)." if several else "replicated values.")
    recs = []
    for v in comparison.visits:
        meta, prov = v.trace.metadata, v.analysis.recording["provenance"]
        model = meta.get("model") or {}
        software = meta.get("software") or {}
        recs.append(
            f"<tr><td class='l'>{_esc(v.label)}</td><td class='l'><code>{_esc(v.analysis.recording['recording_id'])}</code></td>"
            f"<td class='l'><code>{_esc(str(prov.get('video_sha256') or 'n/a'))[:16]}&#8230;</code></td>"
            f"<td class='l'>{_esc(meta.get('spasmcv_version', 'n/a'))} / {_esc(meta.get('signals_version', 'n/a'))}</td>"
            f"<td class='l'>{_esc(prov['analysis_version'])} / {_esc(prov['severity_formula_version'])}</td>"
            f"<td class='l'>{_esc(software.get('mediapipe', 'n/a'))}</td>"
            f"<td class='l'><code>{_esc(str(model.get('sha256', 'n/a'))[:16])}&#8230;</code>"
            f"{'' if model.get('official', True) else ' <span class=flag>custom</span>'}</td></tr>")
    models = sorted({str((v.trace.metadata.get("model") or {}).get("sha256", "n/a")) for v in comparison.visits})
    return f"""
<dl class="defs">
<dt>Measurement</dt><dd>MediaPipe face landmarks in every video frame; per eye the eye aspect ratio
(Soukupova &amp; Cech 2016) relative to the recording's own open-eye value, mapped to a closure of 0 (open) to 1
(closed). Events: blinks (under {limits['prolonged_s']}), prolonged closures ({limits['prolonged_s']} up to {limits['spasm_s']}),
spasms ({limits['spasm_s']} or longer), flutter bursts (3 or more
quick closures in a row, about 3 per second or faster). Rates are per minute of measured video. Left and right are the patient's sides.</dd>
<dt>Analysis settings</dt><dd>{settings_text}.</dd>
<dt>Objective Jankovic frequency grade and severity index</dt><dd>Formula <code>jrs-frequency-2</code>: grade 4 eyes
closed &gt; 50 % of the time; 3 spasms at &#8805; 0.5/min; 2 flutter bursts &#8805; 1/min;
1 closure rate above the normal upper limit (21/min at rest); else 0. The worse eye sets the recording's grade.
The index (0-100) places the recording inside its grade's 20-point band. Jankovic rating scale: Jankovic &amp; Orman,
Neurology 1987; normal blink rates: Bentivoglio et al., Mov Disord 1997.</dd>
<dt>Confidence intervals</dt><dd>Circular block bootstrap (Politis &amp; Romano 1992): each recording is rebuilt
{s.n_boot} times from randomly placed blocks of {s.block_s:g} s (never single frames, which would make intervals
several times too narrow); events belong to the block of their onset; {resampled}
the interval is the {100 * (1 - s.confidence) / 2:g}th-{100 * (1 + s.confidence) / 2:g}th percentile of the
{replicated} Seed {s.seed}: the same inputs give the same intervals. The intervals cover the variation within each recording,
not day-to-day variation of the patient or of the recording set-up.</dd>
<dt>Meaningful change</dt><dd>A change of about {s.meaningful_grade_change} Jankovic points is what clinicians
consider meaningful (shown for the Jankovic sum score in 300 treated patients, Jankovic et al., Mov Disord 2009;
applied here to the frequency grade alone, 0-4); raters agree only moderately (ICC 0.41-0.63, Lee et al.,
J Neural Transm 2023).</dd>
<dt>Ptosis</dt><dd>Open-eye aperture &#8805; {100 * s.ptosis_lid_drop:.0f} % narrower than at baseline, a measured
aperture drop &#8805; {s.ptosis_min_drop_mm:g} mm and an interval of the change below zero (docs/report.md).</dd>
<dt>Limits</dt><dd>Looking down lowers the lids and can read as closure; very short recordings give wide intervals;
millimetres assume an average iris (11.7 mm).</dd>
</dl>
<h3>Provenance</h3>
<table id='provenance'><tr><th class="l">visit</th><th class="l">recording id</th><th class="l">video sha256</th>
<th class="l">trace: spasmcv / signals</th><th class="l">analysis / severity formula</th><th class="l">mediapipe</th>
<th class="l">model sha256</th></tr>{''.join(recs)}</table>
<p class="small">Report: spasmcv {_esc(__version__)}, comparison {COMPARE_VERSION}. Model sha256:
{', '.join(f'<code>{_esc(m)}</code>' for m in models)}. No video frames or file names are stored in this report.</p>
"""


def render_report(comparison: Comparison, *, patient_id: str | None = None, diagnosis: str | None = None,
                  cycles: list | None = None, course: Comparison | None = None, ratings: list = ()) -> str:
    """The report as one self-contained HTML document (no script, no external resource).

    Parameters
    ----------
    comparison : Comparison
        From :func:`spasmcv.clinic.compare.compare_visits` (one visit gives a single-recording report).
    patient_id : str, optional
        A pseudonymous patient identifier for the header (never a name).
    diagnosis : str, optional
        Names the report ("Hemifacial spasm, left video assessment"); default blepharospasm.
    cycles : list of Cycle, optional
        Every injection's treatment cycle (:func:`spasmcv.clinic.cycles.treatment_cycles`): with
        more than one, or visits outside ``comparison``, a section gives them all (with ``course``,
        every visit's comparison, as a plot), since the verdict covers the latest cycle only.
    ratings : list of (datetime.date, int), optional
        The clinician's Jankovic frequency rating per visit day, drawn on that plot.

    Returns
    -------
    str
    """
    multi = len(comparison.visits) > 1
    title = f"spasmcv report{' - ' + patient_id if patient_id else ''}"
    first = (f"<div class='grid'><div>{_summary_table(comparison)}</div><div>{_severity_plot(comparison)}</div></div>"
             if multi else _summary_table(comparison))
    body = [
        _header(comparison, patient_id, diagnosis),
        _verdict(comparison),
        _settings_note(comparison),
        first,
    ]
    if cycles and (len(cycles) > 1 or (course is not None and len(course.visits) > len(comparison.visits))):
        body += ["<h2>Every treatment cycle</h2>", _cycles_section(comparison, course, cycles, ratings)]
    body += [
        f"<h2>Measurements{' per visit' if multi else ''}</h2>", _metric_table(comparison),
        f"<h2>{'Treatment side effects and asymmetry' if multi else 'Eyelid aperture and asymmetry'}</h2>",
        _side_effects(comparison),
        "<h2 class='page-break'>Closures and blinks per minute</h2>", _rates_plot(comparison),
        "<h2>Event durations</h2>", _durations_plot(comparison),
        "<h2 class='page-break'>Eyelid closure over time</h2>", _closure_plots(comparison),
        "<h2 class='page-break'>Data quality</h2>", _quality(comparison),
        "<h2>Methods</h2>", _methods(comparison),
    ]
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{_esc(title)}</title><style>{_CSS}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>\n")


def write_report(comparison: Comparison, path: str | os.PathLike, *, patient_id: str | None = None) -> Path:
    """Write :func:`render_report`'s HTML to ``path`` atomically and return the path."""
    path = Path(path)
    text = render_report(comparison, patient_id=patient_id)
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
