"""The trace file: one row per frame of eyelid signals, with a provenance header.

A trace is the boundary between the slow part (decoding + landmark model) and everything
after it: detection and scoring run from a trace alone, so settings can be re-tuned without
the video (and without the patient's face).

Format: CSV (optionally gzip-compressed when the name ends in ``.gz``). CSV because every tool
researchers use opens it (pandas ``read_csv(path, comment="#")``, R ``read.csv(path,
comment.char="#")``, spreadsheets), it diffs, and it needs no extra dependency; a 3-minute
30 fps recording is about 3 MB. The header is a block of ``# key: value`` lines (values are
JSON) before the column names; missing values (no face) are empty fields. Writing is atomic
and byte-for-byte deterministic. See docs/trace.md for every column.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from spasmcv._atomic import atomic_write
from spasmcv.errors import TraceError

TRACE_FORMAT = "spasmcv-trace"
TRACE_FORMAT_VERSION = 1
INTEGER_COLUMNS = frozenset({"frame_index", "face_detected", "n_faces", "shot", "subject_track", "eyes_in_frame", "valid"})
#: Columns written with every digit (the shortest text that reads back as the same number): frame
#: times are the decoder's, and code that sets trace times beside decoded frames' must find them
#: equal. Every other number is written to 7 significant digits.
EXACT_COLUMNS = frozenset({"time_s"})


@dataclass(frozen=True)
class Trace:
    """Per-frame signals of one recording plus its metadata.

    Attributes
    ----------
    columns : dict of str -> ndarray (n_frames,)
        Float columns use NaN for missing values.
    metadata : dict
        Provenance and probe results (JSON-compatible).
    surroundings : Trace or None
        For a part of a recording (:func:`time_window`), the whole recording it was cut from:
        analysis looks past the part's edges in it only to follow a closure across them
        (docs/analysis.md, "Parts of a recording"). Never written to a file.
    """

    columns: dict[str, np.ndarray]
    metadata: dict
    surroundings: Trace | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.columns["time_s"]) if "time_s" in self.columns else 0

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def to_dataframe(self):
        """The columns as a pandas DataFrame (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.columns)


#: Below this median face height (forehead to chin, px) eyelid measures get noisy.
SMALL_FACE_PX = 120
#: A recording with a smaller share of valid frames gets a warning.
LOW_VALID_SHARE = 0.9


def frame_warnings(columns: dict, reacquisitions: int | None = None) -> list[str]:
    """The data-quality warnings a trace's frames give (no face, few measurable frames, several
    faces, cuts, a face re-acquired, a small face); ``reacquisitions``: how often the subject was
    found again (None: from the ``subject_track`` column). A part of a recording gives its own
    (:func:`time_window`)."""
    warnings: list[str] = []
    n = len(columns["time_s"])
    valid = np.asarray(columns["valid"]).astype(bool)
    detected = np.asarray(columns["face_detected"]).astype(bool)
    if n and not detected.any():
        warnings.append("no face was found in any frame: every frame is invalid")
    elif n and valid.mean() < LOW_VALID_SHARE:
        warnings.append(f"the eyes were measurable in only {valid.mean():.0%} of frames "
                        f"(face lost or eyes outside the picture)")
    several = int(np.sum(np.asarray(columns["n_faces"]) > 1))
    if several:
        warnings.append(f"several faces were visible in {several} frames; the main subject was "
                        f"followed and the other faces ignored")
    cuts = int(columns["shot"][-1] - columns["shot"][0]) if n and "shot" in columns else 0
    if cuts:
        warnings.append(f"the video is edited: {cuts} hard cut(s) between shots (column shot); the subject "
                        f"is followed afresh after each, but the eyes' open level is learned over the whole "
                        f"recording: check that every shot shows the same person")
    if reacquisitions is None:
        tracks = np.asarray(columns.get("subject_track", np.zeros(n)))
        reacquisitions = max(0, len(np.unique(tracks[tracks >= 0])) - 1)
    if reacquisitions:
        warnings.append(f"the subject was lost and a face re-acquired {reacquisitions} time(s) "
                        f"(column subject_track); check that it is the same person")
    face_size = np.asarray(columns["face_size_px"])[valid]
    if face_size.size and np.median(face_size) < SMALL_FACE_PX:
        warnings.append(f"the face is small in the picture (median {np.median(face_size):.0f} px "
                        f"forehead to chin): eyelid measures will be noisy")
    return warnings


#: Frame times closer than this to a part's edge count as on it (s): stored times carry rounding.
TIME_TOLERANCE_S = 1e-6


def time_window(trace: Trace, start_s: float, end_s: float) -> Trace:
    """The frames of ``trace`` with ``start_s <= time_s < end_s`` (seconds; times kept as they
    are), its metadata noting the window as ``time_window_s``. Used to analyse one part of a
    recording, e.g. one task of a guided recording. Its warnings about the frames are the part's
    own (:func:`frame_warnings`: a second face in another part is not this part's); those about
    the file stay. The whole recording goes with it as ``surroundings``."""
    time_s = np.asarray(trace.columns["time_s"], dtype=float)
    # a frame stored at 7.3999999999999995 s is the frame at 7.4 s: both edges move by the same
    # microsecond, so consecutive parts still share no frame and miss none
    keep = (time_s >= start_s - TIME_TOLERANCE_S) & (time_s < end_s - TIME_TOLERANCE_S)
    columns = {name: np.asarray(values)[keep] for name, values in trace.columns.items()}
    warnings = trace.metadata.get("warnings", [])
    if "warnings" in trace.metadata and all(name in columns for name in ("valid", "face_detected", "n_faces",
                                                                          "face_size_px")):
        whole = set(frame_warnings(trace.columns, trace.metadata.get("subject_reacquisitions")))
        warnings = frame_warnings(columns) + [w for w in warnings if w not in whole]
    return Trace(columns=columns, metadata={**trace.metadata, "time_window_s": [float(start_s), float(end_s)],
                                            **({"warnings": warnings} if "warnings" in trace.metadata else {})},
                 surroundings=trace if trace.surroundings is None else trace.surroundings)


def part_seconds(text: str) -> float:
    """A part's start or end typed by a person (s): a finite number, 0 or more; ValueError with
    the message to show otherwise (the batch manifest and the command line both read them so)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"expected seconds (a number, 0 or more), not {text!r}")
    return value


def empty_part_message(start_s: float | None, end_s: float | None, extent: str) -> str:
    """The refusal of a part holding no frames (``extent``: what the recording spans, in words)."""
    return (f"the part to score, {start_s or 0.0:g} s to {'the end' if end_s is None else f'{end_s:g} s'}, "
            f"holds no frames of the recording ({extent})")


def scored_part(trace: Trace, start_s: float | None, end_s: float | None) -> Trace:
    """The part of a recording to score (:func:`time_window`; None: from the start / to the end);
    a :class:`TraceError` saying so when it holds no frames (a part past the video's end)."""
    if start_s is None and end_s is None:
        return trace
    start, end = start_s or 0.0, np.inf if end_s is None else end_s
    part = time_window(trace, start, end)
    last = float(trace["time_s"][-1]) if len(trace) else 0.0
    if len(part) < 2:
        raise TraceError(empty_part_message(start_s, end_s, f"its frames run from 0 to {last:.1f} s"))
    frame_s = float(np.median(np.diff(trace["time_s"])))
    if end_s is not None and end_s > last + 1.5 * frame_s:   # a time typed past the end: said, not silently cut
        warning = (f"the part to score, {start:g} s to {end:g} s, runs past the recording's end ({last:.1f} s): "
                   "scored to its end")
        part = replace(part, metadata={**part.metadata, "warnings": [*part.metadata.get("warnings", []), warning]})
    return part


def as_stored(columns: dict) -> dict[str, np.ndarray]:
    """The columns exactly as a trace file holds them and :func:`read_trace` gives them back:
    numbers to 7 significant digits (:data:`EXACT_COLUMNS` as they are), non-finite ones NaN,
    integer columns int64. Extraction returns these, so a video analysed at once and its saved
    trace analysed later give the same numbers (before signals eyelid-6 they could differ: the
    file's 7-digit frame times alone moved some figures by a hundredth)."""
    stored = {}
    for name, values in columns.items():
        if name in INTEGER_COLUMNS:
            stored[name] = np.asarray(values).astype(np.int64)
        else:   # written by _format and read back as read_trace reads it
            texts = (_format(v, False, name in EXACT_COLUMNS) for v in np.asarray(values, dtype=float).tolist())
            stored[name] = np.array([float(text) if text else np.nan for text in texts], dtype=float)
    return stored


def _format(value: float, integer: bool, exact: bool = False) -> str:
    """One value as a trace file writes it (:data:`EXACT_COLUMNS`: ``exact``); empty when not finite."""
    if integer:
        return str(int(value))
    if not np.isfinite(value):
        return ""
    return repr(float(value)) if exact else f"{value:.7g}"


def trace_bytes(trace: Trace, *, compress: bool = False) -> bytes:
    """The trace file's bytes (gzip with a fixed header when ``compress``), byte-for-byte
    deterministic; what :func:`write_trace` writes and :func:`trace_from_bytes` reads."""
    names = list(trace.columns)
    buffer = io.StringIO()
    buffer.write(f"# format: {json.dumps(TRACE_FORMAT)}\n")
    buffer.write(f"# format_version: {TRACE_FORMAT_VERSION}\n")
    for key, value in trace.metadata.items():
        buffer.write(f"# {key}: {json.dumps(value, sort_keys=True, allow_nan=False, default=str)}\n")
    buffer.write(",".join(names) + "\n")
    kinds = [(name in INTEGER_COLUMNS, name in EXACT_COLUMNS) for name in names]
    columns = [trace.columns[name] for name in names]
    for row in range(len(trace)):
        buffer.write(",".join(_format(col[row], *kind) for col, kind in zip(columns, kinds)))
        buffer.write("\n")
    data = buffer.getvalue().encode("utf-8")
    return gzip.compress(data, mtime=0) if compress else data


def write_trace(trace: Trace, path: str | os.PathLike) -> Path:
    """Write ``trace`` to ``path`` atomically (``.gz`` suffix: gzip with a fixed header)."""
    path = Path(path)
    data = trace_bytes(trace, compress=path.suffix == ".gz")
    with atomic_write(path, "wb") as handle:
        handle.write(data)
    return path


def is_trace_file(path: str | os.PathLike) -> bool:
    """True if ``path`` is a readable file whose first line is a spasmcv trace header (plain or gzip)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
        opener = gzip.open if head == b"\x1f\x8b" else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
            return TRACE_FORMAT in handle.readline()
    except (OSError, EOFError, gzip.BadGzipFile):
        return False


def read_trace(path: str | os.PathLike) -> Trace:
    """Read a trace written by :func:`write_trace`.

    Raises
    ------
    TraceError
        Missing file, not a spasmcv trace, unsupported version or malformed rows.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TraceError(f"{path}: cannot read trace ({exc})") from exc
    return trace_from_bytes(raw, source=str(path))


def trace_from_bytes(raw: bytes, *, source: str = "trace") -> Trace:
    """A trace from the bytes of a trace file (plain or gzip); ``source`` names it in errors.

    Raises
    ------
    TraceError
        Not a spasmcv trace, unsupported version or malformed rows.
    """
    try:
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8-sig")   # a byte-order mark (a spreadsheet saved it) is not part of the header
    except (OSError, EOFError, UnicodeDecodeError, gzip.BadGzipFile) as exc:
        raise TraceError(f"{source}: cannot read trace ({exc})") from exc
    lines = text.splitlines()
    metadata: dict = {}
    body_start = 0
    for body_start, line in enumerate(lines):
        if not line.startswith("# "):
            break
        key, _, value = line[2:].partition(": ")
        try:
            metadata[key] = json.loads(value)
        except json.JSONDecodeError as exc:
            raise TraceError(f"{source}: malformed header line {body_start + 1}") from exc
    if metadata.pop("format", None) != TRACE_FORMAT:
        raise TraceError(f"{source}: not a spasmcv trace (no '# format: \"{TRACE_FORMAT}\"' header)")
    version = metadata.pop("format_version", None)
    if version != TRACE_FORMAT_VERSION:
        raise TraceError(f"{source}: trace format version {version!r}; this spasmcv reads {TRACE_FORMAT_VERSION}")
    rows = list(csv.reader(lines[body_start:]))
    if not rows:
        raise TraceError(f"{source}: trace has no column header")
    names, data = rows[0], rows[1:]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise TraceError(f"{source}: the column(s) {', '.join(twice)} are named twice (an edited file?): "
                         "which one holds the measurement cannot be told")
    if any(len(r) != len(names) for r in data):
        raise TraceError(f"{source}: rows with a wrong number of fields (truncated file?)")
    columns: dict[str, np.ndarray] = {}
    for k, name in enumerate(names):
        values = [r[k] for r in data]
        try:
            if name in INTEGER_COLUMNS:
                columns[name] = np.array([int(v) for v in values], dtype=np.int64)
            else:
                columns[name] = np.array([float(v) if v else np.nan for v in values], dtype=float)
        except ValueError as exc:
            raise TraceError(f"{source}: column {name!r} holds a non-number ({exc})") from exc
    validate_columns(columns, source=source, first_row_line=body_start + 2)
    _check_extracted_columns(columns, metadata, source=source, first_row_line=body_start + 2)
    return Trace(columns=columns, metadata=metadata)


#: Columns the quality gate and the report read, which every trace of the current signals writes.
#: Missing from such a trace (an edited file), the gate would take them as neutral (a face turned
#: 60 degrees read as frontal) and grade frames it would have refused.
EXTRACTED_COLUMNS = ("face_detected", "n_faces", "eyes_in_frame", "subject_track", "face_size_px", "face_x_px",
                     "face_y_px", "head_yaw_deg", "head_pitch_deg", "head_roll_deg", "iris_reference_px",
                     "eye_region_grey_spread", "aperture_px_left", "aperture_px_right")
#: The eye aspect ratio's possible range: (lid to lid) / (corner to corner) is a ratio of distances,
#: never negative or infinite. An open eye reads about 0.3, but a mesh squeezed at a turned head
#: reads more: 2.01 at most in the 69 labelled real clips (`pc_interview`); 100 is no mesh's.
EAR_RANGE = (0.0, 100.0)


def _check_extracted_columns(columns: dict, metadata: dict, *, source: str, first_row_line: int) -> None:
    """A trace file of this spasmcv's signals holds every column its extraction writes, and eye
    aspect ratios that an eye can have (NaN: not measured); otherwise it was edited, and reading
    it as it is would give numbers nothing measured."""
    from spasmcv.measure.extract import SIGNALS_VERSION   # here: extract imports this module

    if metadata.get("signals_version") == SIGNALS_VERSION:
        missing = [name for name in EXTRACTED_COLUMNS if name not in columns]
        if missing:
            raise TraceError(f"{source}: the trace lacks the column(s) {', '.join(missing)}, which signals "
                             f"{SIGNALS_VERSION} always writes (an edited file?): extract it again from the video")
    for name in ("ear_left", "ear_right"):
        values = np.asarray(columns[name], dtype=float)
        bad = np.flatnonzero(~np.isnan(values) & ~((values >= EAR_RANGE[0]) & (values <= EAR_RANGE[1])))
        if bad.size:
            raise TraceError(f"{source}: line {first_row_line + bad[0]}: {name} {values[bad[0]]:g} is no eye's "
                             f"aspect ratio ({EAR_RANGE[0]:g}-{EAR_RANGE[1]:g}, or empty where not measured)")


#: The longest interval between two frames that is a pause (a recording paused and resumed, files
#: joined), s; a longer one is a broken clock, whose span the analysis cannot lay its 1-s and
#: 1-minute grids over (a jump of 1e9 s asked for 7 GB; 1e6 s took minutes).
MAX_FRAME_GAP_S = 3600.0

#: Columns every trace must have: analysis needs nothing less.
REQUIRED_COLUMNS = ("time_s", "valid", "ear_left", "ear_right")


def validate_columns(columns: dict, *, source: str, first_row_line: int = 1, unit: str = "line") -> None:
    """Check what analysis relies on: the required columns, finite and strictly increasing frame
    times, and a 0/1 ``valid`` flag. Each problem is a :class:`TraceError` naming ``source`` and
    the file line (``first_row_line`` is the line of the first data row; ``unit="row"`` for
    in-memory tables, counted from 1)."""
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise TraceError(f"{source}: the trace lacks the column(s) {', '.join(missing)}")
    time_s = np.asarray(columns["time_s"], dtype=float)
    bad = np.flatnonzero(~np.isfinite(time_s))
    if bad.size:
        raise TraceError(f"{source}: {unit} {first_row_line + bad[0]}: time_s is empty or not finite")
    back = np.flatnonzero(np.diff(time_s) <= 0)
    if back.size:
        k = int(back[0]) + 1
        raise TraceError(f"{source}: {unit} {first_row_line + k}: time_s {time_s[k]:g} s does not follow "
                         f"{time_s[k - 1]:g} s (frame times must increase strictly; rows out of order or a broken clock)")
    jump = np.flatnonzero(np.diff(time_s) > MAX_FRAME_GAP_S)
    if jump.size:
        k = int(jump[0]) + 1
        raise TraceError(f"{source}: {unit} {first_row_line + k}: time_s jumps from {time_s[k - 1]:g} s to "
                         f"{time_s[k]:g} s, more than {MAX_FRAME_GAP_S / 3600:g} h between two frames: a broken "
                         "clock in the video, not a pause (re-encode the video at a constant frame rate)")
    valid = np.asarray(columns["valid"], dtype=float)
    bad = np.flatnonzero(~np.isin(valid, (0, 1)))
    if bad.size:
        raise TraceError(f"{source}: {unit} {first_row_line + bad[0]}: valid must be 0 or 1")
