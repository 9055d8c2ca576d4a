"""Face landmark tracking with MediaPipe FaceLandmarker (the only module importing mediapipe).

The tracker runs FaceLandmarker in VIDEO mode (tracking between frames, strictly increasing
timestamps) and returns, per frame, the chosen subject's 478 landmarks (468 face mesh points +
10 iris points) in display pixels, the 52 blendshape scores and the 4x4 facial transformation
matrix, or ``None`` when no subject face is found.

Two deliberate settings (measured, see docs/design.md):

* ``num_faces=2`` by default. With ``num_faces=1`` MediaPipe smooths landmarks over time, which
  delays each eyelid reopening by 1-3 frames and lengthens every measured blink (Talking Face
  frame 173: eye aspect ratio 0.12 smoothed vs 0.22 unsmoothed). With two or more faces the
  landmarks are unsmoothed (identical to IMAGE mode), and a second person in view can be told
  apart from the subject instead of being swapped in silently.
* The subject is followed consistently by :class:`SubjectSelector`: the largest face when
  first seen, then whichever candidate continues its track; other faces are ignored.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading
import warnings
from dataclasses import dataclass, field

import numpy as np

from spasmcv.errors import ModelError

#: MediaPipe's 52 blendshape names, in the model's output order.
BLENDSHAPE_NAMES: tuple[str, ...] = (
    "_neutral", "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft",
    "browOuterUpRight", "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft",
    "eyeBlinkRight", "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft", "mouthSmileRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight",
)
N_LANDMARKS = 478


@dataclass(frozen=True)
class TrackerSettings:
    """Settings of the landmark stage (all recorded in every trace's provenance).

    Attributes
    ----------
    num_faces : int
        Faces MediaPipe may return per frame (>= 2 disables its temporal smoothing).
    min_face_detection_confidence, min_face_presence_confidence, min_tracking_confidence : float
        MediaPipe's thresholds (0-1).
    max_side_px : int or None
        Frames whose longer side exceeds this are downscaled before the model (pixel
        measurements are still reported in full-resolution display pixels).
    find_small_faces : bool
        When the first frames show no face, search the frame in tiles for a face too small for
        the model to find in the whole picture, and measure in the region around it
        (:mod:`spasmcv.measure.region`).
    """

    num_faces: int = 2
    min_face_detection_confidence: float = 0.5
    min_face_presence_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    max_side_px: int | None = 1920
    find_small_faces: bool = True


@dataclass(frozen=True)
class FaceObservation:
    """The subject's face in one frame.

    Attributes
    ----------
    landmarks_px : ndarray, shape (478, 3)
        x, y in display pixels (origin top-left, y down); z is MediaPipe's relative depth
        scaled like x (pixels), smaller = closer to the camera.
    blendshapes : ndarray, shape (52,)
        Scores 0-1 in :data:`BLENDSHAPE_NAMES` order (MediaPipe's own left/right naming).
    transform : ndarray, shape (4, 4)
        Facial transformation matrix (canonical face model to camera space, cm).
    n_faces : int
        Faces MediaPipe returned in this frame (the subject included).
    track : int
        Subject track number (0 first; +1 at each re-acquisition, see :class:`SubjectSelector`).
    """

    landmarks_px: np.ndarray
    blendshapes: np.ndarray
    transform: np.ndarray
    n_faces: int
    track: int = 0


@dataclass
class SubjectSelector:
    """Follow one subject among the faces found in each frame.

    The subject is the largest face when first seen. Afterwards, the candidate nearest to the
    subject's last position is taken if it lies within ``max_jump`` face sizes (plus one face
    size per second since the subject was last seen) and its size changed by less than a
    factor ``max_size_ratio``. If no candidate qualifies, the frame has no subject: another
    person is never swapped in from one frame to the next. A new subject (the largest face)
    is acquired only when the current one has been out of sight for ``reacquire_after_s``,
    or when it was a tentative track seen in fewer than ``confirm_frames`` frames (a
    spurious detection must not lock out the real face). Each acquisition starts a new
    ``track`` number, so later stages never join measurements across a change of subject.
    """

    max_jump: float = 0.5
    max_size_ratio: float = 1.5
    reacquire_after_s: float = 1.0
    confirm_frames: int = 3
    track: int = -1
    reacquisitions: int = 0
    _center: np.ndarray | None = field(default=None, repr=False)
    _size: float = 0.0
    _time_s: float = 0.0
    _frames_in_track: int = 0

    def choose(self, centers: np.ndarray, sizes: np.ndarray, time_s: float) -> int | None:
        """Index of the subject among candidates (``centers`` (n, 2) px, ``sizes`` (n,) px)."""
        if len(sizes) == 0:
            return None
        centers = np.asarray(centers, dtype=float).reshape(-1, 2)
        sizes = np.asarray(sizes, dtype=float)
        pick = None
        if self._center is not None:
            elapsed = max(time_s - self._time_s, 0.0)
            distance = np.hypot(*(centers - self._center).T)
            ratio = np.maximum(sizes / self._size, self._size / sizes)
            ok = (distance <= self._size * (self.max_jump + elapsed)) & (ratio <= self.max_size_ratio)
            if ok.any():
                pick = int(np.flatnonzero(ok)[np.argmin(distance[ok])])
            elif elapsed <= self.reacquire_after_s and self._frames_in_track >= self.confirm_frames:
                return None
        if pick is None:
            pick = int(np.argmax(sizes))
            if self.track >= 0:
                self.reacquisitions += 1
            self.track += 1
            self._frames_in_track = 0
        self._center, self._size, self._time_s = centers[pick], float(sizes[pick]), time_s
        self._frames_in_track += 1
        return pick


def short_track_mask(tracks: np.ndarray, *, min_frames: int) -> np.ndarray:
    """True for frames whose subject track has fewer than ``min_frames`` frames in all.

    Such tracks are almost always false detections (text, patterns) and are marked invalid.
    ``tracks`` is the per-frame track number, -1 where no subject was found.
    """
    tracks = np.asarray(tracks)
    out = np.zeros(tracks.shape, dtype=bool)
    ids, counts = np.unique(tracks[tracks >= 0], return_counts=True)
    for track in ids[counts < min_frames]:
        out |= tracks == track
    return out


def split_tracks(tracks: np.ndarray, shots: np.ndarray) -> np.ndarray:
    """Track numbers renumbered so that no track spans a hard cut (``shots``, per frame).

    The subject selector follows the face at the same place across a cut, though after a cut it
    may be another person (an interview cutting between two people). Each (track, shot) pair
    becomes a track of its own, numbered in order of appearance; -1 (no subject) stays -1.
    """
    tracks = np.asarray(tracks, dtype=np.int64)
    shots = np.asarray(shots, dtype=np.int64)
    out = np.full(tracks.shape, -1, dtype=np.int64)
    numbers: dict[tuple[int, int], int] = {}
    for i, (track, shot) in enumerate(zip(tracks.tolist(), shots.tolist())):
        if track >= 0:
            out[i] = numbers.setdefault((track, shot), len(numbers))
    return out


@dataclass(frozen=True)
class Detections:
    """Every face MediaPipe returned for one frame, as arrays.

    Attributes
    ----------
    landmarks : ndarray (n_faces, 478, 3)
        Normalised image coordinates (x, y in 0-1 of width/height; z in units of width).
    blendshapes : ndarray (n_faces, 52)
        Scores 0-1 in :data:`BLENDSHAPE_NAMES` order; NaN where absent.
    transforms : ndarray (n_faces, 4, 4)
        Facial transformation matrices; NaN where absent.
    """

    landmarks: np.ndarray
    blendshapes: np.ndarray
    transforms: np.ndarray

    @property
    def n_faces(self) -> int:
        return len(self.landmarks)


def detections_from_result(result) -> Detections:
    """:class:`Detections` from MediaPipe's public ``FaceLandmarkerResult`` (any version)."""
    n = len(result.face_landmarks)
    landmarks = np.full((n, N_LANDMARKS, 3), np.nan)
    blendshapes = np.full((n, len(BLENDSHAPE_NAMES)), np.nan)
    transforms = np.full((n, 4, 4), np.nan)
    for i, face in enumerate(result.face_landmarks):
        landmarks[i, :len(face)] = [(p.x, p.y, p.z) for p in face]
    for i, categories in enumerate(result.face_blendshapes or []):
        by_name = {c.category_name: c.score for c in categories}
        blendshapes[i] = [by_name.get(name, np.nan) for name in BLENDSHAPE_NAMES]
    for i, matrix in enumerate(result.facial_transformation_matrixes or []):
        transforms[i] = np.asarray(matrix, dtype=float).reshape(4, 4)
    return Detections(landmarks, blendshapes, transforms)


class _DirectResultReader:
    """Read FaceLandmarker's C result straight into arrays (MediaPipe's ctypes API, >= 0.10.2x).

    The public ``detect_for_video`` turns every landmark into a Python object (about 0.4 ms per
    frame and face, on the critical path); this calls the same C function and copies the
    result's landmark, blendshape and matrix buffers with numpy instead. The output equals
    :func:`detections_from_result` exactly (tested). :meth:`create` returns None when the
    installed MediaPipe has no such API, and the tracker then uses the public one.
    """

    def __init__(self, landmarker, module, landmark_c, category_c) -> None:
        self._lib, self._handle = landmarker._lib, landmarker._handle
        self._result_type = module.MpFaceLandmarkerResultC
        point, category = landmark_c.MpNormalizedLandmarkC, category_c.MpCategoryC
        self._point_dtype = np.dtype({"names": ["x", "y", "z"], "formats": ["<f4"] * 3,
                                      "offsets": [point.x.offset, point.y.offset, point.z.offset],
                                      "itemsize": ctypes.sizeof(point)})
        self._category_dtype = np.dtype({"names": ["index", "score"], "formats": ["<i4", "<f4"],
                                         "offsets": [category.index.offset, category.score.offset],
                                         "itemsize": ctypes.sizeof(category)})

    #: Private MediaPipe symbols the reader relies on, all checked before the first frame.
    LIBRARY_FUNCTIONS = ("MpFaceLandmarkerDetectForVideo", "MpFaceLandmarkerCloseResult")
    RESULT_FIELDS = ("face_landmarks", "face_landmarks_count", "face_blendshapes", "face_blendshapes_count",
                     "facial_transformation_matrixes", "facial_transformation_matrixes_count")

    @classmethod
    def create(cls, landmarker, mp) -> "tuple[_DirectResultReader | None, str | None]":
        """The reader, or None and the reason it cannot be used with the installed MediaPipe.

        Every private symbol it uses is checked here (library functions, result and record
        layouts, the image pointer), so a partial MediaPipe change falls back at start-up
        instead of failing mid-extraction.
        """
        try:
            from mediapipe.tasks.python.components.containers import category_c, landmark_c
            from mediapipe.tasks.python.vision import face_landmarker as module

            point, category = landmark_c.MpNormalizedLandmarkC, category_c.MpCategoryC
            lib = landmarker._lib
            missing = [name for name in cls.LIBRARY_FUNCTIONS if not hasattr(lib, name)]
            missing += [f"result.{name}" for name in cls.RESULT_FIELDS
                        if not hasattr(module.MpFaceLandmarkerResultC, name)]
            if not hasattr(landmarker, "_handle"):
                missing.append("landmarker._handle")
            probe = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.zeros((2, 2, 3), np.uint8))
            if not hasattr(probe, "_image_ptr"):
                missing.append("Image._image_ptr")
            if missing:
                return None, "MediaPipe lacks " + ", ".join(missing)
            if not all(getattr(point, f).size == 4 for f in "xyz") or category.index.size != 4 \
                    or category.score.size != 4 or not hasattr(category_c.MpCategoryC, "index"):
                return None, "MediaPipe's landmark or category record layout changed"
            return cls(landmarker, module, landmark_c, category_c), None
        except (ImportError, AttributeError) as exc:
            return None, f"MediaPipe's C result API is not available ({exc})"

    def _records(self, pointer, count: int, dtype: np.dtype) -> np.ndarray:
        if not count or not pointer:
            return np.zeros(0, dtype=dtype)
        raw = ctypes.cast(pointer, ctypes.POINTER(ctypes.c_uint8))
        return np.ctypeslib.as_array(raw, shape=(count * dtype.itemsize,)).view(dtype)

    def detect_for_video(self, image, stamp_ms: int) -> Detections:
        result = self._result_type()
        self._lib.MpFaceLandmarkerDetectForVideo(self._handle, image._image_ptr, None, stamp_ms,
                                                 ctypes.byref(result))
        try:
            n = result.face_landmarks_count
            landmarks = np.full((n, N_LANDMARKS, 3), np.nan)
            blendshapes = np.full((n, len(BLENDSHAPE_NAMES)), np.nan)
            transforms = np.full((n, 4, 4), np.nan)
            for i in range(n):
                face = result.face_landmarks[i]
                points = self._records(face.landmarks, min(face.landmarks_count, N_LANDMARKS), self._point_dtype)
                for axis, name in enumerate("xyz"):
                    landmarks[i, :len(points), axis] = points[name]
            for i in range(min(result.face_blendshapes_count, n)):
                categories = result.face_blendshapes[i]
                scores = self._records(categories.categories, categories.categories_count, self._category_dtype)
                known = (scores["index"] >= 0) & (scores["index"] < len(BLENDSHAPE_NAMES))
                blendshapes[i, scores["index"][known]] = scores["score"][known]
            for i in range(min(result.facial_transformation_matrixes_count, n)):
                transforms[i] = result.facial_transformation_matrixes[i].to_numpy().reshape(4, 4)
        finally:
            self._lib.MpFaceLandmarkerCloseResult(ctypes.byref(result))
        return Detections(landmarks, blendshapes, transforms)


def face_center_and_size(landmarks_px: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre (x, y) and size (bounding-box diagonal) of one face's landmarks, in pixels."""
    xy = landmarks_px[:, :2]
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return (lo + hi) / 2, float(np.hypot(*(hi - lo)))


#: One swap of the process's stderr at a time (threads of one process share file descriptor 2).
_STDERR_LOCK = threading.RLock()


@contextlib.contextmanager
def _native_stderr_silenced():
    """Silence C++ log lines (glog/TFLite start-up chatter) written straight to fd 2.

    MediaPipe prints several warnings while building its graph and on the first frame that
    mean nothing to a user and that no environment variable turns off. Errors still surface
    as Python exceptions.
    """
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, OSError):  # no real stderr (e.g. captured): nothing to do
        yield
        return
    with _STDERR_LOCK:
        sys.stderr.flush()
        saved = os.dup(fd)
        try:
            with open(os.devnull, "w") as devnull:
                os.dup2(devnull.fileno(), fd)
                yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)


_FALLBACK_WARNED: set = set()


def _warn_fallback_once(reason: str) -> None:
    """Warn (once per process and reason) that landmarks go through MediaPipe's slower public API."""
    if reason not in _FALLBACK_WARNED:
        _FALLBACK_WARNED.add(reason)
        warnings.warn(f"spasmcv reads landmarks through MediaPipe's public API (same results, about 0.4 ms "
                      f"per frame slower): {reason}", RuntimeWarning, stacklevel=3)


class _Landmarker:
    """A MediaPipe FaceLandmarker graph held by a context manager (the two classes below)."""

    _landmarker = None

    def _load(self, model_path, model_data: bytes | None, running_mode: str, **options) -> None:
        import mediapipe as mp  # imported here: the only place spasmcv touches mediapipe
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        settings = vision.FaceLandmarkerOptions(
            base_options=(BaseOptions(model_asset_buffer=model_data) if model_data is not None
                          else BaseOptions(model_asset_path=str(model_path))),
            running_mode=getattr(vision.RunningMode, running_mode), **options)
        try:
            with _native_stderr_silenced():
                self._landmarker = vision.FaceLandmarker.create_from_options(settings)
        except (RuntimeError, ValueError) as exc:
            raise ModelError(f"{model_path}: MediaPipe could not load this model ({exc})") from exc

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Release the MediaPipe graph (idempotent)."""
        if self._landmarker is not None:
            self._landmarker.close()
            self._landmarker = None


class FaceFinder(_Landmarker):
    """MediaPipe FaceLandmarker in IMAGE mode, for still pictures: ``finder(rgb)`` gives the
    bounding boxes ``(k, 4)`` (x0, y0, x1, y1, in the picture's pixels) of the faces in one RGB
    picture (at most ``num_faces``). Used to search a large picture in tiles
    (:mod:`spasmcv.measure.region`); a context manager."""

    def __init__(self, model_path: str | os.PathLike, *, num_faces: int = 2, model_data: bytes | None = None):
        self._load(model_path, model_data, "IMAGE", num_faces=num_faces)

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        boxes = [(xs.min(), ys.min(), xs.max(), ys.max()) for xs, ys in self._faces(rgb)]
        return np.array(boxes, dtype=float).reshape(-1, 4)

    def eye_line_angles(self, rgb: np.ndarray) -> np.ndarray:
        """For each face in one RGB picture, the direction (degrees, -180 to 180, clockwise on
        screen) from its right eye's outer corner to its left eye's: about 0 for an upright face
        seen from the front, 90 for one lying with its forehead to the right, 180 upside down."""
        return np.array([np.degrees(np.arctan2(ys[_LEFT_OUTER_CORNER] - ys[_RIGHT_OUTER_CORNER],
                                               xs[_LEFT_OUTER_CORNER] - xs[_RIGHT_OUTER_CORNER]))
                         for xs, ys in self._faces(rgb)], dtype=float)

    def _faces(self, rgb: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Each face's landmark x and y in the picture's pixels."""
        height, width = rgb.shape[:2]
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
        return [(np.array([p.x for p in face]) * width, np.array([p.y for p in face]) * height)
                for face in self._landmarker.detect(image).face_landmarks]


#: The outer eye corners in MediaPipe's face mesh (the person's right eye, then left; as
#: :data:`spasmcv.measure.eyelid.PATIENT_EYES`, which imports this module).
_RIGHT_OUTER_CORNER, _LEFT_OUTER_CORNER = 33, 263


class FaceTracker(_Landmarker):
    """MediaPipe FaceLandmarker in VIDEO mode; use as a context manager.

    Parameters
    ----------
    model_path : path
        The ``face_landmarker.task`` bundle (see :func:`spasmcv.measure.model.resolve_model`).
    settings : TrackerSettings
    model_data : bytes, optional
        The bundle's bytes, already read (batch workers read the model once and build a
        fresh graph per video from memory, about 20 ms).
    direct_results : bool
        Read MediaPipe's C result into arrays directly when the installed version allows it
        (:class:`_DirectResultReader`; identical output, less time per frame); False always
        goes through the public Python API. When the installed MediaPipe does not allow it,
        ``fallback_reason`` says why (warned once, and recorded in the trace's provenance).

    Examples
    --------
    >>> with FaceTracker(model.path) as tracker:              # doctest: +SKIP
    ...     for frame in iter_frames("visit.mp4"):
    ...         face = tracker.process(frame.rgb, frame.time_s, display_size=(w, h))
    """

    def __init__(self, model_path: str | os.PathLike, settings: TrackerSettings = TrackerSettings(), *,
                 model_data: bytes | None = None, direct_results: bool = True):
        self.settings = settings
        self._load(model_path, model_data, "VIDEO",
                   num_faces=settings.num_faces,
                   min_face_detection_confidence=settings.min_face_detection_confidence,
                   min_face_presence_confidence=settings.min_face_presence_confidence,
                   min_tracking_confidence=settings.min_tracking_confidence,
                   output_face_blendshapes=True,
                   output_facial_transformation_matrixes=True)
        self._direct, self.fallback_reason = (_DirectResultReader.create(self._landmarker, self._mp)
                                              if direct_results else (None, None))
        if self.fallback_reason:
            _warn_fallback_once(self.fallback_reason)
        self._last_ms = -1
        self._first_frame = True
        self.selector = SubjectSelector()

    def model_input(self, rgb: np.ndarray):
        """Wrap an RGB frame for the model (MediaPipe copies it); safe to call from another thread.

        Extraction does this in the decoding thread, so the copy overlaps the previous frame's
        inference.
        """
        return self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=rgb)

    def process(self, rgb, time_s: float, *, display_size: tuple[float, float],
                origin: tuple[float, float] = (0.0, 0.0)) -> FaceObservation | None:
        """Track faces in one RGB frame and return the subject's, or None.

        Parameters
        ----------
        rgb : ndarray (h, w, 3) uint8, C-contiguous, or the result of :meth:`model_input`
        time_s : float
            The frame's presentation time in seconds (must increase).
        display_size : (width, height)
            Full-resolution display size in pixels of the picture given, to which landmarks are
            scaled.
        origin : (x, y)
            Where that picture's top-left corner lies in the full display picture, in display
            pixels (a crop of it, :class:`spasmcv.measure.region.FaceRegion`); landmarks are
            reported in the full picture.
        """
        # MediaPipe demands strictly increasing integer milliseconds.
        stamp_ms = max(int(round(time_s * 1000.0)), self._last_ms + 1)
        self._last_ms = stamp_ms
        image = self.model_input(rgb) if isinstance(rgb, np.ndarray) else rgb
        if self._first_frame:  # the TFLite interpreters start up (and log) on the first frame
            with _native_stderr_silenced():
                found = self.detect(image, stamp_ms)
            self._first_frame = False
        else:
            found = self.detect(image, stamp_ms)
        if not found.n_faces:
            self.selector.choose(np.empty((0, 2)), np.empty(0), time_s)
            return None
        width, height = display_size
        faces_px = found.landmarks * np.array([width, height, width], dtype=float) + np.array([*origin, 0.0])
        boxes = [face_center_and_size(face) for face in faces_px]
        pick = self.selector.choose(np.array([b[0] for b in boxes]), np.array([b[1] for b in boxes]), time_s)
        if pick is None:
            return None
        return FaceObservation(landmarks_px=faces_px[pick], blendshapes=found.blendshapes[pick],
                               transform=found.transforms[pick], n_faces=found.n_faces,
                               track=self.selector.track)

    def detect(self, image, stamp_ms: int) -> Detections:
        """Every face in one model input (:meth:`model_input`) at ``stamp_ms`` (increasing)."""
        if self._direct is not None:
            return self._direct.detect_for_video(image, stamp_ms)
        return detections_from_result(self._landmarker.detect_for_video(image, stamp_ms))
