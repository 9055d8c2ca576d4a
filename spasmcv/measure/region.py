"""The face region: where to look for a face that is small in a large picture.

MediaPipe's face detector finds faces that fill a good part of the picture (it looks at a
downscaled copy of the whole frame). A face of about 120 px in a 1920x1080 frame, someone filmed
from across a room or a webcam bubble in a screen recording, is not found at all, and every frame
would be "no face". When the first frames of a video show no face, extraction searches sample
frames of the whole video in overlapping square tiles (half the frame's shorter side, half a tile
apart), where such a face is large enough to be found; if the whole picture shows a face in none
of them and tiles show one in several, every frame is cropped to the region around the faces
found (not a still picture of a face), with a margin, before the landmark model sees it.
Landmarks are still reported in the full picture's display pixels. The region is fixed for the
whole video (recorded in the trace's provenance), so pixel measures keep their scale; a face that
later leaves the region is lost (no face), as it would be at the picture's edge. A face seen at
first and then missing in most of the frames (a title with a large face, then a small webcam
inset) is searched for the same way in sample frames of those frames; the video is tracked again
in the region found, and that pass's results are kept for the frames where the whole picture
showed no face. Every crop of a box (the region, a place's pixel change, the eye region of
:func:`spasmcv.measure.eyelid.eye_region_grey_spread`) takes its pixels by :func:`pixel_box`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

#: Tile side as a fraction of the frame's shorter side (tiles overlap by half a side).
TILE_FRACTION = 0.5
#: Margin around the union of the faces found, in face sizes (their largest side) on each side.
MARGIN_FACES = 1.0
#: Sample frames searched (spread evenly over the video).
SAMPLE_FRAMES = 16
#: A trace's ``face_region["found_in"]`` when the face was found in tiles in the frames where the
#: whole picture showed none, and tracked in a second pass (else ``"the first frames"``).
FOUND_IN_FACELESS_FRAMES = "the frames without a face"
#: Tiles must show a face in at least this many sample frames (and a quarter of them).
MIN_SAMPLES_WITH_FACE = 2
#: A place whose pixels change by less than this between the sample frames that show it (median
#: over consecutive pairs of the mean absolute grey-level difference, 0-255) is a still picture of a
#: face, never the subject. On the real clips searched in tiles: a paused still beside a webcam inset
#: 0.12, living faces 17-36 (the least-changing pair 7.8).
STILL_GREY_LEVELS = 2.0


@dataclass(frozen=True)
class FaceRegion:
    """A rectangle of the display picture, in display pixels (x to the right, y down; ``x1``,
    ``y1`` exclusive)."""

    x0: int
    y0: int
    x1: int
    y1: int

    def as_dict(self) -> dict:
        return asdict(self)

    def crop(self, rgb: np.ndarray, scale: float) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
        """This region of a frame given to the model (``scale``: model pixels per display pixel,
        :attr:`~spasmcv.measure.video.Frame.scale`). Returns the C-contiguous crop, its origin and
        its size in display pixels (what the tracker needs to place landmarks in the full picture)."""
        height, width = rgb.shape[:2]
        x0, y0 = int(round(self.x0 * scale)), int(round(self.y0 * scale))
        x1, y1 = min(width, int(round(self.x1 * scale))), min(height, int(round(self.y1 * scale)))
        crop = np.ascontiguousarray(rgb[y0:y1, x0:x1])
        return crop, (x0 / scale, y0 / scale), ((x1 - x0) / scale, (y1 - y0) / scale)


def pixel_box(x0: float, y0: float, x1: float, y1: float, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The whole pixels a box covers in a ``width`` x ``height`` picture: its edges rounded outward
    and clipped to the picture; None when no pixel of it lies in the picture."""
    x0, y0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
    x1, y1 = min(width, int(np.ceil(x1))), min(height, int(np.ceil(y1)))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def model_view(rgb: np.ndarray, scale: float, region: FaceRegion | None,
               display: tuple[float, float]) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
    """What the landmark model is given of a frame: the region (:meth:`FaceRegion.crop`), or the
    whole picture when there is none (origin 0, 0, size ``display``, display pixels)."""
    return (rgb, (0.0, 0.0), display) if region is None else region.crop(rgb, scale)


def tile_windows(width: int, height: int, fraction: float = TILE_FRACTION) -> list[tuple[int, int, int]]:
    """Overlapping square tiles ``(x, y, side)`` covering a ``width`` x ``height`` picture: side
    ``fraction`` of the shorter side, half a side apart, the last row and column flush with the
    picture's edges."""
    side = max(1, int(min(width, height) * fraction))
    step = max(1, side // 2)

    def starts(extent: int) -> list[int]:
        out = list(range(0, max(extent - side, 0) + 1, step))
        if out[-1] + side < extent:
            out.append(extent - side)
        return out

    return [(x, y, side) for y in starts(height) for x in starts(width)]


def region_from_boxes(boxes: np.ndarray, width: int, height: int, margin: float = MARGIN_FACES) -> FaceRegion:
    """The region around face boxes ``(k, 4)`` (x0, y0, x1, y1, display pixels): their union
    widened by ``margin`` times the largest face's larger side on every side, within the picture."""
    boxes = np.asarray(boxes, dtype=float)
    size = float(np.max(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))
    pad = margin * size
    return FaceRegion(*pixel_box(boxes[:, 0].min() - pad, boxes[:, 1].min() - pad, boxes[:, 2].max() + pad,
                                 boxes[:, 3].max() + pad, width, height))


def search_face_region(frames: Sequence[np.ndarray], find_faces: Callable[[np.ndarray], np.ndarray], *,
                       scale: float = 1.0) -> FaceRegion | None:
    """The face region of a video from sample frames, or None when it needs none.

    Parameters
    ----------
    frames : RGB frames as given to the model (``scale`` model pixels per display pixel)
    find_faces : callable
        One RGB image -> face boxes ``(k, 4)`` (x0, y0, x1, y1) in that image's pixels.

    Returns None when the whole picture shows a face in any of the frames (the model finds
    faces of this size without help: a face that enters later, `noface_face`) or when tiles show
    a face in fewer than :data:`MIN_SAMPLES_WITH_FACE` frames and a quarter of them (a one-off
    false find); else the region around the faces the tiles found, in display pixels. Where
    they found faces in two places or more (:func:`face_places`), only the subject's place
    counts: the one seen in the most frames, and of those the one that moves most between
    frames. A still picture of a face (on a screen or a wall: :func:`pixel_change` under
    :data:`STILL_GREY_LEVELS`) is never the subject; when it is the only face the tiles find,
    there is no region (its eyes would read open in every frame).
    """
    if not frames or any(len(find_faces(rgb)) for rgb in frames):
        return None
    found, sample_of = [], []
    for k, rgb in enumerate(frames):
        height, width = rgb.shape[:2]
        boxes = [np.asarray(box, dtype=float) + [x, y, x, y]
                 for x, y, side in tile_windows(width, height)
                 for box in find_faces(np.ascontiguousarray(rgb[y:y + side, x:x + side]))]
        found += boxes
        sample_of += [k] * len(boxes)
    if len(set(sample_of)) < max(MIN_SAMPLES_WITH_FACE, len(frames) / 4):
        return None
    height, width = frames[0].shape[:2]
    boxes, sample_of = np.array(found) / scale, np.array(sample_of)
    places = face_places(boxes)

    def rank(place):
        in_place = places == place
        centres = (boxes[in_place, :2] + boxes[in_place, 2:]) / 2
        return len(set(sample_of[in_place])), float(np.ptp(centres, axis=0).max())

    in_frame_pixels = np.array(found)
    living = [place for place in np.unique(places) if pixel_change(
        frames, in_frame_pixels[places == place], sample_of[places == place]) >= STILL_GREY_LEVELS]
    if not living:
        return None
    subject = max(living, key=rank)
    if len(set(sample_of[places == subject])) < max(MIN_SAMPLES_WITH_FACE, len(frames) / 4):
        return None
    return region_from_boxes(boxes[places == subject], int(round(width / scale)), int(round(height / scale)))


def pixel_change(frames: Sequence[np.ndarray], boxes: np.ndarray, sample_of: np.ndarray) -> float:
    """How much the picture changes where a place's faces were found: the median, over consecutive
    sample frames that show the place, of the mean absolute grey-level difference (0-255; grey =
    the plain mean of the three channels, enough to tell a still picture from a moving face, where
    the eye region's grey spread uses BT.601 luma) inside the union of its boxes ``(k, 4)`` (in
    the frames' pixels; ``sample_of``: each box's frame).
    Infinite when fewer than two frames show it or the boxes lie off the picture (nothing to
    compare)."""
    shown = sorted(set(np.asarray(sample_of).tolist()))
    if len(shown) < 2:
        return float("inf")
    height, width = frames[0].shape[:2]
    box = pixel_box(*boxes[:, :2].min(axis=0), *boxes[:, 2:4].max(axis=0), width, height)
    if box is None:   # boxes wholly off the picture: nothing to compare
        return float("inf")
    x0, y0, x1, y1 = box
    grey = [frames[k][y0:y1, x0:x1].astype(np.float32).mean(axis=2) for k in shown]
    return float(np.median([np.mean(np.abs(a - b)) for a, b in zip(grey, grey[1:])]))


def face_places(boxes: np.ndarray) -> np.ndarray:
    """Group face boxes ``(k, 4)`` by place: boxes whose centres are within one face size (the
    larger box's larger side) of a box of the group share its number (single linkage)."""
    boxes = np.asarray(boxes, dtype=float)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    sizes = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    place = -np.ones(len(boxes), dtype=int)
    for start in range(len(boxes)):
        if place[start] >= 0:
            continue
        place[start] = start
        pending = [start]
        while pending:
            i = pending.pop()
            near = ((np.abs(centres - centres[i]).max(axis=1) <= np.maximum(sizes, sizes[i])) & (place < 0))
            place[near] = start
            pending += np.flatnonzero(near).tolist()
    return place


def sample_frames(frames, count: int, n_frames: int | None) -> list:
    """Up to ``count`` frames spread evenly over an iterable of about ``n_frames``
    :class:`~spasmcv.measure.video.Frame`, from the first to near the last (one in every
    ``n_frames // (count - 1)``; read one at a time, until ``count`` are kept; the first ``count``
    when the length is unknown)."""
    step = max(1, (n_frames or 0) // max(count - 1, 1))
    kept = []
    for frame in frames:
        if frame.index % step == 0:
            kept.append(frame)
            if len(kept) == count:
                break
    return kept


def sample_frames_among(frames, indices, count: int) -> list:
    """Up to ``count`` frames of an iterable of :class:`~spasmcv.measure.video.Frame` whose index
    is among ``indices``, spread evenly over them (the first and the last among them)."""
    indices = np.asarray(indices, dtype=int)
    if not len(indices):
        return []
    spread = np.unique(np.linspace(0, len(indices) - 1, min(count, len(indices))).round().astype(int))
    wanted = set(indices[spread].tolist())
    last = max(wanted)
    kept = []
    for frame in frames:
        if frame.index in wanted:
            kept.append(frame)
        if frame.index >= last:
            break
    return kept

