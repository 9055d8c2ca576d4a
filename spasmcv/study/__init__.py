"""Studies: many recordings scored in parallel, resumable and cached by content, with tidy
tables for researchers. Built on :mod:`spasmcv.measure` and :mod:`spasmcv.analysis`.

``inputs`` (what to score: manifest or folders) -> ``run`` (workers, local or Dask; one path
per recording, also for rescoring) with ``cache`` (content-addressed keys, saved results) and
``result`` (the typed per-recording result) -> ``tables`` (recordings, events, minutes).
The names below are importable from here and loaded on first use.
"""

from importlib import import_module

_PUBLIC = {
    "Job": "spasmcv.study.inputs", "read_manifest": "spasmcv.study.inputs", "find_videos": "spasmcv.study.inputs",
    "run_batch": "spasmcv.study.run", "rescore": "spasmcv.study.run", "score_many": "spasmcv.study.run",
    "BatchReport": "spasmcv.study.run", "RecordingResult": "spasmcv.study.result",
    "load_tables": "spasmcv.study.tables", "Tables": "spasmcv.study.tables",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'spasmcv.study' has no attribute {name!r}")
