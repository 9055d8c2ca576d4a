"""The ``spasmcv`` command line: a thin shell around the Python API.

Exit codes: 0 success, 1 other spasmcv error, 2 usage, 3 video error, 4 model error,
5 trace error, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .errors import SpasmcvError


def _add_model_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="PATH",
                        help="face_landmarker.task (default: $SPASMCV_MODEL, the user cache, or a one-time download)")
    parser.add_argument("--custom-model", action="store_true",
                        help="accept a model file whose sha256 is not the official one")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spasmcv", description=(
        "Objective measurement of blepharospasm and hemifacial spasm from face videos."))
    parser.add_argument("--version", action="version", version=f"spasmcv {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    extract = sub.add_parser("extract", help="measure both eyelids in every frame and write a trace file",
                             description="Run the face landmark model over a video and write one row per "
                                         "frame of per-eye eyelid signals (see docs/trace.md).")
    extract.add_argument("video", type=Path)
    extract.add_argument("-o", "--output", type=Path,
                         help="trace file (.csv or .csv.gz; default: VIDEO's name with .trace.csv, here)")
    extract.add_argument("--id", dest="recording_id",
                         help="pseudonymous recording identifier stored in the trace "
                              "(default: start of the video's sha256; the file name is never stored)")
    extract.add_argument("--mirrored", action="store_true",
                         help="the video is a mirror image (some selfie cameras): swap left and right")
    extract.add_argument("--num-faces", type=int, default=2,
                         help="faces the model may return per frame (>= 2 keeps landmarks unsmoothed; default 2)")
    extract.add_argument("--max-side", type=int, default=1920,
                         help="downscale frames whose longer side exceeds this many pixels (default 1920)")
    extract.add_argument("--max-frames", type=int, help="stop after this many frames")
    extract.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    _add_model_options(extract)

    analyze = sub.add_parser("analyze", help="detect blinks, flutter and spasms and score severity",
                             description="Analyse a video (extracting its trace first) or a trace file: "
                                         "print a summary and write PREFIX.analysis.json, PREFIX.events.csv "
                                         "and PREFIX.minutes.csv (see docs/analysis.md).")
    analyze.add_argument("input", type=Path, help="a video, or a trace written by 'spasmcv extract'")
    analyze.add_argument("-o", "--output", type=Path,
                         help="output prefix (default: the input's name without extensions, here)")
    analyze.add_argument("--task", choices=["rest", "conversation", "reading"], default="rest",
                         help="what the person was doing (selects normal ranges; default rest)")
    analyze.add_argument("--save-trace", action="store_true", help="when given a video, also write PREFIX.trace.csv")
    analyze.add_argument("--id", dest="recording_id", help="pseudonymous recording identifier (videos only)")
    analyze.add_argument("--mirrored", action="store_true", help="the video is a mirror image")
    analyze.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    _add_model_options(analyze)

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


def _cmd_extract(args) -> int:
    from .extract import extract_trace
    from .landmarks import TrackerSettings
    from .model import resolve_model
    from .trace import write_trace
    from .video import probe_video

    info = probe_video(args.video)
    model = resolve_model(args.model, allow_custom=args.custom_model)
    output = args.output or Path(args.video.name.split(".")[0] + ".trace.csv")
    total = info.frame_count if args.max_frames is None else min(info.frame_count, args.max_frames)
    bar = _progress_bar(total, args.quiet, "extract")
    try:
        trace = extract_trace(
            args.video, model=model,
            settings=TrackerSettings(num_faces=args.num_faces, max_side_px=args.max_side or None),
            mirrored=args.mirrored, recording_id=args.recording_id,
            progress=bar.update if bar else None, max_frames=args.max_frames,
        )
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


def _is_trace(path: Path) -> bool:
    from .trace import TRACE_FORMAT

    try:
        import gzip

        with open(path, "rb") as handle:
            head = handle.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            return TRACE_FORMAT in handle.readline()
    except OSError:
        return False


def _cmd_analyze(args) -> int:
    from .analyze import analyze_trace, write_analysis
    from .summary import format_summary
    from .trace import read_trace, write_trace

    prefix = args.output or Path(args.input.name.split(".")[0])
    if args.input.is_file() and _is_trace(args.input):
        trace = read_trace(args.input)
    else:
        from .extract import extract_trace
        from .model import resolve_model
        from .video import probe_video

        info = probe_video(args.input)
        model = resolve_model(args.model, allow_custom=args.custom_model)
        bar = _progress_bar(info.frame_count, args.quiet, "extract")
        try:
            trace = extract_trace(args.input, model=model, mirrored=args.mirrored,
                                  recording_id=args.recording_id, progress=bar.update if bar else None)
        finally:
            if bar:
                bar.close()
        if args.save_trace:
            write_trace(trace, prefix.with_name(prefix.name + ".trace.csv"))
    analysis = analyze_trace(trace, task=args.task)
    paths = write_analysis(analysis, prefix)
    if not args.quiet:
        print(format_summary(analysis))
        print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    return 0


def _cmd_probe(args) -> int:
    from .video import probe_video

    print(json.dumps(probe_video(args.video).as_dict(), indent=2))
    return 0


def _cmd_model(args) -> int:
    from .model import resolve_model

    info = resolve_model(args.model, allow_custom=args.custom_model)
    print(json.dumps({"path": str(info.path), "sha256": info.sha256, "official": info.official,
                      "source": info.source}, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``spasmcv`` command; returns the exit code."""
    args = build_parser().parse_args(argv)
    handlers = {"extract": _cmd_extract, "analyze": _cmd_analyze, "probe": _cmd_probe, "model": _cmd_model}
    try:
        return handlers[args.command](args)
    except SpasmcvError as exc:
        print(f"spasmcv: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("spasmcv: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
