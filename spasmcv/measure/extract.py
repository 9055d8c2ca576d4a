"""Extraction: video -> landmarks -> eyelid signals -> :class:`~spasmcv.measure.trace.Trace`.

This module only calls the stages in order and gathers provenance and data-quality warnings;
the measurements themselves are defined in :mod:`spasmcv.measure.eyelid`.
"""

from __future__ import annotations

import functools

import os
import platform
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from spasmcv import __version__
from spasmcv.measure.eyelid import IRIS_DIAMETER_MM, eye_region_grey_spread, eyelid_signals, frame_measures
from spasmcv.measure.landmarks import (BLENDSHAPE_NAMES, N_LANDMARKS, FaceFinder, FaceObservation, FaceTracker,
                                      SubjectSelector, TrackerSettings, short_track_mask, split_tracks)
from spasmcv._hashing import file_sha256
from spasmcv.measure.model import ModelInfo, resolve_model
from spasmcv.measure.orientation import looks_turned, upright_counts, upright_turn
from spasmcv.measure.trace import Trace, as_stored, frame_warnings
from spasmcv.measure.pipelining import RunSettings, cpus_to_pin, pinned_to, prefetch
from spasmcv.measure.region import (FOUND_IN_FACELESS_FRAMES, SAMPLE_FRAMES, FaceRegion, model_view,
                                    sample_frames, sample_frames_among, search_face_region)
from spasmcv.measure.video import VideoInfo, frame_difference, frame_thumbnail, iter_frames, probe_video, shot_numbers

#: Version of the eyelid-signal definitions (bump when a column is added or its formula changes,
#: or when the same video reaches the model as other pixels). eyelid-9: video stored sideways or
#: upside down without a rotation tag is measured turned upright (:mod:`spasmcv.measure.orientation`),
#: full-range video is converted in its own range, frames after a change of picture size
#: mid-stream are scaled to the first frame's size, and frames whose presentation stamps come in
#: decode order (AVI with B-frames) are timed by their decode stamps. eyelid-10: interlaced video
#: is deinterlaced and measured field by field (two pictures per frame, each at its field's time).
#: eyelid-11: HDR video (PQ, HLG) is tone-mapped to SDR before it is measured. eyelid-12: every
#: SDR picture is converted to RGB by FFmpeg with its own YUV matrix (BT.709 video was read with
#: BT.601's through OpenCV's conversion), and resized to the probe's display size (not rounded
#: down to even sides).
SIGNALS_VERSION = "eyelid-12"


@dataclass(frozen=True)
class MeasureSettings:
    """Everything that decides a trace (recorded in its provenance, hashed into batch cache keys).

    Attributes
    ----------
    tracker : TrackerSettings
        The landmark stage.
    mirrored : bool
        True if the video is a mirror image (swaps the patient's left and right).
    """

    tracker: TrackerSettings = field(default_factory=TrackerSettings)
    mirrored: bool = False


def extract_trace(
    video_path: str | os.PathLike,
    *,
    model: ModelInfo | str | os.PathLike | None = None,
    settings: MeasureSettings = MeasureSettings(),
    recording_id: str | None = None,
    max_frames: int | None = None,
    progress: Callable[[int], None] | None = None,
    on_pass: Callable[[int], None] | None = None,
    on_face: Callable[[int, FaceObservation | None], None] | None = None,
    run: RunSettings = RunSettings(),
    info: VideoInfo | None = None,
    video_sha256: str | None = None,
    model_data: bytes | None = None,
) -> Trace:
    """Measure both eyelids in every frame of a video.

    Parameters
    ----------
    video_path : path
    model : ModelInfo or path, optional
        The face landmarker; resolved with :func:`spasmcv.measure.model.resolve_model` if a path or None.
    settings : MeasureSettings
        What decides the trace (tracker settings, mirror image).
    recording_id : str, optional
        Pseudonymous identifier stored in the trace; default: the first 12 hex digits of
        the video's sha256. The video's path or name is never stored.
    max_frames : int, optional
        Stop after this many frames (quick looks, tests).
    progress : callable, optional
        Called with the number of frames just processed (for progress bars).
    on_pass : callable, optional
        Called with a number of frames when a second pass over the video starts: a face seen at
        first but missing in most frames is tracked again in the region where tiles found it
        (:mod:`spasmcv.measure.region`). ``progress`` then reports that pass's frames as well, so
        a progress bar adds them to its total.
    on_face : callable, optional
        Called with each frame's index and the subject's :class:`FaceObservation` (None when
        no subject face), e.g. to keep landmarks the trace does not store (``annotate``). When a
        face seen in some frames is missing in most, a second pass in a face region calls it
        again for each frame the first found no face in: the last call for a frame holds.
    run : RunSettings
        How to run (decoder threads, prefetching, CPU pinning): never changes the trace.
    info, video_sha256 : optional
        The video's :func:`~spasmcv.measure.video.probe_video` result and sha256 when the caller
        already has them (neither is computed twice).
    model_data : bytes, optional
        The model file's bytes, already read and verified (batch workers).

    Returns
    -------
    Trace

    Raises
    ------
    VideoError, ModelError
    """
    video_path = Path(video_path)
    info = info or probe_video(video_path)
    if not isinstance(model, ModelInfo):
        model = resolve_model(model)
    video_sha = video_sha256 or file_sha256(video_path)
    tracker_settings, mirrored = settings.tracker, settings.mirrored

    passes = dict(model=model, model_data=model_data, settings=settings, run=run, info=info,
                  max_frames=max_frames, progress=progress, on_pass=on_pass, on_face=on_face)
    tracked, region, found_in, display = _measure_picture(video_path, turn=0, **passes)
    turn, turn_note = 0, None
    if looks_turned(tracked[2], np.concatenate([m["head_roll_deg"] for m in tracked[5]])):
        turn, counts, n_samples = _find_upright_turn(video_path, model, model_data, settings,
                                                     n_frames=len(tracked[0]))
        if turn:
            if on_pass is not None:
                on_pass(len(tracked[0]))
            tracked, region, found_in, display = _measure_picture(video_path, turn=turn, **passes)
            turn_note = {"clockwise_deg": turn, "samples": n_samples,
                         "upright_faces_by_turn": {str(t): c for t, c in counts.items()}}
    times, faces_seen, detected, tracks, differences, measured, reacquisitions, fallback = tracked
    n = len(times)
    measures = {name: np.concatenate([m[name] for m in measured]) for name in measured[0]}
    signals = eyelid_signals(measures)
    face_detected = np.asarray(detected, dtype=np.int8)
    signals.update(frame_index=np.arange(n), time_s=np.asarray(times, dtype=float),
                   face_detected=face_detected, n_faces=np.asarray(faces_seen, dtype=np.int64),
                   frame_difference=np.asarray(differences, dtype=float))
    signals["shot"] = shot_numbers(signals["frame_difference"])
    signals["subject_track"] = split_tracks(np.asarray(tracks, dtype=np.int64), signals["shot"])
    spurious = short_track_mask(signals["subject_track"], min_frames=SubjectSelector.confirm_frames)
    signals["valid"] = np.where(spurious, 0, signals["valid"]).astype(np.int8)
    columns = as_stored({name: signals[name] for name in trace_column_order(signals)})
    metadata = {
        "recording_id": recording_id or video_sha[:12],
        "spasmcv_version": __version__,
        "signals_version": SIGNALS_VERSION,
        "video": {"sha256": video_sha, "size_bytes": video_path.stat().st_size, **info.as_dict()},
        "model": {"sha256": model.sha256, "official": model.official, "file": model.path.name},
        "parameters": {**asdict(tracker_settings), "mirrored": mirrored, "max_frames": max_frames,
                       "iris_diameter_mm": IRIS_DIAMETER_MM},
        "software": dict(software_versions()),
        "subject_reacquisitions": reacquisitions,
        "warnings": quality_warnings(columns, info, reacquisitions=reacquisitions,
                                     official_model=model.official),
    }
    if region is not None:  # recorded only when used: other traces stay as they were
        metadata["face_region"] = region.as_dict() | {"found_in": found_in}
        metadata["warnings"].append(
            f"no face was found in the whole picture{' in most frames' if found_in == FOUND_IN_FACELESS_FRAMES else ''}: "
            f"the face was found in a search of the frame in tiles and "
            f"measured in the region x {region.x0}-{region.x1}, y {region.y0}-{region.y1} (display pixels) "
            f"of the {display[0]}x{display[1]} picture; a face outside it is not seen")
    if turn_note is not None:  # recorded only when used: other traces stay as they were
        metadata["picture_turn"] = turn_note
        metadata["warnings"].append(
            f"the face is upright only in the picture turned {turn} degrees clockwise (in "
            f"{turn_note['upright_faces_by_turn'][str(turn)]} of {turn_note['samples']} sample frames, "
            f"{turn_note['upright_faces_by_turn']['0']} as stored): the video is stored "
            f"{'upside down' if turn == 180 else 'sideways'} without a rotation tag, and was measured "
            f"turned; positions in the trace are in the turned {display[0]}x{display[1]} picture")
    undecoded = info.frame_count - n
    if max_frames is None and undecoded > 1:
        metadata["warnings"].append(
            f"{undecoded} of the {info.frame_count} frames in the file could not be decoded (for example a "
            f"recording cut before a key frame): the trace holds the {n} that could, its time 0 at the first")
    if fallback:  # recorded only when it happens: on the fast path traces stay as they were
        metadata["landmark_reader"] = f"MediaPipe public API ({fallback})"
    return Trace(columns=columns, metadata=metadata)


def _measure_picture(video_path: Path, *, model: ModelInfo, model_data, settings: MeasureSettings,
                     run: RunSettings, info: VideoInfo, turn: int, max_frames, progress, on_pass, on_face):
    """The landmark stage over the video's picture turned clockwise by ``turn`` degrees: in the
    whole picture, or in a face region found in tiles when the first frames show no face, and a
    second pass in a region when a face seen at first is missing in most frames. Returns the
    :func:`_track` results, the region (or None), where it was found, and the display size."""
    display = info.shown_size(turn)
    tracker_settings = settings.tracker
    region, found_in = None, "the first frames"
    try:
        tracked = _track(video_path, model, model_data, settings, run, display, region=None, turn=turn,
                         probe=tracker_settings.find_small_faces, max_frames=max_frames,
                         progress=progress, on_face=on_face)
    except _NoFaceYet:
        region = _find_face_region(video_path, model, model_data, settings, info, turn=turn)
        tracked = _track(video_path, model, model_data, settings, run, display, region=region, turn=turn,
                         probe=False, max_frames=max_frames, progress=progress, on_face=on_face)
    seen = np.asarray(tracked[2], dtype=bool)
    if (region is None and tracker_settings.find_small_faces and seen.any()
            and (~seen).sum() >= max(PROBE_FRAMES, MOSTLY_FACELESS * len(seen))):
        # no face in most frames, though the whole picture shows one in some (a title, then a small webcam inset)
        late = _find_face_region(video_path, model, model_data, settings, info, among=np.flatnonzero(~seen),
                                 turn=turn)
        if late is not None:
            report = None if on_face is None else (lambda index, face: None if seen[index] else on_face(index, face))
            if on_pass is not None:
                on_pass(len(seen))
            again = _track(video_path, model, model_data, settings, run, display, region=late, turn=turn,
                           probe=False, max_frames=max_frames, progress=progress, on_face=report)
            if np.any(np.asarray(again[2], dtype=bool) & ~seen):
                tracked, region, found_in = _merge_passes(tracked, again), late, FOUND_IN_FACELESS_FRAMES
    return tracked, region, found_in, display


def _find_upright_turn(video_path: Path, model: ModelInfo, model_data, settings: MeasureSettings,
                       n_frames: int) -> tuple[int, dict[int, int], int]:
    """The clockwise turn that shows the face upright in sample frames of the first ``n_frames``
    (:mod:`spasmcv.measure.orientation`; 0: none), the upright faces found under each turn, and the
    number of sample frames."""
    frames = iter_frames(video_path, max_side_px=settings.tracker.max_side_px)
    try:
        samples = sample_frames(frames, SAMPLE_FRAMES, n_frames)
    finally:
        frames.close()
    if not samples:
        return 0, {}, 0
    with FaceFinder(model.path, num_faces=settings.tracker.num_faces, model_data=model_data) as finder:
        counts = upright_counts([frame.rgb for frame in samples], finder.eye_line_angles)
    return upright_turn(counts, len(samples)), counts, len(samples)


#: Frames tracked before the face region is looked for when none of them shows a face (2-3 s).
PROBE_FRAMES = 64
#: A face seen at first but missing in at least this share of the frames (and in PROBE_FRAMES or
#: more) is looked for again in those frames, in tiles.
MOSTLY_FACELESS = 0.5


class _NoFaceYet(Exception):
    """The first :data:`PROBE_FRAMES` frames show no face in the whole picture."""


def _track(video_path: Path, model: ModelInfo, model_data, settings: MeasureSettings, run: RunSettings,
           display: tuple[int, int], *, region: FaceRegion | None, turn: int, probe: bool, max_frames, progress,
           on_face):
    """The landmark stage over every frame (of ``region`` only, when given), the picture turned
    clockwise by ``turn`` degrees. With ``probe``, raise
    :class:`_NoFaceYet` when the first :data:`PROBE_FRAMES` frames (all of a shorter video) show no
    face; their progress is reported only after that point, so a second pass does not count them
    twice."""
    times, faces_seen, detected, tracks, differences = [], [], [], [], []
    previous = None
    chunk = _Chunk()
    measured: list[dict[str, np.ndarray]] = []
    held_progress = 0

    def flush() -> None:
        if chunk.size:
            landmarks, blendshapes, transforms, grey_spread = chunk.arrays()
            measures = frame_measures(landmarks, blendshapes, transforms, frame_size=display,
                                      mirrored=settings.mirrored)
            measured.append(measures | {"eye_region_grey_spread": grey_spread})
            chunk.clear()

    tracker_settings = settings.tracker
    with cpus_to_pin(run.pin_threads and run.prefetch_frames > 0) as (model_cpu, decode_cpu), \
            pinned_to(model_cpu), FaceTracker(model.path, tracker_settings, model_data=model_data) as tracker:
        frames = iter_frames(video_path, max_side_px=tracker_settings.max_side_px, threads=run.decode_threads,
                             turn_deg=turn)
        prepared = ((frame, *model_view(frame.rgb, frame.scale, region, display), frame_thumbnail(frame.rgb))
                    for frame in frames)
        prepared = ((frame, tracker.model_input(rgb), origin, size, thumbnail)
                    for frame, rgb, origin, size, thumbnail in prepared)
        for frame, model_input, origin, size, thumbnail in prefetch(prepared, depth=run.prefetch_frames,
                                                                    cpu=decode_cpu):
            if max_frames is not None and frame.index >= max_frames:
                break
            face = tracker.process(model_input, frame.time_s, display_size=size, origin=origin)
            times.append(frame.time_s)
            faces_seen.append(0 if face is None else face.n_faces)
            detected.append(face is not None)
            tracks.append(-1 if face is None else face.track)
            differences.append(frame_difference(thumbnail, previous))
            previous = thumbnail
            chunk.add(face, None if face is None else eye_region_grey_spread(frame.rgb, frame.scale, face.landmarks_px))
            if on_face is not None:
                on_face(frame.index, face)
            if chunk.size == _Chunk.capacity:
                flush()
            if probe and frame.index < PROBE_FRAMES:
                held_progress += 1
                if frame.index == PROBE_FRAMES - 1:
                    if not any(detected):
                        raise _NoFaceYet
                    if progress is not None:
                        progress(held_progress)
            elif progress is not None:
                progress(1)
        if probe and held_progress < PROBE_FRAMES:   # a video shorter than the probe
            if held_progress and not any(detected):
                raise _NoFaceYet
            if progress is not None and held_progress:
                progress(held_progress)
        flush()
        return (times, faces_seen, detected, tracks, differences, measured, tracker.selector.reacquisitions,
                tracker.fallback_reason)


def _merge_passes(first: tuple, second: tuple) -> tuple:
    """Two passes of :func:`_track` over the same frames as one: the first's results where it found a
    face, the second's (a pass in a face region) elsewhere; the second's subject tracks numbered
    after the first's. Re-acquisitions are those of the merged frames: every subject track kept
    but the first (each pass counted its own, some in frames the other pass's results replace)."""
    times, faces_1, seen_1, tracks_1, differences, measured_1, _, fallback_1 = first
    _, faces_2, seen_2, tracks_2, _, measured_2, _, fallback_2 = second
    first_wins = np.asarray(seen_1, dtype=bool)
    both = [{name: np.concatenate([m[name] for m in measured]) for name in measured[0]}
            for measured in (measured_1, measured_2)]
    measures = {name: np.where(first_wins.reshape(-1, *[1] * (values.ndim - 1)), values, both[1][name])
                for name, values in both[0].items()}
    offset = max(tracks_1, default=-1) + 1
    tracks = np.where(first_wins, tracks_1, np.where(np.asarray(tracks_2) >= 0, np.asarray(tracks_2) + offset, -1))
    reacquisitions = max(0, len(np.unique(tracks[tracks >= 0])) - 1)
    return (times, np.where(first_wins, faces_1, faces_2).tolist(), (first_wins | np.asarray(seen_2, bool)).tolist(),
            tracks.tolist(), differences, [measures], reacquisitions, fallback_1 or fallback_2)


def _find_face_region(video_path: Path, model: ModelInfo, model_data, settings: MeasureSettings,
                      info: VideoInfo, among: np.ndarray | None = None, turn: int = 0) -> FaceRegion | None:
    """Search sample frames of the whole video (or of the frames ``among``, indices), turned
    clockwise by ``turn`` degrees, for a face too small to be found in the whole picture
    (:mod:`spasmcv.measure.region`)."""
    frames = iter_frames(video_path, max_side_px=settings.tracker.max_side_px, turn_deg=turn)
    try:
        samples = (sample_frames(frames, SAMPLE_FRAMES, info.frame_count) if among is None
                   else sample_frames_among(frames, among, SAMPLE_FRAMES))
    finally:
        frames.close()
    if not samples:
        return None
    with FaceFinder(model.path, num_faces=settings.tracker.num_faces, model_data=model_data) as finder:
        return search_face_region([frame.rgb for frame in samples], finder, scale=samples[0].scale)


def trace_column_order(columns) -> list[str]:
    """Trace columns in reading order: identity, quality, head, per-eye signals, raw, blendshapes."""
    first = ["frame_index", "time_s", "valid", "face_detected", "n_faces", "shot", "subject_track", "eyes_in_frame",
             "face_x_px", "face_y_px", "face_size_px", "head_yaw_deg", "head_pitch_deg", "head_roll_deg"]
    per_eye = ["ear", "aperture_iris", "aperture_mm", "brow_eye_mm", "iris_drop", "upper_lid", "lower_lid",
               "aperture_px", "iris_diameter_px", "brow_eye_px", "iris_drop_px", "upper_lid_px", "lower_lid_px"]
    ordered = first + [f"{name}_{side}" for name in per_eye for side in ("left", "right")]
    ordered += ["intercanthal_px", "iris_reference_px", "eye_region_grey_spread", "frame_difference"]
    ordered += sorted(name for name in columns if name.startswith("bs_"))
    missing = set(columns) - set(ordered)
    return [name for name in ordered if name in columns] + sorted(missing)


class _Chunk:
    """A fixed-size buffer of landmark arrays, so memory per frame stays at the signals' size."""

    capacity = 256

    def __init__(self) -> None:
        self.landmarks = np.full((self.capacity, N_LANDMARKS, 3), np.nan)
        self.blendshapes = np.full((self.capacity, len(BLENDSHAPE_NAMES)), np.nan)
        self.transforms = np.full((self.capacity, 4, 4), np.nan)
        self.grey_spread = np.full(self.capacity, np.nan)
        self.size = 0

    def add(self, face, grey_spread: float | None) -> None:
        if face is not None:
            self.landmarks[self.size] = face.landmarks_px
            self.blendshapes[self.size] = face.blendshapes
            self.transforms[self.size] = face.transform
            self.grey_spread[self.size] = grey_spread
        self.size += 1

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n = self.size
        return self.landmarks[:n], self.blendshapes[:n], self.transforms[:n], self.grey_spread[:n].copy()

    def clear(self) -> None:
        for array in (self.landmarks, self.blendshapes, self.transforms, self.grey_spread):
            array.fill(np.nan)
        self.size = 0


@functools.lru_cache(maxsize=1)
def software_versions() -> dict:
    """Python's and the libraries' versions that decide a trace (recorded in its ``software``)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for package in ("mediapipe", "av", "numpy", "opencv-contrib-python"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
    return out


def quality_warnings(columns: dict[str, np.ndarray], info: VideoInfo, *, reacquisitions: int = 0,
                     official_model: bool = True) -> list[str]:
    """Plain-language data-quality warnings for a trace (empty list when all is well): its
    frames' (:func:`~spasmcv.measure.trace.frame_warnings`), then the file's."""
    warnings = frame_warnings(columns, reacquisitions)
    if info.variable_frame_rate:
        warnings.append("variable frame rate: frame times are taken from the container's timestamps")
    if info.gaps:
        missing = sum(g.missing_frames for g in info.gaps)
        warnings.append(f"{len(info.gaps)} gap(s) in the frame timing (about {missing} frames dropped)")
    if info.interlaced:
        warnings.append(f"interlaced video: each frame holds two fields filmed half a frame apart; they were "
                        f"deinterlaced and measured one by one ({info.measured_fps:.3g} pictures per second): the "
                        f"trace's row n is field n % 2 of the file's frame n // 2")
    if info.other_video_streams:
        number = info.other_video_streams[0].split()[0].lstrip("#")
        warnings.append(f"the file holds more than one video stream: the one a player shows by default "
                        f"({info.width}x{info.height} {info.codec}) was measured, not "
                        f"{', '.join(info.other_video_streams)}; to measure another, copy it alone into a "
                        f"file first (for stream #{number}: 'ffmpeg -i VIDEO -map 0:{number} -c copy OUT.mkv')")
    if not official_model:
        warnings.append("a custom (non-official) landmark model was used: validation figures do not apply")
    return warnings
