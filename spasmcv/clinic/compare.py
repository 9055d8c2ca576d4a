"""Visit comparison: per-visit values, changes from baseline and their 95 % confidence intervals.

Pure: analyses and traces in, numbers and plain-language text out (numpy only, no I/O). The
first visit is the baseline. Definitions of every number are in docs/report.md.

Uncertainty respects time dependence. Frames of a recording are not independent (a spasm
holds the eyes shut for seconds, flutter comes in bursts), so resampling single frames makes
intervals several times too narrow. Each recording is resampled with the **circular block
bootstrap** (Politis & Romano 1992): the recording is treated as a loop and rebuilt from
randomly placed blocks of ``block_s`` seconds (10 s by default) until it has its own length.
Events are attributed to the frame of their onset, so a resampled recording contains whole
events; time closed is summed over frames. Every statistic is recomputed on each of
``n_boot`` resampled recordings; the two visits are resampled independently, and the
interval of a change is the 2.5th-97.5th percentile of the replicated differences (for rates
also of the replicated rate ratios). The random generator is seeded from the settings' seed and
each recording's own id (not its place in the list), so the same inputs give the same intervals
and a visit's interval is the same in every comparison it is part of (the course, a treatment
cycle, the report).

Examples
--------
>>> visits = [Visit.from_trace("baseline", read_trace("v1.trace.csv"), date=date(2026, 1, 10)),
...           Visit.from_trace("week3", read_trace("v2.trace.csv"), date=date(2026, 2, 1))]  # doctest: +SKIP
>>> result = compare_visits(visits, treatment=Treatment(injection_date=date(2026, 1, 12)))  # doctest: +SKIP
>>> print(result.verdict)                                                # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from spasmcv.analysis.analyze import Analysis, AnalysisSettings, analyze_trace
from spasmcv.analysis.closure import SIDES
from spasmcv.analysis.metrics import HEADLINE_RULES, frame_contributions, shown_metric
from spasmcv.analysis.severity import SeveritySettings, eye_grade, review_closures_phrase
from spasmcv.measure.trace import Trace

#: Version of the comparison definitions (bump when a statistic or rule changes).
COMPARE_VERSION = "compare-4"
#: The columns of ``PREFIX.comparison.csv``: the rows of ``Comparison.rows`` and the part of each
#: visit's recording that was scored (docs/report.md).
COMPARISON_CSV_COLUMNS = ["metric", "label", "unit", "eye", "visit", "value", "change", "change_ci_low", "change_ci_high",
                          "ratio", "ratio_ci_low", "ratio_ci_high", "normal", "part_start_s", "part_end_s"]


@dataclass(frozen=True)
class CompareSettings:
    """Parameters of the visit comparison.

    Attributes
    ----------
    block_s : float
        Length of the resampled blocks, seconds (circular block bootstrap).
    n_boot : int
        Bootstrap replicates per recording.
    confidence : float
        Coverage of the intervals (0.95: the 2.5th to 97.5th percentile).
    seed : int
        Seed of the random generator (results are reproducible).
    ptosis_lid_drop : float
        Ptosis flag: share of the baseline's open fissure (open-eye aperture) the eye must lose
        (0.10, about 1 mm of a typical 9-10 mm fissure)...
    ptosis_min_drop_mm : float
        ...and a measured aperture drop at least this large (mm); in both cases the interval
        of the aperture change must lie below zero.
    ptosis_min_measured_s : float
        Ptosis is judged only between recordings with at least this much of the eye measured
        (s; to within a frame): within one recording of a healthy person, adjacent 20-s parts
        differ by the flag's 10 % in 16 % of eyes, 30-s parts in 3 %
        (scripts/aperture_repeatability.py, docs/report.md).
    meaningful_grade_change : int
        Change of the Jankovic grade that clinicians consider meaningful (about 2 points).
    asymmetry_flag : float
        |(left - right) / (left + right)| of the closure rate from which closures are called
        one-sided (0.33: one eye closes at least twice as often).
    min_blocks : int
        Recordings shorter than this many blocks get a warning (few blocks, rough intervals).
    max_view_change_deg : float
        A visit whose head was held more than this many degrees differently from the baseline's
        (median turn or pitch, :func:`view_angles`) gets a warning: millimetres are read with a
        ruler that shrinks as the head turns (up to cos(yaw)), so an eye facing the camera reads
        narrower than the same eye turned (3.4 % against 15 degrees, 9.4 % against 25: the ptosis
        flag's 10 %); apertures filmed from different angles are not comparable.
    """

    block_s: float = 10.0
    n_boot: int = 2000
    confidence: float = 0.95
    seed: int = 0
    ptosis_lid_drop: float = 0.10
    ptosis_min_drop_mm: float = 0.2
    ptosis_min_measured_s: float = 30.0
    meaningful_grade_change: int = 2
    asymmetry_flag: float = 0.33
    min_blocks: int = 6
    max_view_change_deg: float = 15.0


# ---------------------------------------------------------------------------------------------
# The block bootstrap on arrays
# ---------------------------------------------------------------------------------------------

def circular_block_indices(n: int, *, block_len: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Frame indices of ``n_boot`` circular-block-bootstrap resamples of ``n`` frames.

    Parameters
    ----------
    n : int
        Frames in the recording.
    block_len : int
        Frames per block (clipped to 1..n).
    n_boot : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, shape (n_boot, n), int
        Row ``b`` lists the frames of resample ``b``: ceil(n / block_len) blocks, each starting
        at a uniformly random frame and wrapping around the end, cut to ``n`` frames.
    """
    block_len = int(min(max(block_len, 1), n))
    n_blocks = -(-n // block_len)
    starts = rng.integers(0, n, size=(n_boot, n_blocks, 1))
    idx = (starts + np.arange(block_len)) % n
    return idx.reshape(n_boot, n_blocks * block_len)[:, :n]


def bootstrap_replicates(frames: dict[str, np.ndarray], statistics: dict[str, Callable], *, block_len: int,
                         n_boot: int, rng: np.random.Generator, chunk: int = 250) -> dict[str, np.ndarray]:
    """Replicates of statistics of per-frame arrays under the circular block bootstrap.

    Parameters
    ----------
    frames : dict of str -> ndarray (n,)
        Per-frame values (e.g. the seconds a frame stands for, event counts at onset frames).
    statistics : dict of str -> callable
        Each takes a dict of resampled arrays, each of shape (m, n), and returns (m,) values.
    block_len : int
        Frames per block.
    n_boot : int
    rng : numpy.random.Generator
    chunk : int
        Replicates computed at once (bounds memory: chunk x n values per array).

    Returns
    -------
    dict of str -> ndarray (n_boot,)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = {"closed": (rng.random(900) < 0.2).astype(float)}
    >>> reps = bootstrap_replicates(x, {"share": lambda f: f["closed"].mean(axis=1)},
    ...                             block_len=300, n_boot=100, rng=rng)
    >>> reps["share"].shape
    (100,)
    """
    n = len(next(iter(frames.values())))
    out = {name: np.empty(n_boot) for name in statistics}
    for lo in range(0, n_boot, chunk):
        m = min(chunk, n_boot - lo)
        idx = circular_block_indices(n, block_len=block_len, n_boot=m, rng=rng)
        resampled = {name: np.asarray(values)[idx] for name, values in frames.items()}
        for name, stat in statistics.items():
            out[name][lo:lo + m] = stat(resampled)
    return out


def percentile_interval(replicates: np.ndarray, *, confidence: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (NaN replicates ignored; NaN if most are NaN)."""
    values = np.asarray(replicates, dtype=float)
    finite = values[~np.isnan(values)]
    if finite.size < 0.5 * values.size or finite.size == 0:
        return (float("nan"), float("nan"))
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(finite, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def difference_interval(base: np.ndarray, other: np.ndarray, *, confidence: float = 0.95) -> tuple[float, float]:
    """Interval of ``other - base`` from the replicates of two independently resampled recordings.

    Differences within rounding error of zero (the same events over valid times summed in
    another order) are zero: an interval must not exclude "no change" by 1e-15.
    """
    base, other = np.asarray(base, dtype=float), np.asarray(other, dtype=float)
    diff = other - base
    scale = np.maximum(np.abs(base), np.abs(other))
    diff[np.abs(diff) <= 1e-9 * np.maximum(scale, 1.0)] = 0.0
    return percentile_interval(diff, confidence=confidence)


def rate_ratio_interval(base_counts: np.ndarray, base_time_s: np.ndarray, other_counts: np.ndarray,
                        other_time_s: np.ndarray, *, confidence: float = 0.95) -> tuple[float, float]:
    """Interval of the rate ratio ``other / base`` from replicated event counts and valid times.

    Half an event is added to every replicated count (a continuity correction), so a
    replicate without events gives a finite ratio.
    """
    other_time_s, base_time_s = np.asarray(other_time_s, dtype=float), np.asarray(base_time_s, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = (np.log((np.asarray(other_counts, dtype=float) + 0.5) / other_time_s)
                     - np.log((np.asarray(base_counts, dtype=float) + 0.5) / base_time_s))
    log_ratio = np.where((other_time_s > 0) & (base_time_s > 0), log_ratio, np.nan)  # no measured time: no ratio
    lo, hi = percentile_interval(log_ratio, confidence=confidence)
    return (float(np.exp(lo)), float(np.exp(hi)))


# ---------------------------------------------------------------------------------------------
# Per-frame features of a recording and the headline statistics
# ---------------------------------------------------------------------------------------------

#: The headline metrics compared per eye: key, label, unit, how to compare.
#: ``rate`` metrics also get a rate ratio (``count`` names their per-frame event count).
HEADLINE_METRICS: tuple[dict, ...] = (
    {"key": "closure_rate_per_min", "label": "Closures per minute", "unit": "/min", "count": "closures", "decimals": 1},
    {"key": "blink_rate_per_min", "label": "Blinks per minute", "unit": "/min", "count": "blinks", "decimals": 1},
    {"key": "share_closed", "label": "Time eyes closed", "unit": "%", "scale": 100.0, "decimals": 1},
    {"key": "spasm_rate_per_min", "label": "Spasms ({spasm_s:g} s or longer) per minute", "unit": "/min", "decimals": 1},
    {"key": "flutter_bursts_per_min", "label": "Flutter bursts per minute", "unit": "/min", "decimals": 1},
    {"key": "longest_closure_s", "label": "Longest closure", "unit": "s", "decimals": 2},
    {"key": "open_aperture_mm", "label": "Open-eye aperture", "unit": "mm", "decimals": 2},
)


def metric_label(spec: dict, settings: AnalysisSettings) -> str:
    """A headline metric's label with the thresholds of ``settings`` in it (e.g. the spasm's duration)."""
    return spec["label"].format(spasm_s=settings.events.spasm_s)


def recording_frames(analysis: Analysis, trace: Trace) -> dict[str, np.ndarray]:
    """Per-frame contributions of both eyes (:func:`spasmcv.analysis.metrics.frame_contributions`),
    keyed ``"<side>.<name>"``; the full-recording statistics reproduce the analysis' metrics."""
    signal = analysis.signal
    out = {}
    for side in SIDES:
        contributions = frame_contributions(signal.time_s, signal.closure[side], analysis.events.per_eye[side],
                                            aperture_mm=trace.columns.get(f"aperture_mm_{side}"),
                                            settings=analysis.settings.metrics,
                                            carried=analysis.events.carried.get(side, []))
        out.update({f"{side}.{name}": values for name, values in contributions.items()})
    return out


def _eye_statistics(side: str) -> dict[str, Callable]:
    """The headline metrics of one eye on resampled frames, by the metrics' own definitions
    (:data:`spasmcv.analysis.metrics.HEADLINE_RULES`), plus the raw sums the tables use."""
    def view(f):
        prefix = f"{side}."
        return {name[len(prefix):]: values for name, values in f.items() if name.startswith(prefix)}

    def headline(rule):
        return lambda f: rule(view(f))

    stats = {f"{side}.valid_s": lambda f: f[f"{side}.valid_s"].sum(axis=1),
             f"{side}.closures": lambda f: f[f"{side}.closures"].sum(axis=1),
             f"{side}.blinks": lambda f: f[f"{side}.blinks"].sum(axis=1)}
    stats.update({f"{side}.{name}": headline(rule) for name, rule in HEADLINE_RULES.items()
                  if name != "valid_time_s"})
    return stats


def _severity_replicates(reps: dict[str, np.ndarray], *, task: str, settings: SeveritySettings) -> np.ndarray:
    """The recording's severity index (worse eye) for each replicate."""
    keys = ("share_closed", "spasm_rate_per_min", "flutter_bursts_per_min", "prolonged_rate_per_min",
            "closure_rate_per_min")
    n_boot = len(reps["left.valid_s"])
    out = np.empty(n_boot)
    for b in range(n_boot):
        grades = [eye_grade({**{k: float(reps[f"{side}.{k}"][b]) for k in keys},
                             "valid_time_s": float(reps[f"{side}.valid_s"][b])}, task=task, settings=settings)
                  for side in SIDES]
        out[b] = max(grades, key=lambda g: (g[0], np.nan_to_num(g[1])))[1]
    return out


def recording_replicates(analysis: Analysis, trace: Trace, *, settings: CompareSettings = CompareSettings(),
                         rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Bootstrap replicates of every headline statistic of one recording (both eyes resampled together).

    Returns ``"<side>.<metric>"`` arrays of shape (n_boot,) plus ``"severity_index"``.
    """
    frames = recording_frames(analysis, trace)
    time_s = analysis.signal.time_s
    frame_s = float(np.median(np.diff(time_s))) if len(time_s) > 1 else 1.0
    block_len = max(1, int(round(settings.block_s / frame_s)))
    statistics = {**_eye_statistics("left"), **_eye_statistics("right")}
    reps = bootstrap_replicates(frames, statistics, block_len=block_len, n_boot=settings.n_boot, rng=rng)
    severity_settings = analysis.settings.severity
    reps["severity_index"] = _severity_replicates(reps, task=analysis.recording["task"], settings=severity_settings)
    return reps


# ---------------------------------------------------------------------------------------------
# Visits and their comparison
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Treatment:
    """The botulinum toxin injection the visits are timed against (all optional)."""

    injection_date: _dt.date | None = None
    product: str | None = None
    dose_units: float | None = None


@dataclass(frozen=True)
class Visit:
    """One recording of the patient: a label, an optional date, its trace and analysis."""

    label: str
    trace: Trace
    analysis: Analysis
    date: _dt.date | None = None

    @classmethod
    def from_trace(cls, label: str, trace: Trace, *, date: _dt.date | None = None, task: str = "rest",
                   settings: AnalysisSettings = AnalysisSettings()) -> "Visit":
        """Analyse ``trace`` (see :func:`spasmcv.analysis.analyze.analyze_trace`) and wrap it as a visit."""
        return cls(label=label, trace=trace, analysis=analyze_trace(trace, task=task, settings=settings), date=date)


@dataclass(frozen=True)
class Comparison:
    """A visit series compared with its first visit (the baseline).

    Attributes
    ----------
    visits : tuple of Visit
    rows : list of dict
        One row per headline metric, eye and visit (tidy): ``metric``, ``label``, ``unit``,
        ``eye``, ``visit``, ``value``, ``change`` (vs baseline), ``change_ci_low/high``,
        for rates ``ratio`` and ``ratio_ci_low/high``, ``normal`` (range text). The severity
        index and grade are rows with ``eye = "worse"``.
    summary : list of dict
        One row per visit: date, weeks since injection, recording id, valid time, grade,
        index, their changes with the index's interval, and whether the grade change is
        clinically meaningful.
    side_effects : list of dict
        One row per visit and eye: open-eye aperture, its change (mm, %, interval), the
        share of the baseline fissure lost (``lid_drop_estimate``) and the ptosis flag.
    asymmetry : list of dict
        One row per visit: left/right asymmetry of closure rate, time closed and aperture,
        unilateral closure counts (``None`` for a visit without measured time) and whether
        closures are one-sided.
    verdict : str
        The result in plain words.
    treatment : Treatment or None
    settings : CompareSettings
    warnings : list of str
    input_problems : list of str
        Those of the warnings that say the inputs look wrong (:func:`input_problems`): the
        verdict opens with them and the command line prints them even when quiet.
    """

    visits: tuple
    rows: list
    summary: list
    side_effects: list
    asymmetry: list
    verdict: str
    treatment: Treatment | None
    settings: CompareSettings
    warnings: list = field(default_factory=list)
    input_problems: list = field(default_factory=list)
    replicates: dict = field(default_factory=dict, repr=False)   # visit label -> replicates

    def to_dict(self) -> dict:
        """JSON-ready content (everything but the traces, analyses and replicates)."""
        treatment = None
        if self.treatment is not None:
            treatment = {"injection_date": _iso(self.treatment.injection_date), "product": self.treatment.product,
                         "dose_units": self.treatment.dose_units}
        return {
            "compare_version": COMPARE_VERSION,
            "verdict": self.verdict,
            "treatment": treatment,
            "visits": self.summary,
            "metrics": self.rows,
            "side_effects": self.side_effects,
            "asymmetry": self.asymmetry,
            "warnings": self.warnings,
            "settings": dict(self.settings.__dict__),
            "recordings": [{"visit": v.label, "recording_id": v.analysis.recording["recording_id"],
                            "provenance": v.analysis.recording["provenance"]} for v in self.visits],
        }


def visit_seed(visit: Visit, seed: int) -> np.random.SeedSequence:
    """The resampling seed of one visit: ``seed`` and its recording's id (its label if it has
    none), so that its replicates do not depend on the other visits compared (compare-3; before,
    seeds were handed out by place in the list)."""
    key = visit.analysis.recording.get("recording_id") or visit.label
    digest = hashlib.sha256(str(key).encode("utf-8")).digest()
    return np.random.SeedSequence([seed, int.from_bytes(digest[:8], "little")])


def _iso(date: _dt.date | None) -> str | None:
    return date.isoformat() if date else None


def weeks_since(date: _dt.date | None, injection: _dt.date | None) -> float:
    """Weeks from the injection to ``date`` (negative before it; NaN if either is unknown)."""
    if date is None or injection is None:
        return float("nan")
    return (date - injection).days / 7.0


def lid_drop_estimate(aperture_ratio: float) -> float:
    """Share of the baseline's open fissure the eye has lost (0-1), from the open-eye aperture ratio
    (visit / baseline): ``1 - ratio``, 0 for a ratio >= 1. Linear because the face mesh reads
    partly lowered real lids linearly (docs/lid-reading.md); compare-1 passed the ratio through a
    steep curve measured on the synthetic renderer's old lids, which the mesh under-read."""
    if not np.isfinite(aperture_ratio):
        return float("nan")
    return float(np.clip(1.0 - aperture_ratio, 0.0, 1.0))


def _normal_text(metric: str, analysis: Analysis) -> str:
    norms = analysis.recording["normal_ranges"]
    lo, hi = norms["blink_rate_per_min"]
    task = analysis.recording["task"]
    return {
        "closure_rate_per_min": f"{lo:g}-{hi:g} ({task})",
        "blink_rate_per_min": f"{lo:g}-{hi:g} ({task})",
        "share_closed": "grade 4 above 50",
        "spasm_rate_per_min": "0",
        "flutter_bursts_per_min": "0",
        "longest_closure_s": "under 1 (blinks 0.1-0.4)",
        "open_aperture_mm": "about 8-11",
        "severity_index": "0-20 (grade 0)",
        "jankovic_frequency_grade": "0",
    }.get(metric, "")


def compare_visits(visits: list[Visit], *, treatment: Treatment | None = None,
                   settings: CompareSettings = CompareSettings(), replicates: dict | None = None) -> Comparison:
    """Compare a patient's visits with the first one (the baseline).

    Parameters
    ----------
    visits : list of Visit
        In chronological order; the first is the baseline. One visit gives values without
        changes (a single-recording report).
    treatment : Treatment, optional
        The injection, for weeks since injection and the wording of the verdict.
    settings : CompareSettings
    replicates : dict, optional
        Replicates already drawn for these visits with these settings (another comparison's
        ``replicates`` over the same visit objects), by visit label: reused instead of drawn again.
        A visit's replicates depend only on it and the settings (:func:`visit_seed`), so the result
        is the same; the clinic application compares a patient's visits as a course, a current
        cycle and per cycle, and draws each visit's once.

    Returns
    -------
    Comparison

    Raises
    ------
    ValueError
        No visits, or two visits with the same label.
    """
    if not visits:
        raise ValueError("compare_visits needs at least one visit")
    labels = [v.label for v in visits]
    if len(set(labels)) != len(labels):
        raise ValueError(f"visit labels must be unique, got {labels}")
    known = replicates or {}
    reps = {v.label: known.get(v.label) or recording_replicates(
                v.analysis, v.trace, settings=settings, rng=np.random.default_rng(visit_seed(v, settings.seed)))
            for v in visits}
    base = visits[0]
    injection = treatment.injection_date if treatment else None
    conf = settings.confidence

    # a change is given only between gradable visits; and a visit too short to grade gives no rate
    # (one blink in 1.25 s read "48 closures per minute"), as the printed summary says n/a: an
    # aperture it still gives, a level that seconds of video measure
    compared = {v.label for v in visits[1:] if _gradable(v) and _gradable(base)}
    rows = []
    for spec in HEADLINE_METRICS:
        key, scale = spec["key"], spec.get("scale", 1.0)
        for side in SIDES:
            b_value = base.analysis.recording["metrics"][side][key]
            for v in visits:
                value = shown_metric(v.analysis.recording["metrics"][side], key, _gradable(v))
                row = {"metric": key, "label": metric_label(spec, v.analysis.settings), "unit": spec["unit"],
                       "eye": side, "visit": v.label,
                       "value": value * scale, "change": float("nan"), "change_ci_low": float("nan"),
                       "change_ci_high": float("nan"), "normal": _normal_text(key, v.analysis)}
                if v.label in compared:
                    lo, hi = difference_interval(reps[base.label][f"{side}.{key}"], reps[v.label][f"{side}.{key}"],
                                                 confidence=conf)
                    row.update(change=(value - b_value) * scale, change_ci_low=lo * scale, change_ci_high=hi * scale)
                if "count" in spec:
                    row.update(ratio=float("nan"), ratio_ci_low=float("nan"), ratio_ci_high=float("nan"))
                    if v.label in compared:
                        with np.errstate(divide="ignore", invalid="ignore"):
                            ratio = value / b_value if b_value else float("nan")
                        lo, hi = rate_ratio_interval(
                            reps[base.label][f"{side}.{spec['count']}"], reps[base.label][f"{side}.valid_s"],
                            reps[v.label][f"{side}.{spec['count']}"], reps[v.label][f"{side}.valid_s"],
                            confidence=conf)
                        row.update(ratio=ratio, ratio_ci_low=lo, ratio_ci_high=hi)
                rows.append(row)

    summary = []
    b_sev = base.analysis.recording["severity"]
    for v in visits:
        sev = v.analysis.recording["severity"]
        entry = {
            "visit": v.label, "date": _iso(v.date), "weeks_since_injection": weeks_since(v.date, injection),
            "recording_id": v.analysis.recording["recording_id"],
            "valid_time_s": v.analysis.recording["metrics"]["quality"]["valid_time_s"],
            "jankovic_frequency_grade": sev["jankovic_frequency_grade"], "severity_index": sev["severity_index"],
            "severity_index_ci": percentile_interval(reps[v.label]["severity_index"], confidence=conf),
            "grade_left": sev["left"]["jankovic_frequency_grade"], "grade_right": sev["right"]["jankovic_frequency_grade"],
            "formula_version": sev["formula_version"],
            "gradable": sev["gradable"], "not_gradable_reason": sev["not_gradable_reason"],
            # results from before analysis-16 do not say; they are read as having no review events
            "review_count": (sev.get("if_review_closed") or {}).get("review_count", 0),
            "grade_if_review_closed": (sev.get("if_review_closed") or {}).get("jankovic_frequency_grade",
                                                                              sev["jankovic_frequency_grade"]),
            "grade_change": None, "index_change": float("nan"), "index_change_ci": (float("nan"), float("nan")),
            "meaningful_change": None,
        }
        if v is not base and sev["gradable"] and b_sev["gradable"]:  # no change with an ungradable visit
            grade_change = sev["jankovic_frequency_grade"] - b_sev["jankovic_frequency_grade"]
            entry.update(grade_change=grade_change, index_change=sev["severity_index"] - b_sev["severity_index"],
                         index_change_ci=difference_interval(reps[base.label]["severity_index"],
                                                             reps[v.label]["severity_index"], confidence=conf),
                         meaningful_change=abs(grade_change) >= settings.meaningful_grade_change)
        summary.append(entry)
        for key, label in (("severity_index", "Severity index (0-100)"),
                           ("jankovic_frequency_grade", "Jankovic frequency grade")):
            value = float("nan") if entry[key] is None else float(entry[key])
            base_value = float("nan") if b_sev[key] is None else float(b_sev[key])
            rows.append({"metric": key, "label": label, "unit": "" if key == "severity_index" else "grade",
                         "eye": "worse", "visit": v.label, "value": value,
                         "change": float("nan") if v is base else value - base_value,
                         "change_ci_low": entry["index_change_ci"][0] if key == "severity_index" else float("nan"),
                         "change_ci_high": entry["index_change_ci"][1] if key == "severity_index" else float("nan"),
                         "normal": _normal_text(key, v.analysis)})

    side_effects = _side_effects(visits, reps, settings, compared)
    asym = _asymmetry(visits, settings)
    problems = input_problems(visits, treatment)
    warnings = problems + _warnings(visits, settings, treatment)
    comparison = Comparison(visits=tuple(visits), rows=rows, summary=summary, side_effects=side_effects,
                            asymmetry=asym, verdict="", treatment=treatment, settings=settings,
                            warnings=warnings, input_problems=problems, replicates=reps)
    return Comparison(**{**comparison.__dict__, "verdict": verdict_text(comparison)})


def _gradable(visit: Visit) -> bool:
    return bool(visit.analysis.recording["severity"]["gradable"])


def _side_effects(visits, reps, settings: CompareSettings, compared: set) -> list[dict]:
    base = visits[0]
    rows = []
    for v in visits:
        for side in SIDES:
            value = v.analysis.recording["metrics"][side]["open_aperture_mm"]
            b_value = base.analysis.recording["metrics"][side]["open_aperture_mm"]
            row = {"visit": v.label, "eye": side, "open_aperture_mm": value, "change_mm": float("nan"),
                   "change_percent": float("nan"), "change_ci_low_mm": float("nan"), "change_ci_high_mm": float("nan"),
                   "lid_drop_estimate": float("nan"), "ptosis": False, "ptosis_judged": False}
            measured = min(v.analysis.recording["metrics"][side]["valid_time_s"] or 0.0,
                           base.analysis.recording["metrics"][side]["valid_time_s"] or 0.0)
            if v.label in compared and np.isfinite(value) and np.isfinite(b_value) and b_value > 0:
                lo, hi = difference_interval(reps[base.label][f"{side}.open_aperture_mm"],
                                             reps[v.label][f"{side}.open_aperture_mm"], confidence=settings.confidence)
                drop = lid_drop_estimate(value / b_value)
                judged = measured >= settings.ptosis_min_measured_s - 0.05   # to within a frame
                row.update(change_mm=value - b_value, change_percent=100 * (value - b_value) / b_value,
                           change_ci_low_mm=lo, change_ci_high_mm=hi, lid_drop_estimate=drop, ptosis_judged=judged,
                           ptosis=bool(judged and drop >= settings.ptosis_lid_drop
                                       and b_value - value >= settings.ptosis_min_drop_mm and hi < 0))
            rows.append(row)
    return rows


def _asymmetry(visits, settings: CompareSettings) -> list[dict]:
    rows = []
    for v in visits:
        m = v.analysis.recording["metrics"]
        a = m["asymmetry"]
        rows.append({"visit": v.label, "closure_rate": a["closure_rate"], "share_closed": a["share_closed"],
                     "open_aperture": a["open_aperture"], "bilateral_count": m["bilateral_count"],
                     "unilateral_left_count": m["unilateral_left_count"],
                     "unilateral_right_count": m["unilateral_right_count"],
                     "one_sided": one_sided(m, settings.asymmetry_flag)})
    return rows


def one_sided(metrics: dict, flag: float = CompareSettings.asymmetry_flag) -> str | None:
    """The side ('left' or 'right') whose eye closes more often when the closure-rate asymmetry of
    a recording's ``metrics`` (left - right) / (left + right) is ``flag`` or more in size (0.33:
    one eye closes at least twice as often); None otherwise, also where it is not a number (no
    closure in either eye: NaN, or None as a stored analysis holds it)."""
    a = metrics["asymmetry"]["closure_rate"]
    if a is None or not np.isfinite(a) or abs(a) < flag:
        return None
    return "left" if a > 0 else "right"


def other_side_warning(asymmetry: list[dict], affected_side: str) -> str:
    """A warning ('' if none) naming the visits whose closures were one-sided (``asymmetry``, a
    comparison's rows) on the other side than a hemifacial spasm's ``affected_side`` ('left' or
    'right', the patient's side): a mirror-image video (some phones' front cameras save one) swaps
    the sides, or the side recorded in the diagnosis is wrong."""
    other = [r["visit"] for r in asymmetry if r["one_sided"] and r["one_sided"] != affected_side]
    if not other:
        return ""
    side = "right" if affected_side == "left" else "left"
    return (f"closures were one-sided on the patient's {side} at {', '.join(other)}, but the diagnosis is "
            f"{affected_side} hemifacial spasm: if the video is a mirror image (a phone's front camera may save one), "
            "add it again marked as a mirror image and delete the unmarked one; otherwise check the diagnosis")


def view_angles(analysis: Analysis, trace: Trace) -> tuple[float, float]:
    """Median head turn (absolute yaw) and median pitch in degrees over the frames where either
    eye was measured; NaN without such frames or without head angles in the trace."""
    signal = analysis.signal
    measured = np.isfinite(signal.closure["left"]) | np.isfinite(signal.closure["right"])
    out = []
    for name, transform in (("head_yaw_deg", np.abs), ("head_pitch_deg", lambda x: x)):
        values = np.asarray(trace.columns.get(name, np.full(len(measured), np.nan)), dtype=float)[measured]
        values = values[np.isfinite(values)]
        out.append(float(np.median(transform(values))) if values.size else float("nan"))
    return out[0], out[1]


def input_problems(visits, treatment: Treatment | None) -> list[str]:
    """What says the comparison may have been given the wrong files or dates, in words: a visit
    measuring the very frames of an earlier one (the same recording given twice), a baseline filmed
    after the injection, an injection after the day of every visit (a visit on the injection's day
    is filmed before injecting). The verdict opens with them, and they are warnings."""
    out = []
    first_with: dict[str, str] = {}   # digest of the frames measured -> the first visit with them
    for v in visits:
        signal = v.analysis.signal
        frames = hashlib.sha256(b"".join(np.ascontiguousarray(a, dtype=float).tobytes()
                                         for a in (signal.time_s, signal.closure["left"], signal.closure["right"])))
        same = first_with.setdefault(frames.hexdigest(), v.label)
        if same != v.label:
            part = ", the same part of it" if v.analysis.recording["provenance"].get("time_window_s") else ""
            out.append(f"{v.label} measures the very frames {same} measures (the same recording{part}): a recording "
                       "compared with itself shows no change; check which files were given")
    injection = treatment.injection_date if treatment else None
    dates = [v.date for v in visits]
    if injection and dates[0] and dates[0] > injection:   # a visit on the injection's day is filmed before it
        out.append(f"{visits[0].label}, the baseline, was filmed {_weeks_text(weeks_since(dates[0], injection))} "
                   f"weeks after the injection of {injection.isoformat()}: it is not an untreated baseline, so the "
                   "changes from it are not the injection's whole effect")
    if injection and len(visits) > 1 and all(dates) and all(d < injection for d in dates):
        out.append(f"every visit was filmed before the injection of {injection.isoformat()}: none shows its effect, "
                   "and no change here is the treatment's; check the injection date")
    return out


def _warnings(visits, settings: CompareSettings, treatment: Treatment | None) -> list[str]:
    out = []
    base_turn, base_pitch = view_angles(visits[0].analysis, visits[0].trace)
    for v in visits[1:]:
        turn, pitch = view_angles(v.analysis, v.trace)
        if abs(turn - base_turn) > settings.max_view_change_deg or abs(pitch - base_pitch) > settings.max_view_change_deg:
            out.append(f"{v.label}: the head was held differently from the baseline (turned {turn:.0f} against "
                       f"{base_turn:.0f} degrees, pitched {pitch:.0f} against {base_pitch:.0f}): the open-eye aperture "
                       f"in millimetres and the ptosis flag depend on the view, so compare them with care and film "
                       f"every visit from the same place")
    for v in visits:
        valid_s = v.analysis.recording["metrics"]["quality"]["valid_time_s"]
        if valid_s <= 0:
            out.append(f"{v.label}: no video could be measured: it has no values, intervals or changes")
        elif valid_s < settings.min_blocks * settings.block_s:
            out.append(f"{v.label}: {valid_s:.0f} s of measurable video is fewer than {settings.min_blocks} blocks of "
                       f"{settings.block_s:g} s: intervals are rough (record 1-3 minutes)")
        out += [f"{v.label}: {w}" for w in v.analysis.recording["warnings"]
                if "under 30 s" not in w or valid_s < 30]
    tasks = {v.analysis.recording["task"] for v in visits}
    if len(tasks) > 1:
        out.append(f"the visits were recorded during different tasks ({', '.join(sorted(tasks))}): rates differ by task")
    dates = [v.date for v in visits]
    if all(dates) and any(b < a for a, b in zip(dates, dates[1:])):
        out.append("the visits are not in date order; the first one given is used as baseline")
    if treatment and treatment.injection_date and not all(dates):
        out.append("an injection date was given but not every visit has a date")
    return out


# ---------------------------------------------------------------------------------------------
# The verdict in plain words
# ---------------------------------------------------------------------------------------------

def _fmt(x: float, decimals: int = 0) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{decimals}f}".replace("-", "\u2212")


def _signed(x: float, decimals: int = 0) -> str:
    """A change with its sign, as the tables give it: +20, \u221270."""
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.{decimals}f}".replace("-", "\u2212")


def _ci(lo: float, hi: float, decimals: int = 0) -> str:
    """The interval of a change, signed (every caller's is one)."""
    if _signed(lo, decimals) == _signed(hi, decimals) != "n/a":
        # e.g. a severity index at the floor of its grade band in every resample
        return "every resample gave the same value"
    return f"95 % CI {_signed(lo, decimals)} to {_signed(hi, decimals)}"


def _weeks_text(weeks: float) -> str:
    """Weeks without their sign, whole when within 0.05 of a whole number, else to one decimal."""
    return _fmt(abs(weeks), 0 if abs(weeks - round(weeks)) < 0.05 else 1)


def _when(visit: Visit, weeks: float) -> str:
    if not math.isfinite(weeks):
        return visit.label
    return f"{visit.label} ({_weeks_text(weeks)} weeks {'before' if weeks < 0 else 'after'} the injection)"


def _direction(lo: float, hi: float, *, down: str, up: str, same: str) -> str:
    return down if hi < 0 else up if lo > 0 else same


def verdict_text(comparison: Comparison) -> str:
    """The comparison's result in plain sentences, one paragraph per line: severity first,
    then meaningful change, side effects and asymmetry."""
    summary, visits = comparison.summary, comparison.visits
    base = summary[0]
    problems = comparison.input_problems
    paragraphs = ["Check before reading on: " + "; ".join(problems) + "."] if problems else []
    ungradable = [e for e in summary if not e["gradable"]]
    if len(summary) == 1 and ungradable:
        paragraphs.append(f"This recording could not be graded: {base['not_gradable_reason']}.")
    elif len(summary) == 1:
        m = visits[0].analysis.recording["metrics"]
        worse = max(SIDES, key=lambda s: m[s]["share_closed"] if math.isfinite(m[s]["share_closed"]) else -1)
        paragraphs.append(
            f"Objective Jankovic frequency grade {base['jankovic_frequency_grade']} "
            f"(severity index {_fmt(base['severity_index'])} of 100): {_fmt(m[worse]['closure_rate_per_min'], 0)} "
            f"closures and {_fmt(m[worse]['spasm_rate_per_min'], 1)} spasms per minute, eyes closed "
            f"{_fmt(100 * m[worse]['share_closed'], 0)} % of the time ({worse} eye).")
    else:
        injection = comparison.treatment.injection_date if comparison.treatment else None
        parts = []
        graded = [k for k in range(len(summary)) if summary[k]["gradable"]]
        if base["gradable"] and graded == [0]:  # nothing graded to compare with: the baseline's grade
            parts.append(f"{base['visit']}: grade {base['jankovic_frequency_grade']} "
                         f"(index {_fmt(base['severity_index'])})")
        if not base["gradable"]:  # no baseline grade: the other visits' grades, no changes
            parts += [f"{summary[k]['visit']}: grade {summary[k]['jankovic_frequency_grade']} "
                      f"(index {_fmt(summary[k]['severity_index'])})" for k in graded]
            graded = []
        for k, p in zip(graded[1:], graded):  # each graded visit against the previous graded one
            entry, previous = summary[k], summary[p]
            lo, hi = entry["index_change_ci"]
            g0, g1 = previous["jankovic_frequency_grade"], entry["jankovic_frequency_grade"]
            when = _when(visits[k], entry["weeks_since_injection"])
            if p == 0:
                after = (" after the injection" if injection and visits[0].date and visits[k].date
                         and visits[0].date <= injection <= visits[k].date else "")
                direction = _direction(lo, hi, down="fell", up="rose", same="did not change clearly")
                if g0 == g1:
                    grades = f"(grade {g1})"
                elif direction == "did not change clearly":   # the grades are stated, not called a move
                    grades = f"(grade {g0}, then grade {g1})"
                else:
                    grades = f"from grade {g0} to grade {g1}"
                change = f"change {_signed(entry['index_change'])}, {_ci(lo, hi)}"
                when = f"{when[:-1]}; {change})" if when.endswith(")") else f"{when} ({change})"
                parts.append(f"Severity {direction} {grades}{after}: index {_fmt(base['severity_index'])} \u2192 "
                             f"{_fmt(entry['severity_index'])} at {when}")
            else:
                step = (comparison.replicates[visits[k].label]["severity_index"]
                        - comparison.replicates[visits[p].label]["severity_index"])
                s_lo, s_hi = percentile_interval(step, confidence=comparison.settings.confidence)
                direction = _direction(s_lo, s_hi, down="fell further", up="rose again", same="did not change clearly")
                if direction == "did not change clearly":  # the grade is stated, not called a move
                    direction, grades = f"{direction} (grade {g1};", ""
                else:
                    grades = (f"to grade {g1}" if g1 != g0 else f"at grade {g1}") + " ("
                parts.append(f"by {when} it {direction} {grades}index {_fmt(entry['severity_index'])}, "
                             f"change {_signed(entry['severity_index'] - previous['severity_index'])} vs {visits[p].label}, "
                             f"{_ci(s_lo, s_hi)}; vs baseline {_signed(entry['index_change'])}, {_ci(lo, hi)})")
        parts += [f"{e['visit']} could not be graded ({e['not_gradable_reason']}): no grade, index or change "
                  f"is given for it" for e in ungradable]  # after the narrative of the graded visits
        text = "; ".join(parts)
        paragraphs.append(text[:1].upper() + text[1:] + ".")
        meaningful = [e for e in summary[1:] if e["meaningful_change"]]
        clear = [e["visit"] for e in meaningful if not e["index_change_ci"][0] <= 0 <= e["index_change_ci"][1]]
        unclear = [e["visit"] for e in meaningful if e["visit"] not in clear]
        n = comparison.settings.meaningful_grade_change
        if all(e["grade_change"] is None for e in summary[1:]):
            pass  # no visit could be compared with a graded baseline: nothing to say about change
        elif meaningful:
            text = (f"The grade changed by {n} or more Jankovic points, the size clinicians consider meaningful, at "
                    f"{', '.join(clear)}." if clear else "")
            if unclear:   # a point grade moved across its bands while the index's interval still holds no change
                text += (" " if text else "") + (
                    f"At {', '.join(unclear)} the grade differs from baseline by {n} or more points, but the index "
                    f"change's 95 % interval includes no change: not a clear change (record longer to settle it).")
            paragraphs.append(text)
        else:
            paragraphs.append(f"No visit differs from baseline by {n} or more Jankovic points, the size clinicians "
                              f"consider meaningful.")
        by_task: dict[str, list[str]] = {}
        for v in visits:
            by_task.setdefault(v.analysis.recording["task"], []).append(v.label)
        if len(by_task) > 1:
            paragraphs.append("The visits were recorded during different tasks (" + "; ".join(
                f"{task}: {', '.join(labels)}" for task, labels in by_task.items()) + "): the grade is judged against "
                "each task's normal blink rate and the rates differ by task, so these changes are not the "
                "treatment's alone. Record every visit with the same task.")
    unsettled = [e for e in summary if e["gradable"] and e["grade_if_review_closed"] != e["jankovic_frequency_grade"]]
    if unsettled:
        paragraphs.append("Grade not settled: " + "; ".join(
            f"{e['visit'] if len(summary) > 1 else 'the recording'} would be grade {e['grade_if_review_closed']}, "
            f"not {e['jankovic_frequency_grade']}, if its {review_closures_phrase(e['review_count'])}"
            for e in unsettled)
            + " (long closures on eyes too small in the picture to tell a closure from a lowered gaze). "
              "Check them in the video before reading the grade" + ("s and their changes." if len(summary) > 1 else "."))
    ptosis = [r for r in comparison.side_effects if r["ptosis"]]
    injection = comparison.treatment.injection_date if comparison.treatment else None
    dated = {v.label: v.date for v in visits}
    untreated = [r for r in ptosis if injection and dated[r["visit"]] and dated[r["visit"]] <= injection]
    for rows, heading in (([r for r in ptosis if r not in untreated], "Possible ptosis (side effect)"),
                          (untreated, "Open eye narrower than at baseline, before the injection (not its side effect)")):
        if rows:
            paragraphs.append(f"{heading}: " + "; ".join(
                f"{r['eye']} eye at {r['visit']}, open-eye aperture {_signed(r['change_mm'], 2)} mm "
                f"({_signed(r['change_percent'], 0)} %, {_ci(r['change_ci_low_mm'], r['change_ci_high_mm'], 2)})"
                for r in rows) + ".")
    if not ptosis and any(r["ptosis_judged"] for r in comparison.side_effects):   # an aperture was compared
        paragraphs.append("No ptosis flagged: the open-eye aperture did not fall clearly below baseline.")
    short = [r for r in comparison.side_effects if math.isfinite(r["change_mm"]) and not r["ptosis_judged"]]
    if short:
        minimum = f"{comparison.settings.ptosis_min_measured_s:g} s"
        paragraphs.append(f"Ptosis not judged at {', '.join(dict.fromkeys(r['visit'] for r in short))}: under "
                          f"{minimum} of the eye measured there or at baseline (parts of one sitting this short "
                          f"differ in open-eye aperture by 10 % or more about one time in six). Film {minimum} or "
                          "more.")
    one_sided = [r for r in comparison.asymmetry if r["one_sided"]]
    if one_sided:
        paragraphs.append("Closures were one-sided (hemifacial pattern) at " + ", ".join(
            f"{r['visit']} ({r['one_sided']} eye)" for r in one_sided) + ".")
    return "\n".join(paragraphs)
