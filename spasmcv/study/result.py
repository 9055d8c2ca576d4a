"""One recording's result in a study: a typed record, built in one place for batch and rescore.

:func:`analysed` turns a trace into the result's fields (through
:func:`spasmcv.analysis.analyze.analyze_trace`); :func:`recording_row` flattens an analysis
into the recordings-table columns.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass, field

import numpy as np

from spasmcv import __version__
from spasmcv._tables import json_safe
from spasmcv.analysis.analyze import ANALYSIS_VERSION, AnalysisSettings, analyze_trace, changed_settings
from spasmcv.analysis.severity import FORMULA_VERSION
from spasmcv.measure.trace import Trace, scored_part

SIGNALS_VERSION_KEY = "signals_version"


def changed_measure_settings(parameters: dict | None) -> str | None:
    """The measure settings a trace was extracted with (its ``parameters`` metadata, where the
    tracker's fields sit beside ``mirrored``) that differ from the defaults, as
    ``measure.tracker.num_faces=1; measure.mirrored=True``: empty for the defaults, None for a
    trace that does not record them."""
    from spasmcv.measure.extract import MeasureSettings

    if not isinstance(parameters, dict):
        return None
    tracker = {f.name for f in dataclasses.fields(MeasureSettings().tracker)}
    given = {"tracker": {k: v for k, v in parameters.items() if k in tracker},
             "mirrored": parameters.get("mirrored", False)}
    return changed_settings(given, MeasureSettings(), prefix="measure.")


@dataclass
class RecordingResult:
    """What a study keeps of one recording (saved as ``results/RECORDING_ID-RESULTKEY.json``).

    ``status`` is "ok" or "failed" (then ``error`` says why, in words, without the input's
    path); ``row``, ``events`` and ``minutes`` are the recording's rows of the three tables.
    """

    recording_id: str
    status: str
    error: str = ""
    task: str = "rest"
    trace_file: str = ""
    extract_key: str = ""
    result_key: str = ""
    extracted: bool = False
    elapsed_s: float = 0.0
    row: dict = field(default_factory=dict)
    events: list = field(default_factory=list)
    minutes: list = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status == "failed"

    @classmethod
    def failure(cls, message: str, *, recording_id: str = "", task: str = "rest", **known) -> "RecordingResult":
        return cls(recording_id=recording_id, status="failed", error=message, task=task, **known)

    def to_json(self) -> dict:
        """A JSON-ready dict (NaN as null)."""
        return json_safe(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, data: dict) -> "RecordingResult":
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


def flatten(prefix: str, value, out: dict) -> None:
    """Nested dicts as flat ``a_b_c`` columns of ``out`` (lists joined with "; ")."""
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}_{k}" if prefix else str(k), v, out)
    elif isinstance(value, (list, tuple)):
        out[prefix] = "; ".join(str(v) for v in value)
    else:
        out[prefix] = value


def recording_row(analysis, trace: Trace) -> dict:
    """The flat recordings-table columns of one analysed recording."""
    rec = analysis.recording
    row: dict = {}
    sev = rec["severity"]
    row["jankovic_frequency_grade"] = sev["jankovic_frequency_grade"]
    row["severity_index"] = sev["severity_index"]
    row["worse_eye"] = sev["worse_eye"]
    row["not_gradable_reason"] = sev.get("not_gradable_reason")
    upper = sev.get("if_review_closed") or {}  # empty for results from before analysis-16 (the clinic's database)
    row["review_count"] = upper.get("review_count")
    row["jankovic_frequency_grade_if_review_closed"] = upper.get("jankovic_frequency_grade")
    row["severity_index_if_review_closed"] = upper.get("severity_index", float("nan"))
    for side in ("left", "right"):
        row[f"{side}_jankovic_frequency_grade"] = sev[side]["jankovic_frequency_grade"]
        row[f"{side}_severity_index"] = sev[side]["severity_index"]
    metrics = dict(rec["metrics"])
    quality = metrics.pop("quality")
    for key, value in metrics.items():
        flatten(key, value, row)
    flatten("quality", quality, row)
    flatten("intensity", rec["intensity"], row)
    video = trace.metadata.get("video", {})
    row.update({
        "video_duration_s": video.get("duration_s"), "video_fps": video.get("measured_fps"),
        "video_width": video.get("width"), "video_height": video.get("height"), "video_codec": video.get("codec"),
        "variable_frame_rate": video.get("variable_frame_rate"),
        "warnings": "; ".join(rec["warnings"]),
        "spasmcv_version": __version__, "analysis_version": ANALYSIS_VERSION, "formula_version": FORMULA_VERSION,
        "analysis_settings": changed_settings(rec.get("provenance", {}).get("settings")),
        "signals_version": trace.metadata.get(SIGNALS_VERSION_KEY),
        "model_sha256": trace.metadata.get("model", {}).get("sha256"), "video_sha256": video.get("sha256"),
        # what decided the trace besides the model: the left and right columns swap when mirrored
        "measure_settings": changed_measure_settings(trace.metadata.get("parameters")),
        "mirrored": (trace.metadata.get("parameters") or {}).get("mirrored"),
        "mediapipe_version": (trace.metadata.get("software") or {}).get("mediapipe"),
        "av_version": (trace.metadata.get("software") or {}).get("av"),
    })
    return row


@functools.lru_cache(maxsize=1)
def recording_columns() -> tuple[str, ...]:
    """The columns :func:`recording_row` gives every analysed recording, in its order: those of a
    one-second recording without a face (the row has the same keys whatever was measured), so
    that a table whose rows all failed still has every metric's column."""
    n = 30
    empty = Trace({"time_s": np.arange(n) / 30.0, "valid": np.zeros(n, dtype=np.int8),
                   "ear_left": np.full(n, np.nan), "ear_right": np.full(n, np.nan)}, {})
    return tuple(recording_row(analyze_trace(empty), empty))


def analysed(trace: Trace, task: str, settings: AnalysisSettings, window: tuple[float, float] | None = None) -> dict:
    """The :class:`RecordingResult` fields of one analysed trace, or of its frames in ``window``
    (start, end in s; batch and rescore share this path)."""
    if window is not None:
        trace = scored_part(trace, window[0], None if math.isinf(window[1]) else window[1])
    analysis = analyze_trace(trace, task=task, settings=settings)
    return {"status": "ok", "error": "", "row": recording_row(analysis, trace),
            "events": analysis.events.summary(), "minutes": analysis.per_minute}
