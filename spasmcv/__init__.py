"""spasmcv: objective measurement of blepharospasm and hemifacial spasm from face videos.

Pipeline (one module per stage, data flowing one way):
video (:mod:`spasmcv.video`) -> landmarks (:mod:`spasmcv.landmarks`) -> eyelid signals
(:mod:`spasmcv.eyelid`) -> trace file (:mod:`spasmcv.trace`), run in order by
:func:`extract_trace`; then closure (:mod:`spasmcv.closure`) -> events (:mod:`spasmcv.events`)
-> metrics (:mod:`spasmcv.metrics`) -> severity (:mod:`spasmcv.severity`), run in order by
:func:`analyze_trace`; visit comparison (:mod:`spasmcv.compare`), the HTML report
(:mod:`spasmcv.report`) and batch scoring (:mod:`spasmcv.batch`) build on those.
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("spasmcv")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

from .errors import ModelError, SpasmcvError, TraceError, VideoError  # noqa: E402
from .analyze import analyze_trace, write_analysis  # noqa: E402
from .extract import extract_trace  # noqa: E402
from .landmarks import TrackerSettings  # noqa: E402
from .model import resolve_model  # noqa: E402
from .trace import Trace, read_trace, write_trace  # noqa: E402
from .video import probe_video  # noqa: E402

__all__ = [
    "__version__", "extract_trace", "analyze_trace", "write_analysis", "probe_video", "read_trace",
    "write_trace", "resolve_model",
    "Trace", "TrackerSettings", "SpasmcvError", "VideoError", "ModelError", "TraceError",
]
