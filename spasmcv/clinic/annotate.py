"""Review video: the recording with eyelid contours, a closure gauge per eye, the detected
events labelled while they happen and the time stamp, for checking detections by eye.

Two passes over the video: the analysis decides the events (the whole recording is needed
first, for the open-eye reference); a second pass draws the lid contours on each frame and
encodes H.264 (yuv420p, playable everywhere) with PyAV, keeping every frame's own timestamp.
The landmark model runs once: the lid contours are kept from the extraction pass, or, when a
trace is given (it does not store landmarks), measured during the drawing pass. The file is written under a temporary name and renamed into place.

Overlay layout (patient's right eye on the image's left, as in an unmirrored video): a strip at
the top with the time and frame number; at the bottom one panel per eye with a **swatch**
(filled with the event kind's colour exactly while the frame lies inside one of that eye's
detected events, onset to offset inclusive, light grey otherwise), a closure gauge (0 open - 1
closed, tick at the "closed" level 0.5) and the event kind as text. OpenCV draws the overlay.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np

from spasmcv._atomic import atomic_path
from spasmcv.analysis.analyze import Analysis, analyze_trace
from spasmcv.analysis.closure import SIDES
from spasmcv.analysis.events import display_kind
from spasmcv.clinic.palette import EYE_COLORS, KIND_COLORS, rgb
from spasmcv.measure.eyelid import PATIENT_EYES, eye_landmarks
from spasmcv.measure.landmarks import N_LANDMARKS, FaceTracker
from spasmcv.measure.model import ModelInfo, resolve_model
from spasmcv.measure.orientation import picture_turn_deg
from spasmcv.measure.region import FOUND_IN_FACELESS_FRAMES, FaceRegion, model_view
from spasmcv.measure.trace import Trace
from spasmcv.settings import Settings

#: Colours (RGB) of the display kinds and eyes: the report's palette (clinic/palette.py).
KIND_RGB = {kind: rgb(color) for kind, color in KIND_COLORS.items()}
EYE_RGB = {side: rgb(color) for side, color in EYE_COLORS.items()}
IDLE_RGB = (225, 225, 225)
PANEL_RGB = (250, 250, 250)
TIME_BASE = Fraction(1, 90000)
#: The review video's container comment: how ``spasmcv annotate`` knows a file it may replace.
REVIEW_VIDEO_COMMENT = "spasmcv review video"


@dataclass(frozen=True)
class AnnotateResult:
    """What :func:`annotate_video` wrote."""

    path: Path
    frames: int
    events: int
    analysis: Analysis


def panel_box(side: str, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) pixels of the bottom panel of the patient's ``side`` eye."""
    panel_h = max(28, int(round(0.085 * height)))
    margin = max(4, width // 80)
    panel_w = width // 2 - 2 * margin
    x0 = margin if side == "right" else width // 2 + margin
    y1 = height - margin
    return x0, y1 - panel_h, x0 + panel_w, y1


def swatch_box(side: str, width: int, height: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of the eye's event swatch (coloured only during that eye's events)."""
    x0, y0, x1, y1 = panel_box(side, width, height)
    pad = max(3, (y1 - y0) // 8)
    size = (y1 - y0) - 2 * pad
    return x0 + pad, y0 + pad, x0 + pad + size, y0 + pad + size


def active_events(time_s: float, events: list) -> object | None:
    """The event whose onset <= ``time_s`` <= offset (the latest onset if several), or None."""
    inside = [e for e in events if e.onset_s <= time_s <= e.offset_s]
    return max(inside, key=lambda e: e.onset_s) if inside else None


def draw_overlay(rgb: np.ndarray, *, time_s: float, frame_index: int, landmarks_px: np.ndarray | None,
                 closure: dict, events: dict, mirrored: bool = False) -> np.ndarray:
    """Draw the overlay on a copy of one RGB frame.

    Parameters
    ----------
    rgb : ndarray (h, w, 3) uint8
    time_s : float
        The frame's time, s.
    frame_index : int
    landmarks_px : ndarray (478, 2+) or None
        Face landmarks in this frame's pixels (None: no face, no contours).
    closure : dict side -> float
        Closure 0-1 of each eye at this frame (NaN: not measured).
    events : dict side -> list of EyeEvent
        Each eye's events (all kinds; the active one is labelled).
    mirrored : bool
        The video is a mirror image (the patient's right eye is on the image's right).
    """
    import cv2

    out = np.ascontiguousarray(rgb.copy())
    h, w = out.shape[:2]
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.4, h / 900)
    thick = max(1, int(round(h / 500)))
    active = {side: active_events(time_s, events[side]) for side in SIDES}
    if landmarks_px is not None:
        for side in SIDES:
            eye = eye_landmarks(side, mirrored=mirrored)
            color = KIND_RGB[display_kind(active[side])] if active[side] is not None else EYE_RGB[side]
            for contour in (eye.upper_lid_contour, eye.lower_lid_contour):
                pts = np.round(landmarks_px[list(contour), :2]).astype(np.int32)
                cv2.polylines(out, [pts.reshape(-1, 1, 2)], False, color, thick, cv2.LINE_AA)
    strip_h = max(18, int(round(0.05 * h)))
    cv2.rectangle(out, (0, 0), (w - 1, strip_h), PANEL_RGB, -1)
    cv2.putText(out, f"t = {time_s:8.3f} s   frame {frame_index}", (6, int(strip_h * 0.72)), font, scale * 0.9,
                (20, 20, 20), thick, cv2.LINE_AA)
    for side in SIDES:
        panel_side = side if not mirrored else {"left": "right", "right": "left"}[side]
        x0, y0, x1, y1 = panel_box(panel_side, w, h)
        cv2.rectangle(out, (x0, y0), (x1, y1), PANEL_RGB, -1)
        cv2.rectangle(out, (x0, y0), (x1, y1), EYE_RGB[side], thick)
        sx0, sy0, sx1, sy1 = swatch_box(panel_side, w, h)
        event = active[side]
        cv2.rectangle(out, (sx0, sy0), (sx1, sy1), KIND_RGB[display_kind(event)] if event is not None else IDLE_RGB, -1)
        # gauge: a horizontal bar filled to the closure, tick at 0.5
        gx0, gx1 = sx1 + 8, x0 + (x1 - x0) // 2
        gy0, gy1 = sy0 + (sy1 - sy0) // 4, sy1 - (sy1 - sy0) // 4
        cv2.rectangle(out, (gx0, gy0), (gx1, gy1), (200, 200, 200), -1)
        c = closure.get(side, float("nan"))
        if np.isfinite(c):
            cv2.rectangle(out, (gx0, gy0), (gx0 + int(round(np.clip(c, 0, 1) * (gx1 - gx0))), gy1), EYE_RGB[side], -1)
        mid = gx0 + (gx1 - gx0) // 2
        cv2.line(out, (mid, gy0 - 3), (mid, gy1 + 3), (40, 40, 40), 1)
        text = f"{side[0].upper()} eye {'--' if not np.isfinite(c) else f'{c:.2f}'}"
        if event is not None:
            text += f"  {display_kind(event).upper()}"
        cv2.putText(out, text, (gx1 + 6, sy0 + int((sy1 - sy0) * 0.75)), font, scale * 0.75, (20, 20, 20), thick,
                    cv2.LINE_AA)
    return out


class _LidContours:
    """The lid-contour landmarks of each frame, kept from the extraction pass (about 34 points
    per frame, instead of running the model a second time while drawing)."""

    indices = np.array(sorted({i for eye in PATIENT_EYES.values()
                               for i in (*eye.upper_lid_contour, *eye.lower_lid_contour)}))

    def __init__(self) -> None:
        self._points: dict[int, np.ndarray] = {}

    def add(self, frame_index: int, face) -> None:
        if face is not None:
            self._points[frame_index] = face.landmarks_px[self.indices, :2].astype(np.float32)

    def get(self, frame_index: int) -> np.ndarray | None:
        """(478, 2) display pixels with the lid contours filled in (NaN elsewhere), or None."""
        points = self._points.get(frame_index)
        if points is None:
            return None
        full = np.full((N_LANDMARKS, 2), np.nan)
        full[self.indices] = points
        return full


class Retracker:
    """The face landmarks of a video's frames measured again as its trace's extraction measured them
    (a trace does not store landmarks): in the whole picture, or in the trace's ``face_region``
    when tiles found the face; when they found it in the frames where the whole picture showed
    none (a second pass, :data:`~spasmcv.measure.region.FOUND_IN_FACELESS_FRAMES`), the whole
    picture's face where there is one and the region's elsewhere. A context manager; call it
    with each :class:`~spasmcv.measure.video.Frame` in order for its landmarks ``(478, 2)`` in
    display pixels, or None without a face."""

    def __init__(self, model: ModelInfo, tracker_settings, metadata: dict, display: tuple[int, int]):
        face_region = metadata.get("face_region") or {}
        self.region = FaceRegion(**{k: v for k, v in face_region.items() if k != "found_in"}) if face_region else None
        self.whole_first = self.region is not None and face_region.get("found_in") == FOUND_IN_FACELESS_FRAMES
        self.display = display
        with contextlib.ExitStack() as stack:
            self._trackers = [stack.enter_context(FaceTracker(model.path, tracker_settings))
                              for _ in range(2 if self.whole_first else 1)]
            self._stack = stack.pop_all()   # closed on exit; here only if a tracker failed to start

    def __enter__(self) -> "Retracker":
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def __call__(self, frame) -> np.ndarray | None:
        regions = [None, self.region] if self.whole_first else [self.region]
        views = [model_view(frame.rgb, frame.scale, region, self.display) for region in regions]
        # every tracker sees every frame, as in the extraction's passes; the first face found holds
        faces = [tracker.process(rgb, frame.time_s, display_size=size, origin=origin)
                 for tracker, (rgb, origin, size) in zip(self._trackers, views)]
        face = next((f for f in faces if f is not None), None)
        return None if face is None else face.landmarks_px[:, :2]


def annotate_video(video: str | os.PathLike, output: str | os.PathLike, *, model: ModelInfo | str | os.PathLike | None = None,
                   trace: Trace | None = None, task: str = "rest", settings: Settings = Settings(), crf: int = 20,
                   progress: Callable[[int], None] | None = None, on_pass: Callable[[int], None] | None = None,
                   info=None) -> AnnotateResult:
    """Write a review copy of ``video`` with eyelid contours, closure gauges and event labels.

    Parameters
    ----------
    video, output : path
        Input video and the review MP4 (H.264, yuv420p) to write (atomically).
    model : ModelInfo or path, optional
        The face landmarker (resolved as usual if a path or None).
    trace : Trace, optional
        The video's trace (from ``spasmcv extract``); extracted here when not given.
    task : {"rest", "conversation", "reading"}
        Passed to the analysis.
    settings : Settings
        What decides the results (tracker, mirror image, analysis).
    crf : int
        x264 quality of the review video (lower = better).
    progress : callable, optional
        Called with the number of frames just processed (both passes).
    on_pass : callable, optional
        Called with a number of frames when the extraction makes a second pass over the video
        (:func:`~spasmcv.measure.extract.extract_trace`); ``progress`` reports those frames too.
    info : VideoInfo, optional
        The video's :func:`~spasmcv.measure.video.probe_video` result, when the caller has it.

    Returns
    -------
    AnnotateResult

    Raises
    ------
    VideoError, ModelError
    """
    import av

    from spasmcv.measure.video import iter_frames, probe_video

    video, output = Path(video), Path(output)
    info = info or probe_video(video)
    if not isinstance(model, ModelInfo):
        model = resolve_model(model)
    tracker_settings, mirrored = settings.measure.tracker, settings.measure.mirrored
    lids = None  # lid-contour points per frame (display pixels), kept from the extraction pass
    if trace is None:
        from spasmcv.measure.extract import extract_trace

        lids = _LidContours()
        trace = extract_trace(video, model=model, settings=settings.measure, progress=progress, on_pass=on_pass,
                              on_face=lids.add, info=info)
    analysis = analyze_trace(trace, task=task, settings=settings.analysis)
    signal = analysis.signal
    events = analysis.events.per_eye
    frames = 0
    with atomic_path(output, suffix=".mp4") as tmp:
        with contextlib.ExitStack() as stack:
            container = stack.enter_context(av.open(str(tmp), mode="w", format="mp4",
                                                    options={"movflags": "+faststart"}))
            container.metadata["comment"] = REVIEW_VIDEO_COMMENT
            # given only a trace, the landmarks are measured again (the trace does not store them),
            # in the picture its extraction measured: turned, when the video was stored turned
            turn = picture_turn_deg(trace.metadata)
            display = info.shown_size(turn)
            retracker = (stack.enter_context(Retracker(model, tracker_settings, trace.metadata, display))
                         if lids is None else None)
            stream = None
            for frame in iter_frames(video, max_side_px=tracker_settings.max_side_px, turn_deg=turn):
                if frame.index >= len(signal.time_s):
                    break
                landmarks = retracker(frame) if retracker is not None else lids.get(frame.index)
                landmarks = None if landmarks is None else landmarks * frame.scale
                closure = {side: float(signal.closure[side][frame.index]) for side in SIDES}
                image = draw_overlay(frame.rgb, time_s=frame.time_s, frame_index=frame.index, landmarks_px=landmarks,
                                     closure=closure, events=events, mirrored=mirrored)
                h, w = image.shape[:2]
                if h % 2 or w % 2:  # yuv420p needs even sizes: pad one black row/column
                    image = np.pad(image, ((0, h % 2), (0, w % 2), (0, 0)))
                if stream is None:
                    rate = Fraction(info.nominal_fps).limit_denominator(1001) if info.nominal_fps else Fraction(30)
                    stream = container.add_stream("libx264", rate=rate)
                    stream.width, stream.height = image.shape[1], image.shape[0]
                    stream.pix_fmt = "yuv420p"
                    stream.codec_context.time_base = TIME_BASE
                    stream.time_base = TIME_BASE
                    stream.options = {"crf": str(crf), "preset": "veryfast"}
                out_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
                out_frame.pts = int(round(frame.time_s / TIME_BASE))
                out_frame.time_base = TIME_BASE
                for packet in stream.encode(out_frame):
                    container.mux(packet)
                frames += 1
                if progress is not None:
                    progress(1)
            if stream is not None:
                for packet in stream.encode(None):
                    container.mux(packet)
    n_events = sum(len(events[side]) for side in SIDES)
    return AnnotateResult(path=output, frames=frames, events=n_events, analysis=analysis)
