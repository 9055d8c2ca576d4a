"""spasmcv: objective measurement of blepharospasm and hemifacial spasm from face videos.

Layers, data flowing one way (docs/design.md):

* :mod:`spasmcv.measure`: video -> face landmarks -> eyelid signals -> the trace file
  (:func:`extract_trace`); needs PyAV, OpenCV and MediaPipe.
* :mod:`spasmcv.analysis`: trace -> quality gate -> closure -> events -> metrics -> severity
  (:func:`analyze_trace`); numpy only.
* :mod:`spasmcv.clinic`: one patient's visits compared, the HTML report, plots, review videos.
* :mod:`spasmcv.study`: many recordings scored in parallel, resumable (batch).
* :mod:`spasmcv.synthetic`: synthetic patient videos with exact ground truth (tests, scripts).

Importing ``spasmcv`` imports nothing heavy: the names below are loaded on first use.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("spasmcv")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

#: Public name -> module that defines it (imported on first access).
_PUBLIC = {
    "extract_trace": "spasmcv.measure.extract",
    "probe_video": "spasmcv.measure.video",
    "resolve_model": "spasmcv.measure.model",
    "TrackerSettings": "spasmcv.measure.landmarks",
    "Trace": "spasmcv.measure.trace",
    "read_trace": "spasmcv.measure.trace",
    "write_trace": "spasmcv.measure.trace",
    "analyze_trace": "spasmcv.analysis.analyze",
    "write_analysis": "spasmcv.analysis.analyze",
    "SpasmcvError": "spasmcv.errors",
    "VideoError": "spasmcv.errors",
    "ModelError": "spasmcv.errors",
    "TraceError": "spasmcv.errors",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'spasmcv' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
