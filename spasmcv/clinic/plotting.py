"""Plots for reports (the only module importing matplotlib; Agg backend, no display needed).

Every plot function draws on the axes given as ``ax=`` and returns them, so plots can be
combined freely (librosa's ``display`` convention). :func:`subplots` and :func:`to_png` are the
only helpers that create or serialise figures. Colours are the same everywhere: the patient's
right eye blue, the left eye orange; spasms red, flutter purple, prolonged closures amber,
blinks grey.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # noqa: E402  (before pyplot; files only, never a window)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from spasmcv.analysis.events import display_kind  # noqa: E402
from spasmcv.clinic.palette import EYE_COLORS, KIND_COLORS, KIND_LABELS, kind_labels  # noqa: E402

GRADE_COLORS = ("#eef7ee", "#f6f8e6", "#fdf3e1", "#fbe6dc", "#f6d9d9")

plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.spines.top": False,
                     "axes.spines.right": False, "savefig.facecolor": "white", "figure.facecolor": "white",
                     "svg.hashsalt": "spasmcv", "font.family": "DejaVu Sans"})


def subplots(nrows: int = 1, ncols: int = 1, *, width_in: float = 7.5, height_in: float = 2.5, **kwargs):
    """A figure of the given size (inches) with its axes, as :func:`matplotlib.pyplot.subplots`."""
    return plt.subplots(nrows, ncols, figsize=(width_in, height_in), **kwargs)


def to_png(fig, *, dpi: int = 130) -> bytes:
    """The figure as PNG bytes (without a creation date); the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def plot_closure(time_s: np.ndarray, closure: np.ndarray, events: list, *, side: str, ax, closed_level: float = 0.5):
    """One eye's closure (0 open - 1 closed) over time, with its detected events as coloured spans.

    Parameters
    ----------
    time_s : ndarray (n,)
        Frame times, s.
    closure : ndarray (n,)
        Closure 0-1, NaN where not measurable (shaded grey).
    events : list of EyeEvent
        The eye's events; each is drawn from onset to offset in its kind's colour.
    side : {"left", "right"}
        The patient's side (sets the line colour and the label).
    ax : matplotlib Axes
    closed_level : float
        Closure counted as closed (dotted line).
    """
    time_s = np.asarray(time_s, dtype=float)
    closure = np.asarray(closure, dtype=float)
    for event in events:
        ax.axvspan(event.onset_s, event.offset_s, color=KIND_COLORS[display_kind(event)], alpha=0.45, lw=0)
    missing = ~np.isfinite(closure)
    if missing.any():
        edges = np.diff(np.r_[0, missing.astype(int), 0])
        for a, b in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
            ax.axvspan(time_s[a], time_s[b - 1], color="#bbbbbb", alpha=0.5, lw=0, hatch="//")
    ax.plot(time_s, closure, color=EYE_COLORS[side], lw=0.9)
    ax.axhline(closed_level, color="#555555", lw=0.6, ls=":")
    ax.set_ylim(-0.05, 1.05)
    start = time_s[0] if len(time_s) else 0.0
    ax.set_xlim(start, max(time_s[-1] if len(time_s) else 1.0, start + 1.0))   # one frame: a second's width, no warning
    ax.set_yticks([0, 0.5, 1])
    ax.set_ylabel(f"{side} eye\nclosure", color=EYE_COLORS[side])
    return ax


def kind_legend(ax, *, loc: str = "upper center", ncol: int = 3, labels: dict | None = None):
    """A legend of the event kinds' colours (for closure plots); ``labels``: the kinds' names
    (:func:`~spasmcv.clinic.palette.kind_labels`; default those of the default durations)."""
    handles = [Patch(color=KIND_COLORS[k], alpha=0.6, label=label) for k, label in (labels or KIND_LABELS).items()]
    ax.legend(handles=handles, loc=loc, ncol=ncol, frameon=False, fontsize=8, bbox_to_anchor=(0.5, 1.45))
    return ax


def plot_visit_rates(labels: list[str], values: dict, lower: dict, upper: dict, *, normal_range: tuple[float, float],
                     ax, ylabel: str = "per minute"):
    """Grouped bars per visit (e.g. closures and blinks per minute, per eye) with 95 % intervals.

    Parameters
    ----------
    labels : list of str
        Visit labels (x axis).
    values, lower, upper : dict of series name -> sequence (n_visits,)
        Bar heights and interval ends. Series names ending in ``(left)``/``(right)`` take the
        eye's colour; names starting with ``Blinks`` are hatched.
    normal_range : (low, high)
        Shaded as the normal range of the spontaneous blink rate.
    ax : matplotlib Axes
    """
    names = list(values)
    x = np.arange(len(labels))
    width = 0.8 / max(len(names), 1)
    ax.axhspan(*normal_range, color="#e3f1e3", lw=0, zorder=0, label=f"normal blink rate {normal_range[0]:g}-{normal_range[1]:g}")
    for k, name in enumerate(names):
        side = "left" if name.endswith("(left)") else "right"
        v = np.asarray(values[name], dtype=float)
        err = np.vstack([v - np.asarray(lower[name], dtype=float), np.asarray(upper[name], dtype=float) - v])
        err = np.where(np.isfinite(err), np.maximum(err, 0), 0)
        ax.bar(x + (k - (len(names) - 1) / 2) * width, v, width * 0.92, yerr=err, capsize=2,
               color=EYE_COLORS[side], alpha=0.55 if name.startswith("Blinks") else 0.95,
               hatch="///" if name.startswith("Blinks") else None, edgecolor="white", lw=0.5,
               error_kw={"lw": 0.8, "ecolor": "#333333"}, label=name, zorder=2)
    ax.set_xticks(x, labels)
    ax.set_ylabel(ylabel)
    ax.legend(frameon=False, fontsize=7.5, ncol=3, loc="upper right")
    ax.set_ylim(0, max(ax.get_ylim()[1], normal_range[1]) * 1.25)
    return ax


def plot_durations(durations: dict, *, ax, normal_blink_s: tuple[float, float] = (0.1, 0.4), prolonged_s: float = 0.5,
                   spasm_s: float = 1.0):
    """Distribution of event durations (log scale), stacked by kind.

    Parameters
    ----------
    durations : dict of kind -> sequence of seconds
        Kinds as in :data:`KIND_COLORS` (``blink``, ``flutter``, ``prolonged``, ``spasm``).
    ax : matplotlib Axes
    normal_blink_s : (low, high)
        Shaded: the duration of a normal blink.
    prolonged_s, spasm_s : float
        The durations in use: from ``prolonged_s`` a closure is prolonged (in the legend), from
        ``spasm_s`` a spasm (and the dashed line).
    """
    bins = np.logspace(np.log10(0.05), np.log10(20), 31)
    kinds = [k for k in ("blink", "flutter", "prolonged", "spasm") if len(durations.get(k, []))]
    ax.axvspan(*normal_blink_s, color="#e3f1e3", lw=0, zorder=0, label="normal blink")
    if kinds:
        ax.hist([np.clip(durations[k], bins[0], bins[-1]) for k in kinds], bins=bins, stacked=True,
                color=[KIND_COLORS[k] for k in kinds], label=[kind_labels(prolonged_s, spasm_s)[k] for k in kinds],
                zorder=2)
    else:
        ax.text(0.5, 0.5, "no closures", transform=ax.transAxes, ha="center", va="center", color="#777777")
    ax.axvline(spasm_s, color="#c0392b", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.set_xlim(bins[0], bins[-1])
    ax.set_xticks([0.1, 0.2, 0.5, 1, 2, 5, 10], ["0.1", "0.2", "0.5", "1", "2", "5", "10"])
    ax.set_xlabel("closure duration (s, onset to offset)")
    ax.set_ylabel("closures")
    ax.yaxis.get_major_locator().set_params(integer=True)
    return ax


def plot_severity_timeline(x: np.ndarray, index: np.ndarray, ci_low: np.ndarray, ci_high: np.ndarray,
                           grades: list[int], labels: list[str], *, ax, xlabel: str = "weeks since injection",
                           injection_x: float | None = 0.0):
    """Severity index (0-100) per visit with its 95 % interval over grade bands.

    Parameters
    ----------
    x : ndarray (n_visits,)
        Visit positions (weeks since injection, or 0, 1, 2 ... without dates).
    index, ci_low, ci_high : ndarray (n_visits,)
        Severity index and interval ends.
    grades : list of int or None
        Jankovic frequency grade per visit (annotated; None: not gradable).
    labels : list of str
        Visit labels (annotated).
    ax : matplotlib Axes
    xlabel : str
    injection_x : float or None
        Where to draw the injection line (None: no line).
    """
    x = np.asarray(x, dtype=float)
    index = np.asarray(index, dtype=float)
    for g in range(5):
        ax.axhspan(20 * g, 20 * (g + 1), color=GRADE_COLORS[g], lw=0, zorder=0)
        ax.text(1.01, 20 * g + 10, f"grade {g}", transform=ax.get_yaxis_transform(), va="center", fontsize=7.5,
                color="#666666")
    err = np.vstack([index - np.asarray(ci_low, dtype=float), np.asarray(ci_high, dtype=float) - index])
    err = np.where(np.isfinite(err), np.maximum(err, 0), 0)
    ax.errorbar(x, index, yerr=err, color="#222222", marker="o", ms=5, lw=1.2, capsize=3, zorder=3)
    # the axis holds the visits and the injection line (which may lie before or after every visit)
    ends = np.append(x, injection_x) if injection_x is not None and np.isfinite(injection_x) else x
    span = (np.nanmax(ends) - np.nanmin(ends)) if len(ends) > 1 else 1.0
    for xi, yi, g, label in zip(x, index, grades, labels):
        if g is None or not np.isfinite(yi):  # not gradable: named at the bottom, no point
            ax.annotate(f"{label}\nnot gradable", (xi, 2), ha="center", va="bottom", fontsize=7.5, color="#666666")
            continue
        ax.annotate(f"{label}\ngrade {g}, {yi:.0f}", (xi, yi), xytext=(0, 9), textcoords="offset points",
                    ha="center", fontsize=7.5)
    if injection_x is not None:
        ax.axvline(injection_x, color="#2e7d32", lw=1, ls="--")
        ax.text(injection_x, 98, " injection", color="#2e7d32", fontsize=7.5, va="top")
    ax.set_xlim(np.nanmin(ends) - 0.08 * span - 0.5, np.nanmax(ends) + 0.08 * span + 0.5)
    ax.set_ylim(0, 100)
    ax.set_ylabel("severity index")
    ax.set_xlabel(xlabel)
    return ax


def plot_course(summary: list[dict], *, ax, injections: list[tuple] = (), ratings: list[tuple] = ()):
    """A patient's whole course: :func:`plot_severity_timeline` over weeks since the first visit,
    with every injection marked.

    Parameters
    ----------
    summary : list of dict
        A course comparison's ``summary`` (dated visits, in date order).
    injections : list of (datetime.date, float or None)
        Injection day and total units (None: not recorded).
    ratings : list of (datetime.date, int)
        The clinician's Jankovic frequency rating (0-4) per visit day, drawn as diamonds in the
        middle of their grade band.
    """
    import datetime as dt

    start = dt.date.fromisoformat(summary[0]["date"])
    weeks = [(dt.date.fromisoformat(e["date"]) - start).days / 7 for e in summary]
    plot_severity_timeline(weeks, [e["severity_index"] for e in summary], [e["severity_index_ci"][0] for e in summary],
                           [e["severity_index_ci"][1] for e in summary],
                           [e["jankovic_frequency_grade"] for e in summary], [e["visit"] for e in summary], ax=ax,
                           xlabel=f"weeks since {start.isoformat()}", injection_x=None)
    marks = [(day - start).days / 7 for day, _ in injections]
    ends = weeks + marks
    span = max(ends) - min(ends) if len(ends) > 1 else 1.0
    level = 0
    for k, (x, (_, units)) in enumerate(zip(marks, injections)):
        ax.axvline(x, color="#2e7d32", lw=1, ls="--")
        # an injection close to the one before (a touch-up) gets its label a line lower, not on top of it
        level = level + 1 if k and x - marks[k - 1] < 0.2 * span else 0
        ax.text(x, 98 - 7 * (level % 3), " injection" + (f" {units:g} U" if units else ""), color="#2e7d32",
                fontsize=7.5, va="top")
    if marks:  # the axis holds every injection too
        ax.set_xlim(min(ends) - 0.08 * span - 0.5, max(ends) + 0.08 * span + 0.5)
    if ratings:
        ax.plot([(day - start).days / 7 for day, _ in ratings], [20 * r + 10 for _, r in ratings], ls="none",
                marker="D", mfc="none", mec="#1f6fb2", ms=7, label="clinician's frequency rating", zorder=4)
        # under the axes, where it cannot cover a visit's label
        ax.legend(loc="upper left", bbox_to_anchor=(0, -0.22), fontsize=7, frameon=False)
    return ax


def plot_head_pose(time_s: np.ndarray, yaw_deg: np.ndarray, pitch_deg: np.ndarray, roll_deg: np.ndarray, *, ax):
    """Head yaw, pitch and roll (degrees) over time; gaps where no face was measured."""
    for values, label, color in ((yaw_deg, "yaw", "#37474f"), (pitch_deg, "pitch", "#00897b"),
                                 (roll_deg, "roll", "#b0bec5")):
        ax.plot(time_s, values, lw=0.8, label=label, color=color)
    ax.axhspan(-15, 15, color="#f1f8e9", lw=0, zorder=0)
    ax.set_ylabel("head angle (deg)")
    ax.set_xlabel("time (s)")
    ax.legend(frameon=False, fontsize=7.5, ncol=3, loc="upper right")
    lim = max(30.0, float(np.nanmax(np.abs(np.r_[yaw_deg, pitch_deg, roll_deg, 0.0]))) * 1.1)
    ax.set_ylim(-lim, lim)
    return ax
