"""The ``spasmcv`` command line: a thin shell around the Python API.

Exit codes: 0 success, 1 other spasmcv error, 2 usage (including an unknown ``--set`` key),
3 video error, 4 model error, 5 trace error, 6 batch error (cannot start, or aborted),
7 output error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

from spasmcv import __version__
from spasmcv.errors import OutputError, SettingsError, SpasmcvError
from spasmcv.analysis.metrics import TASK_NORMS

#: Recording tasks, each with its own normal ranges (docs/analysis.md).
TASKS = tuple(TASK_NORMS)


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="PATH",
                        help="face_landmarker.task (default: $SPASMCV_MODEL, the user cache, or a one-time download)")
    parser.add_argument("--custom-model", action="store_true",
                        help="accept a model file whose sha256 is not the official one")


def _add_settings_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="change a setting of the one settings tree (docs/analysis.md), e.g. "
                             "analysis.events.spasm_s=2.0, analysis.quality.max_yaw_deg=25 or "
                             "measure.tracker.num_faces=1; repeatable")


def _settings(args):
    """The settings tree of a command: defaults, then its shortcut options, then ``--set``."""
    import dataclasses

    from spasmcv.settings import Settings, with_overrides

    settings = Settings()
    measure = settings.measure
    if getattr(args, "mirrored", False):
        measure = dataclasses.replace(measure, mirrored=True)
    tracker_options = {"num_faces": getattr(args, "num_faces", None), "max_side_px": getattr(args, "max_side", None)}
    tracker_options = {k: v for k, v in tracker_options.items() if v is not None}
    if tracker_options:
        measure = dataclasses.replace(measure, tracker=dataclasses.replace(measure.tracker, **tracker_options))
    return with_overrides(dataclasses.replace(settings, measure=measure), getattr(args, "overrides", []))


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _dose_units(text: str) -> float:
    """argparse type: a dose in units, a finite number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of units: {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"a dose is a number of units above 0, got {text}")
    return value


def _default_prefix(path: Path) -> Path:
    """Output prefix from an input's name, in the current folder: ``visit.1.trace.csv.gz`` -> ``visit.1``."""
    name = path.name
    for suffix in (".gz", ".csv", ".trace"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    from spasmcv.measure.video import VIDEO_SUFFIXES

    return Path(Path(name).stem if Path(name).suffix.lower() in VIDEO_SUFFIXES else name)


def _date(text: str):
    import datetime

    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _visit_spec(text: str) -> tuple:
    """``LABEL=DATE:PATH`` or ``LABEL:PATH`` (or ``LABEL=PATH``) -> (label, date or None, path)."""
    import re

    match = re.fullmatch(r"([^=:]+)(?:=(\d{4}-\d{2}-\d{2}))?[=:](.+)", text)
    attempt = re.fullmatch(r"[^=:]+=([\d./-]+):.+", text)
    if attempt and not (match and match.group(2)):
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {attempt.group(1)!r} in {text!r}")
    if not match:
        raise argparse.ArgumentTypeError(
            f"expected LABEL=YYYY-MM-DD:PATH or LABEL:PATH, got {text!r}")
    label, date, path = match.groups()
    return label.strip(), _date(date) if date else None, Path(path)


def _seconds(text: str) -> float:
    from spasmcv.measure.trace import part_seconds

    try:
        return part_seconds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _part_spec(text: str) -> tuple:
    """``LABEL:START-END`` (s; START or END may be empty) -> (label, start or None, end or None)."""
    label, colon, times = text.rpartition(":")
    start, dash, end = times.partition("-")
    if not (colon and label.strip() and dash):
        raise argparse.ArgumentTypeError(f"expected LABEL:START-END (seconds, e.g. baseline:0-60), got {text!r}")
    if "-" in end:   # "-5-10": a negative start
        raise argparse.ArgumentTypeError(f"{text!r}: the times must be 0 s or more (LABEL:START-END, e.g. baseline:0-60)")
    return label.strip(), _seconds(start) if start.strip() else None, _seconds(end) if end.strip() else None


def _add_part_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start-s", type=_seconds, metavar="S",
                        help="score the recording from this time on (s; e.g. one task of a session filmed in one video)")
    parser.add_argument("--end-s", type=_seconds, metavar="S", help="score the recording up to this time (s)")


def _check_part(args) -> None:
    """Refuse ``--end-s`` not after ``--start-s`` before any work."""
    if args.start_s is not None and args.end_s is not None and args.end_s <= args.start_s:
        raise SettingsError(f"--end-s {args.end_s:g} is not after --start-s {args.start_s:g}")


def _visit_parts(args) -> dict:
    """Visit label -> (start_s, end_s) to score: its ``--part``, else ``--start-s``/``--end-s``;
    refused before any work when a part names no visit, a visit twice or ends before it starts."""
    labels = [label for label, _, _ in args.visits]
    parts = {}
    for label, start, end in args.parts:
        if label not in labels:
            raise SettingsError(f"--part {label}:...: no visit is labelled {label!r} (visits: {', '.join(labels)})")
        if label in parts:
            raise SettingsError(f"--part: visit {label!r} is given two parts")
        if start is not None and end is not None and end <= start:
            raise SettingsError(f"--part {label}:{start:g}-{end:g}: the end is not after the start")
        parts[label] = (start, end)
    return {label: parts.get(label, (args.start_s, args.end_s)) for label in labels}


def _check_parts_start_inside(args, parts: dict) -> None:
    """Refuse, before extracting any video, a visit whose part starts after its video ends (a
    trace is checked when read: it holds its frames' times)."""
    from spasmcv.errors import TraceError
    from spasmcv.measure.trace import empty_part_message
    from spasmcv.measure.video import probe_video

    for label, _, path in args.visits:
        start, end = parts[label]
        if start is None or _is_trace_path(path):
            continue
        duration = probe_video(path).duration_s
        if start >= duration:
            raise TraceError(f"visit {label!r}: "
                             + empty_part_message(start, end, f"its video runs from 0 to {duration:.1f} s"))


def _visit_part(trace, label: str, part: tuple):
    """The part of one visit's ``trace`` to compare (``part``: start_s, end_s, None for open),
    its refusal naming the visit."""
    from spasmcv.errors import TraceError
    from spasmcv.measure.trace import scored_part

    try:
        return scored_part(trace, *part)
    except TraceError as exc:
        raise TraceError(f"visit {label!r}: {exc}") from None


def _scored_part(trace, args):
    """The part of ``trace`` that ``--start-s``/``--end-s`` name (all of it without them)."""
    from spasmcv.measure.trace import scored_part

    return scored_part(trace, args.start_s, args.end_s)


def _add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--patient-id", help="pseudonymous patient id shown in the report (never a name)")
    parser.add_argument("--task", choices=TASKS, default="rest",
                        help="what the person was doing (selects normal ranges; default rest)")
    parser.add_argument("--mirrored", action="store_true", help="the videos are mirror images")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    _add_settings_option(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spasmcv", description=(
        "Objective measurement of blepharospasm and hemifacial spasm from face videos."))
    parser.add_argument("--version", action="version", version=f"spasmcv {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    extract = sub.add_parser("extract", help="measure both eyelids in every frame and write a trace file",
                             description="Run the face landmark model over a video and write one row per "
                                         "frame of per-eye eyelid signals (see docs/trace.md).")
    extract.add_argument("video", type=Path)
    extract.add_argument("--force", action="store_true",
                         help="replace an existing output file even if it is not a spasmcv output")
    extract.add_argument("-o", "--output", type=Path,
                         help="trace file (.csv or .csv.gz; default: VIDEO's name with .trace.csv, here)")
    extract.add_argument("--id", dest="recording_id",
                         help="pseudonymous recording identifier stored in the trace "
                              "(default: start of the video's sha256; the file name is never stored)")
    extract.add_argument("--mirrored", action="store_true",
                         help="the video is a mirror image (some selfie cameras): swap left and right")
    extract.add_argument("--num-faces", type=_positive_int,
                         help="faces the model may return per frame (>= 2 keeps landmarks unsmoothed; default 2)")
    extract.add_argument("--max-side", type=_positive_int,
                         help="downscale frames whose longer side exceeds this many pixels (default 1920)")
    extract.add_argument("--max-frames", type=_positive_int, help="stop after this many frames")
    extract.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    _add_settings_option(extract)
    _add_model_options(extract)

    analyze = sub.add_parser("analyze", help="detect blinks, flutter and spasms and score severity",
                             description="Analyse a video (extracting its trace first) or a trace file: "
                                         "print a summary and write PREFIX.analysis.json, PREFIX.events.csv "
                                         "and PREFIX.minutes.csv (see docs/analysis.md).")
    analyze.add_argument("input", type=Path, help="a video, or a trace written by 'spasmcv extract'")
    analyze.add_argument("--force", action="store_true",
                         help="replace an existing output file even if it is not a spasmcv output")
    analyze.add_argument("-o", "--output", type=Path,
                         help="output prefix (default: the input's name without extensions, here)")
    analyze.add_argument("--task", choices=TASKS, default="rest",
                         help="what the person was doing (selects normal ranges; default rest)")
    analyze.add_argument("--save-trace", action="store_true", help="when given a video, also write PREFIX.trace.csv")
    analyze.add_argument("--id", dest="recording_id", help="pseudonymous recording identifier (videos only)")
    analyze.add_argument("--mirrored", action="store_true", help="the video is a mirror image")
    _add_part_options(analyze)
    analyze.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    _add_settings_option(analyze)
    _add_model_options(analyze)

    compare = sub.add_parser(
        "compare", help="compare visits of one patient and write a report",
        description="Compare two or more recordings of one patient (videos or traces); the first visit is the "
                    "baseline. Prints the verdict and writes PREFIX.report.html (self-contained), "
                    "PREFIX.comparison.json and PREFIX.comparison.csv (see docs/report.md).")
    compare.add_argument("--visit", dest="visits", action="append", required=True, type=_visit_spec,
                         metavar="LABEL[=DATE]:PATH",
                         help="a visit: label, optional date (YYYY-MM-DD) and a video or trace, e.g. "
                              "baseline=2026-01-10:visit1.trace.csv or week3:visit2.mp4; repeat in visit order")
    _add_part_options(compare)
    compare.add_argument("--part", dest="parts", action="append", default=[], type=_part_spec,
                         metavar="LABEL:START-END",
                         help="score only this part of one visit's recording (s; START or END may be left out: "
                              "from the start, to the end), e.g. baseline:0-60; repeat per visit; instead of "
                              "--start-s/--end-s for that visit")
    compare.add_argument("--force", action="store_true",
                         help="replace existing output files even if they are not spasmcv outputs")
    compare.add_argument("-o", "--output", type=Path,
                         help="output prefix (default: comparison)")
    compare.add_argument("--injection-date", type=_date, metavar="YYYY-MM-DD", help="date of the injection")
    compare.add_argument("--product", help="botulinum toxin product, e.g. onabotulinumtoxinA")
    compare.add_argument("--dose-units", type=_dose_units, help="dose in units (per side or total, as you record it)")
    _add_report_options(compare)
    compare.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    compare.add_argument("--n-boot", type=_positive_int, default=2000, help="bootstrap replicates (default 2000)")
    compare.add_argument("--block-s", type=float, default=10.0, help="bootstrap block length in seconds (default 10)")
    _add_model_options(compare)

    report = sub.add_parser("report", help="write the clinician's HTML report for one recording",
                            description="Analyse one video or trace and write PREFIX.report.html (self-contained).")
    report.add_argument("input", type=Path, help="a video, or a trace written by 'spasmcv extract'")
    report.add_argument("--force", action="store_true",
                         help="replace an existing output file even if it is not a spasmcv output")
    report.add_argument("-o", "--output", type=Path, help="output prefix (default: the input's name, here)")
    report.add_argument("--label", default="recording", help="name of the recording in the report (default: recording)")
    report.add_argument("--date", type=_date, metavar="YYYY-MM-DD", help="recording date")
    _add_part_options(report)
    _add_report_options(report)
    _add_model_options(report)

    annotate = sub.add_parser("annotate", help="write a review video with eyelid contours and detected events",
                              description="Draw eyelid contours, a closure gauge per eye, the detected events and "
                                          "the time on every frame and write an H.264 MP4 for review.")
    annotate.add_argument("video", type=Path)
    annotate.add_argument("--force", action="store_true",
                         help="replace an existing output file even if it is not a spasmcv output")
    annotate.add_argument("-o", "--output", type=Path, help="review video (default: VIDEO's name with .review.mp4, here)")
    annotate.add_argument("--trace", type=Path, help="the video's trace, instead of extracting one (landmarks are then measured while drawing)")
    annotate.add_argument("--task", choices=TASKS, default="rest")
    annotate.add_argument("--mirrored", action="store_true", help="the video is a mirror image")
    annotate.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    _add_settings_option(annotate)
    _add_model_options(annotate)

    batch = sub.add_parser("batch", help="score many recordings: parallel, resumable, optionally on a Dask cluster",
                           description="Score every video in folders/globs, or in a manifest CSV (a 'path' column "
                                       "plus study columns carried into every output row). Re-running reuses every "
                                       "unchanged result; see docs/batch.md.")
    batch.add_argument("inputs", nargs="*", help="video files, folders (searched recursively) or glob patterns")
    batch.add_argument("--manifest", type=Path, help="CSV with a 'path' column and study columns")
    batch.add_argument("-o", "--output", type=Path, required=True, help="output (and cache) directory")
    batch.add_argument("--workers", type=_positive_int, help="worker processes (default: all cores)")
    batch.add_argument("--on-error", choices=["continue", "abort"], default="continue",
                       help="after a failed recording: record it and go on (default), or stop")
    batch.add_argument("--dask", metavar="ADDRESS", default=os.environ.get("SPASMCV_DASK_SCHEDULER"),
                       help="run on a dask.distributed scheduler (or 'local'); default $SPASMCV_DASK_SCHEDULER")
    batch.add_argument("--task", choices=TASKS, default="rest",
                       help="recording task when the manifest has no 'task' column (default rest)")
    _add_settings_option(batch)
    batch.add_argument("--include-paths", action="store_true", help="add the input paths to the tables")
    batch.add_argument("--retry-failed", action="store_true", help="recompute recordings that failed before")
    batch.add_argument("--force", action="store_true",
                       help="replace files of the batch's names in the output folder that no batch wrote")
    batch.add_argument("-q", "--quiet", action="store_true", help="no progress bar or per-recording lines")
    _add_model_options(batch)

    rescore = sub.add_parser("rescore", help="re-run detection and scoring on a batch's traces with other settings",
                             description="Re-analyse the traces stored by 'spasmcv batch' (no videos needed) and "
                                         "write new tables; for parameter sweeps and sensitivity analyses.")
    rescore.add_argument("batch_dir", type=Path)
    rescore.add_argument("-o", "--output", type=Path, required=True, help="new output directory")
    _add_settings_option(rescore)
    rescore.add_argument("--task", choices=TASKS,
                         help="override every recording's task")
    rescore.add_argument("--force", action="store_true",
                         help="replace files of the batch's names in the output folder that no batch wrote")
    rescore.add_argument("-q", "--quiet", action="store_true", help="no summary")

    serve = sub.add_parser("serve", help="start the clinic application in your web browser (local)",
                           description="A local web application that keeps each patient's visits, treatments and "
                                       "objective scores (docs/clinic.md). Needs: pip install 'spasmcv[clinic]'.")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only)")
    serve.add_argument("--port", type=_positive_int, default=8765, help="port (default 8765)")
    serve.add_argument("--data", type=Path, help="data folder (default: $SPASMCV_DATA_DIR or ~/.local/share/spasmcv)")
    serve.add_argument("--database-url", help="SQLAlchemy URL of a PostgreSQL database for a clinic server "
                                              "(default: SQLite in the data folder)")
    serve.add_argument("--import-batch", metavar="DIR", type=Path,
                       help="import a 'spasmcv batch' output folder (study columns 'patient' and 'date') and exit")
    serve.add_argument("--add-user", metavar="NAME",
                       help="create a user account (the password is asked for, or read from standard input) and exit; "
                            "accounts are needed to listen on another address than this computer")
    _add_model_options(serve)

    probe = sub.add_parser("probe", help="print what a video file holds (JSON)")
    probe.add_argument("video", type=Path)

    model = sub.add_parser("model", help="show which landmark model would be used (downloading it if needed)")
    _add_model_options(model)
    return parser


def _progress_bar(total: int, quiet: bool, label: str):
    """A tqdm bar on stderr with frames/s and ETA, or None when quiet or not a terminal."""
    if quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="frame", desc=label, file=sys.stderr, dynamic_ncols=True)


def _bar_callbacks(bar) -> dict:
    """``progress`` and ``on_pass`` for :func:`~spasmcv.measure.extract.extract_trace` driving a bar
    (None for both without one): a second pass over the video adds its frames to the bar's total."""
    if bar is None:
        return {"progress": None, "on_pass": None}

    def on_pass(frames: int) -> None:
        bar.total += frames
        bar.set_description(f"{bar.desc} (2 passes: a face found in tiles)")
        bar.refresh()

    return {"progress": bar.update, "on_pass": on_pass}


def _cmd_extract(args) -> int:
    from spasmcv.measure.extract import extract_trace
    from spasmcv.measure.model import resolve_model
    from spasmcv.measure.trace import write_trace
    from spasmcv.measure.video import probe_video

    _refuse_results(args.video)
    output = _output(args.output, Path(_default_prefix(args.video).name + ".trace.csv"))
    _guard_outputs([output], [args.video], force=args.force)
    if not output.name.lower().endswith((".csv", ".csv.gz")):   # a trace under a video's or a report's name
        raise OutputError(f"{output}: a trace is written as CSV; give a name ending .csv or .csv.gz "
                          "(e.g. visit1.trace.csv)")
    settings = _settings(args)
    info = probe_video(args.video)
    model = resolve_model(args.model, allow_custom=args.custom_model)
    total = info.frame_count if args.max_frames is None else min(info.frame_count, args.max_frames)
    bar = _progress_bar(total, args.quiet, "extract")
    try:
        trace = extract_trace(args.video, model=model, settings=settings.measure, recording_id=args.recording_id,
                              max_frames=args.max_frames, info=info, **_bar_callbacks(bar))
    finally:
        if bar:
            bar.close()
    write_trace(trace, output)
    warnings = trace.metadata["warnings"]
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if not args.quiet:
        valid = trace["valid"]
        print(f"{output}: {len(trace)} frames, {valid.mean():.0%} valid, "
              f"{trace['time_s'][-1]:.1f} s, recording id {trace.metadata['recording_id']}", file=sys.stderr)
    return 0


def _output(given: Path | None, default: Path) -> Path:
    """The output path or prefix: ``default`` (in the current folder) when ``-o`` is not given,
    ``default``'s name inside the folder when ``-o`` names an existing folder."""
    if given is None:
        return default
    return given / default.name if given.is_dir() else given


def _output_prefix(given: Path | None, default: Path) -> Path:
    """An output prefix as :func:`_output` gives it, less one of spasmcv's own output endings a
    user may have typed with it (``-o visit1.analysis.json`` -> ``visit1``)."""
    prefix = _output(given, default)
    suffix = next((s for s in OWN_SUFFIXES if prefix.name.endswith(s) and prefix.name != s), "")
    return prefix.with_name(prefix.name[: len(prefix.name) - len(suffix)]) if suffix else prefix


#: Endings of spasmcv's own outputs: an existing file named so may be replaced when its content
#: is spasmcv's too (:func:`_is_own_output`).
OWN_SUFFIXES = (".trace.csv", ".trace.csv.gz", ".analysis.json", ".events.csv", ".minutes.csv", ".report.html",
                ".comparison.json", ".comparison.csv", ".review.mp4")


def _is_own_output(path: Path) -> bool:
    """Whether an existing file may be replaced without ``--force``: a trace, or a file with one of
    :data:`OWN_SUFFIXES` whose content is what spasmcv writes under that name (the tables' header
    line, the JSON's version keys, the report's title), or an empty file (nothing to lose); and a
    review video under any ``.mp4`` name (its container comment). A file of one's own that merely
    ends so is not."""
    from spasmcv.analysis.analyze import EVENT_COLUMNS, MINUTE_COLUMNS
    from spasmcv.measure.trace import is_trace_file

    suffix = next((s for s in OWN_SUFFIXES if path.name.endswith(s)), None)
    if is_trace_file(path):
        return True
    try:
        empty = path.stat().st_size == 0
        if path.suffix.lower() == ".mp4" and not empty:   # a review video under any name
            return _review_video_comment(path)
        if suffix is None or empty:
            return suffix is not None
        if suffix.endswith(".json"):
            data = json.loads(path.read_text(encoding="utf-8"))
            return isinstance(data, dict) and ("compare_version" if suffix == ".comparison.json" else "provenance") in data
        with open(path, "rb") as handle:
            head = handle.read(4096).decode("utf-8", errors="replace")
    except (OSError, ValueError):   # unreadable, or not JSON
        return False
    first = head.splitlines()[0] if head else ""
    return {".events.csv": first == ",".join(EVENT_COLUMNS), ".minutes.csv": first == ",".join(MINUTE_COLUMNS),
            ".comparison.csv": first.startswith("metric,label,unit,"),
            ".report.html": head.startswith("<!DOCTYPE html>") and "<title>spasmcv report" in head}.get(suffix, False)


def _review_video_comment(path: Path) -> bool:
    """Whether ``path`` is a video whose container comment is spasmcv's review video's."""
    import av

    from spasmcv.clinic.annotate import REVIEW_VIDEO_COMMENT

    try:
        with av.open(str(path)) as container:
            return container.metadata.get("comment") == REVIEW_VIDEO_COMMENT
    except (OSError, ValueError, av.error.FFmpegError):   # not a video PyAV can open
        return False


#: spasmcv's results that are not recordings, by ending: what a user may give by mistake for a video or trace.
RESULT_NAMES = {".analysis.json": "analysis result", ".events.csv": "events table", ".minutes.csv": "per-minute table",
                ".report.html": "report", ".comparison.json": "comparison", ".comparison.csv": "comparison table",
                ".review.mp4": "review video"}


def _refuse_results(*paths) -> None:
    """Before any work: refuse an input that is one of spasmcv's own results (by its ending and its
    content), naming what it is, instead of reading it as a video or trace and failing on it.
    Raises :class:`~spasmcv.errors.TraceError`."""
    from spasmcv.errors import TraceError
    from spasmcv.measure.trace import is_trace_file

    for path in map(Path, filter(None, paths)):
        what = next((name for ending, name in RESULT_NAMES.items() if path.name.endswith(ending)), None)
        # a trace or an empty file is "own" as an output to replace, but not a result
        if what and path.is_file() and path.stat().st_size and not is_trace_file(path) and _is_own_output(path):
            raise TraceError(f"{path} is spasmcv's {what}, not a recording: give the recording's video or its "
                             ".trace.csv")


def _guard_outputs(outputs, inputs, *, force: bool = False) -> None:
    """Before any work: refuse an output that is one of the inputs, that would replace a file
    which is not spasmcv's own (unless ``force``), that is a folder, or whose folder cannot be
    written. Raises :class:`~spasmcv.errors.OutputError`."""
    from spasmcv._atomic import unwritable_reason

    inputs = [Path(p) for p in inputs if p is not None and Path(p).exists()]
    for out in map(Path, outputs):
        for source in inputs:
            if out.resolve() == source.resolve() or (out.exists() and os.path.samefile(out, source)):
                raise OutputError(f"{out} is the input {source}: spasmcv never writes to its inputs; "
                                  "choose another output name (-o)")
        if out.is_dir():
            raise OutputError(f"{out} is a folder; give a file name or prefix (-o)")
        if out.exists() and not out.is_file():   # reading a FIFO to judge its content would wait forever
            raise OutputError(f"{out} is not a regular file (a pipe, device or socket); choose another name (-o)")
        if out.exists() and not force and not _is_own_output(out):
            raise OutputError(f"{out} exists and is not a spasmcv output; choose another name (-o) "
                              "or pass --force to replace it")
        reason = unwritable_reason(out.parent)
        if reason:
            raise OutputError(f"cannot write {out}: {reason}")


def _cmd_analyze(args) -> int:
    from spasmcv.analysis.analyze import analyze_trace, write_analysis
    from spasmcv.analysis.summary import format_summary
    from spasmcv.measure.trace import is_trace_file, write_trace

    _check_part(args)
    prefix = _output_prefix(args.output, _default_prefix(args.input))
    from_video = not (args.input.is_file() and is_trace_file(args.input))
    outputs = [prefix.with_name(prefix.name + suffix) for suffix in (".analysis.json", ".events.csv", ".minutes.csv")]
    if args.save_trace and from_video:
        outputs.append(prefix.with_name(prefix.name + ".trace.csv"))
    _refuse_results(args.input)
    _guard_outputs(outputs, [args.input], force=args.force)
    settings = _settings(args)
    trace = _load_trace(args.input, args, "extract", settings)
    written = []
    if args.save_trace and from_video:
        written.append(prefix.with_name(prefix.name + ".trace.csv"))
        write_trace(trace, written[0])
    analysis = analyze_trace(_scored_part(trace, args), task=args.task, settings=settings.analysis)
    written += write_analysis(analysis, prefix).values()
    if not args.quiet:
        print(format_summary(analysis))
        print("wrote " + ", ".join(map(str, written)), file=sys.stderr)
    return 0


def _is_trace_path(path: Path) -> bool:
    """A trace file, or a table (read as a trace, so that a wrong table is a trace error)."""
    from spasmcv.measure.trace import is_trace_file

    return is_trace_file(path) or path.name.lower().endswith((".csv", ".csv.gz", ".tsv", ".txt"))


def _load_trace(path: Path, args, label: str, settings):
    """A trace from a trace file, or extracted from a video (with a progress bar)."""
    from spasmcv.measure.trace import read_trace

    if path.is_file() and _is_trace_path(path):
        from spasmcv.errors import SettingsError
        from spasmcv.settings import Settings

        if settings.measure != Settings().measure:   # they would be ignored: the trace is measured already
            raise SettingsError(f"{path} is a trace, measured already: measure.* settings (--set measure..., "
                                "--mirrored, --num-faces, --max-side) apply only when a video is measured; give "
                                "the video, or leave them out")
        return read_trace(path)  # a table that is not a trace is a trace error (exit 5), not a bad video
    from spasmcv.measure.extract import extract_trace
    from spasmcv.measure.model import resolve_model
    from spasmcv.measure.video import probe_video

    info = probe_video(path)
    model = resolve_model(args.model, allow_custom=args.custom_model)
    bar = _progress_bar(info.frame_count, args.quiet, label)
    try:
        return extract_trace(path, model=model, settings=settings.measure, info=info,
                             recording_id=getattr(args, "recording_id", None), **_bar_callbacks(bar))
    finally:
        if bar:
            bar.close()


def _write_comparison(comparison, prefix: Path, patient_id: str | None, *, tables: bool) -> list[Path]:
    from spasmcv._atomic import atomic_write
    from spasmcv._tables import csv_text, json_safe
    from spasmcv.clinic.compare import COMPARISON_CSV_COLUMNS
    from spasmcv.clinic.report import write_report

    paths = [write_report(comparison, prefix.with_name(prefix.name + ".report.html"), patient_id=patient_id)]
    if tables:
        json_path = prefix.with_name(prefix.name + ".comparison.json")
        with atomic_write(json_path) as handle:
            json.dump(json_safe({"patient_id": patient_id, **comparison.to_dict()}), handle, indent=2)
            handle.write("\n")
        csv_path = prefix.with_name(prefix.name + ".comparison.csv")
        windows = {v.label: v.analysis.recording["provenance"].get("time_window_s") or (None, None)
                   for v in comparison.visits}   # the part of each visit's recording (s; empty: all of it / to the end)
        rows = [{**r, "part_start_s": windows[r["visit"]][0],
                 "part_end_s": None if windows[r["visit"]][1] in (None, float("inf")) else windows[r["visit"]][1]}
                for r in comparison.rows]
        with atomic_write(csv_path) as handle:
            handle.write(csv_text(rows, COMPARISON_CSV_COLUMNS, float_format=".4f"))
        paths += [json_path, csv_path]
    return paths


def _cmd_compare(args) -> int:
    from spasmcv.clinic.compare import CompareSettings, Treatment, Visit, compare_visits
    from spasmcv.errors import SpasmcvError

    if len(args.visits) < 2:
        raise SpasmcvError("compare needs at least two --visit (the first is the baseline); "
                           "for one recording use 'spasmcv report'")
    labels = [label for label, _, _ in args.visits]
    if len(set(labels)) != len(labels):
        raise SpasmcvError(f"visit labels must be unique, got {', '.join(labels)}")
    if args.n_boot < 100 or args.block_s <= 0:
        raise SpasmcvError("--n-boot must be at least 100 and --block-s positive")
    dated = [(label, date) for label, date, _ in args.visits if date is not None]
    for (label, date), (next_label, next_date) in zip(dated, dated[1:]):
        if next_date < date:   # the first visit is the baseline: a later one first would invert every change
            raise SpasmcvError(f"the visits are not in date order: {label!r} ({date}) is given before "
                               f"{next_label!r} ({next_date}); give the baseline first, then the others by date")
    _check_part(args)
    parts = _visit_parts(args)
    for label, _, path in args.visits:  # fail before any slow extraction
        if not path.is_file():
            from spasmcv.errors import VideoError

            raise VideoError(f"{path}: file not found (visit {label!r})")
    _refuse_results(*(path for _, _, path in args.visits))
    _check_parts_start_inside(args, parts)
    prefix = args.output = _output_prefix(args.output, Path("comparison"))
    _guard_outputs([prefix.with_name(prefix.name + suffix) for suffix in (".report.html", ".comparison.json",
                                                                        ".comparison.csv")],
                   [path for _, _, path in args.visits], force=args.force)
    settings = _settings(args)
    visits = [Visit.from_trace(label, _visit_part(_load_trace(path, args, label, settings), label, parts[label]),
                               date=date, task=args.task, settings=settings.analysis)
              for label, date, path in args.visits]
    treatment = Treatment(injection_date=args.injection_date, product=args.product, dose_units=args.dose_units)
    comparison = compare_visits(visits, treatment=treatment,
                                settings=CompareSettings(seed=args.seed, n_boot=args.n_boot, block_s=args.block_s))
    paths = _write_comparison(comparison, args.output, args.patient_id, tables=True)
    if not args.quiet:
        print(comparison.verdict)
        print()
        print(_comparison_table(comparison))
    # the inputs that look wrong (the same recording twice, impossible dates) are said even when quiet
    for warning in comparison.warnings:
        if not args.quiet or warning in comparison.input_problems:
            print(f"warning: {warning}", file=sys.stderr)
    if not args.quiet:
        print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return 0


def _comparison_table(comparison) -> str:
    """Headline values per visit with change and 95 % interval, as plain text."""
    import math

    from spasmcv.analysis.analyze import changed_settings
    from spasmcv.analysis.summary import part_text

    def fmt(x, d):
        return "n/a" if x is None or not math.isfinite(x) else f"{x:.{d}f}"

    def name(label: str, unit: str, eye: str) -> str:
        return label + (f" ({unit})" if unit and unit != "grade" and f"({unit})" not in label else "") + ", " + eye

    labels = [v.label for v in comparison.visits]
    by_key: dict = {}
    for r in comparison.rows:
        by_key.setdefault((r["label"], r["unit"], r["eye"]), {})[r["visit"]] = r
    width = max([40] + [len(name(*key)) + 1 for key in by_key])   # a row's name is never cut (its eye is at the end)
    lines = [f"{'':{width}s}" + "".join(f"{label[:26]:>28s}" for label in labels)]
    parts = [part_text(v.analysis.recording["provenance"].get("time_window_s")) for v in comparison.visits]
    if any(parts):   # which part of each recording the numbers come from
        lines.append(f"{'part of the recording':{width}s}"
                     + "".join(f"{(p.removeprefix('part: ') or 'all of it')[:26]:>28s}" for p in parts))
    decimals = {"share_closed": 1, "longest_closure_s": 2, "open_aperture_mm": 2, "severity_index": 0,
                "jankovic_frequency_grade": 0}
    for (label, unit, eye), per_visit in by_key.items():
        d = decimals.get(per_visit[labels[0]]["metric"], 1)
        cells = []
        for v in labels:
            r = per_visit[v]
            cell = fmt(r["value"], d)
            if math.isfinite(r["change"]):
                cell += f" ({r['change']:+.{d}f}"
                if math.isfinite(r["change_ci_low"]):
                    cell += f" [{fmt(r['change_ci_low'], d)}, {fmt(r['change_ci_high'], d)}]"
                cell += ")"
            cells.append(f"{cell:>28s}")
        lines.append(f"{name(label, unit, eye):{width}s}" + "".join(cells))
    lines.append("values (change vs baseline [95 % CI]); left/right = the patient's sides")
    changed = dict.fromkeys(changed_settings(v.analysis.recording["provenance"].get("settings")) or ""
                            for v in comparison.visits)
    lines += [f"settings changed from the defaults: {text}" for text in changed if text]
    return "\n".join(lines)


def _cmd_report(args) -> int:
    from spasmcv.clinic.compare import Visit, compare_visits

    _check_part(args)
    prefix = _output_prefix(args.output, _default_prefix(args.input))
    _refuse_results(args.input)
    _guard_outputs([prefix.with_name(prefix.name + ".report.html")], [args.input], force=args.force)
    settings = _settings(args)
    trace = _scored_part(_load_trace(args.input, args, "extract", settings), args)
    visit = Visit.from_trace(args.label, trace, date=args.date, task=args.task, settings=settings.analysis)
    comparison = compare_visits([visit])
    paths = _write_comparison(comparison, prefix, args.patient_id, tables=False)
    if not args.quiet:
        print(comparison.verdict)
        print("wrote " + ", ".join(str(p) for p in paths), file=sys.stderr)
    return 0


def _cmd_annotate(args) -> int:
    from spasmcv.clinic.annotate import annotate_video
    from spasmcv.measure.model import resolve_model
    from spasmcv.measure.trace import read_trace
    from spasmcv.measure.video import probe_video

    output = _output(args.output, Path(_default_prefix(args.video).name + ".review.mp4"))
    _guard_outputs([output], [args.video, args.trace], force=args.force)
    info = probe_video(args.video)
    model = resolve_model(args.model, allow_custom=args.custom_model)
    trace = read_trace(args.trace) if args.trace else None
    passes = 1 if trace is not None else 2
    bar = _progress_bar(info.frame_count * passes, args.quiet, "annotate")
    try:
        result = annotate_video(args.video, output, model=model, trace=trace, task=args.task, settings=_settings(args),
                                info=info, **_bar_callbacks(bar))
    finally:
        if bar:
            bar.close()
    if not args.quiet:
        print(f"{output}: {result.frames} frames, {result.events} events labelled", file=sys.stderr)
    return 0


class Terminated(KeyboardInterrupt):
    """SIGTERM (a cluster scheduler's time limit or ``scancel``, ``timeout``, ``docker stop``),
    raised where Ctrl-C would be so that a batch stops the same way: tables written, exit 143."""


def _stop_on_sigterm(signum, frame):
    raise Terminated()


def _cmd_batch(args) -> int:
    import signal
    import threading

    from spasmcv.errors import BatchError
    from spasmcv.measure.model import resolve_model
    from spasmcv.study import find_videos, read_manifest, run_batch

    if bool(args.manifest) == bool(args.inputs):
        raise BatchError("give either --manifest CSV or input videos/folders, not both or neither")
    jobs = read_manifest(args.manifest, task=args.task) if args.manifest else find_videos(args.inputs, task=args.task)
    settings = _settings(args)
    model = resolve_model(args.model, allow_custom=args.custom_model)
    bar = _progress_bar(0, args.quiet, "batch (frames)")

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.update(done - bar.n)  # update(), not assignment, so tqdm computes frames/s and ETA

    def log(line: str) -> None:
        if not args.quiet:
            (bar.write if bar is not None else lambda m: print(m, file=sys.stderr))(line)

    main_thread = threading.current_thread() is threading.main_thread()   # (signals can only be set there)
    before = signal.signal(signal.SIGTERM, _stop_on_sigterm) if main_thread else None   # a scheduler's stop:
    try:                                                                 # the tables are written, as for Ctrl-C
        report = run_batch(jobs, args.output, model=model, settings=settings, workers=args.workers,
                           on_error=args.on_error, dask_address=args.dask, include_paths=args.include_paths,
                           retry_failed=args.retry_failed, progress=progress, log=log, force=args.force)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, before)
        if bar is not None:
            bar.close()
    if not args.quiet:
        print((args.output / "summary.txt").read_text(), end="")
    if report.results and all(r is None or r.failed for r in report.results):
        # one bad file is a row of the tables; every file failing is a broken call (wrong paths, ...)
        raise BatchError(f"no recording could be scored: all {len(report.results)} failed "
                         f"(the reasons: {args.output / 'recordings.csv'}, {args.output / 'batch.log'})")
    return 0


def _cmd_rescore(args) -> int:
    from spasmcv.errors import OutputError, SettingsError
    from spasmcv.settings import Settings
    from spasmcv.study import rescore

    if args.output.exists() and args.batch_dir.exists() and os.path.samefile(args.output, args.batch_dir):
        raise OutputError(f"{args.output} is the batch folder being rescored: its tables would be replaced; "
                          "give a new output folder (-o)")
    if args.output.exists() and not args.output.is_dir():
        raise OutputError(f"{args.output} exists and is not a folder")
    settings = _settings(args)
    if settings.measure != Settings().measure:
        raise SettingsError("rescore re-analyses the stored traces: measure.* settings cannot change here "
                            "(run 'spasmcv batch' with them, which extracts again)")
    report = rescore(args.batch_dir, args.output, settings=settings.analysis, task=args.task, force=args.force)
    if not args.quiet:
        print((args.output / "summary.txt").read_text(), end="")
    return 0 if report.computed else 1


def _cmd_serve(args) -> int:
    try:
        from spasmcv.app.web import serve
    except ImportError as exc:
        raise SpasmcvError(f"the clinic application needs its extra packages ({exc.name} is missing): "
                           "pip install 'spasmcv[clinic]'") from exc
    from spasmcv.measure.model import resolve_model

    if args.import_batch:
        from spasmcv.app.db import default_database_url, open_database
        from spasmcv.app.importer import import_batch
        from spasmcv.app.web import default_data_dir, private_data_dir

        data_dir = Path(args.data or default_data_dir())
        for warning in private_data_dir(data_dir):
            print(f"warning: {warning}", file=sys.stderr)
        report = import_batch(open_database(args.database_url or default_database_url(data_dir)), args.import_batch)
        print(f"imported {report.imported} recording(s); skipped {len(report.skipped)}")
        for line in report.skipped:
            print(f"  skipped {line}")
        return 0
    if args.add_user:
        from spasmcv.app.db import add_user, default_database_url, open_database
        from spasmcv.app.web import default_data_dir, private_data_dir

        data_dir = Path(args.data or default_data_dir())
        for warning in private_data_dir(data_dir):
            print(f"warning: {warning}", file=sys.stderr)
        if sys.stdin.isatty():
            import getpass

            password = getpass.getpass(f"password for {args.add_user}: ")
            if getpass.getpass("again: ") != password:
                raise SpasmcvError("the two passwords differ")
        else:
            password = sys.stdin.readline().rstrip("\n")
        add_user(open_database(args.database_url or default_database_url(data_dir)), args.add_user, password)
        print(f"user {args.add_user} added", file=sys.stderr)
        return 0
    serve(host=args.host, port=args.port, data_dir=args.data, database_url=args.database_url,
          model=resolve_model(args.model, allow_custom=args.custom_model))
    return 0


def _cmd_probe(args) -> int:
    from spasmcv.measure.video import probe_video

    print(json.dumps(probe_video(args.video).as_dict(), indent=2))
    return 0


def _cmd_model(args) -> int:
    from spasmcv.measure.model import resolve_model

    info = resolve_model(args.model, allow_custom=args.custom_model)
    print(json.dumps({"path": str(info.path), "sha256": info.sha256, "official": info.official,
                      "source": info.source}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``spasmcv`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    handlers = {"extract": _cmd_extract, "analyze": _cmd_analyze, "compare": _cmd_compare, "report": _cmd_report,
                "annotate": _cmd_annotate,
                "batch": _cmd_batch, "rescore": _cmd_rescore, "serve": _cmd_serve, "probe": _cmd_probe,
                "model": _cmd_model}
    try:
        return handlers[args.command](args)
    except SpasmcvError as exc:
        print(f"spasmcv: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # a disk that filled up or a folder that vanished while writing
        from spasmcv.errors import OutputError

        print(f"spasmcv: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return OutputError.exit_code
    except KeyboardInterrupt as stop:
        import gc
        import signal

        signal.signal(signal.SIGINT, signal.SIG_IGN)   # a second Ctrl-C while cleaning up adds nothing
        gc.collect()   # a model graph cut off by the interrupt is released now, while MediaPipe's modules
        # are still there; at interpreter exit its __del__ printed "Exception ignored ... TypeError"
        if isinstance(stop, Terminated):
            print("spasmcv: terminated (SIGTERM)", file=sys.stderr)
            return 143
        print("spasmcv: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
