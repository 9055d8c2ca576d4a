"""Video stored turned without a rotation tag: which quarter turn shows the face upright.

Phone videos store sideways pictures and a display rotation tag, which
:func:`~spasmcv.measure.video.iter_frames` applies. When the tag is lost (some editors and
converters drop it, a screen recording of a turned phone has none) the picture reaches the model
sideways or upside down. MediaPipe follows a face lying sideways, but the quality gate does not
measure a head tilted more than 70 degrees (``head_tilted``), so nothing is measured; upside down
it finds a face in a few frames only, its mesh fitted the wrong way up, and those frames read as
eyes open and closed at random. When a recording's first measurement looks like either
(:func:`looks_turned`), sample frames are turned by each quarter turn and a turn under which
most of them show an upright face (:func:`upright_turn`) is used for the whole video, with a
warning and ``picture_turn`` in the trace (:mod:`spasmcv.measure.extract`).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from spasmcv.measure.video import turned

#: Clockwise quarter turns tried, in degrees.
TURNS = (0, 90, 180, 270)
#: A recording is looked at turned when a face is found in under this share of its frames...
FEW_FACES_SHARE = 0.5
#: ...or when the median head roll (degrees) of the frames with a face is beyond this: the quality
#: gate's limit (``QualitySettings.max_roll_deg``), so a tilted head it still measures stays as it is.
SIDEWAYS_ROLL_DEG = 70.0
#: A face is upright when its eye line is within this many degrees of horizontal.
UPRIGHT_DEG = 45.0
#: A turn is taken when an upright face is found in at least this share of the sample frames
#: turned so, and in more than twice as many as unturned.
MIN_UPRIGHT_SHARE = 0.75


def looks_turned(face_found: np.ndarray, roll_deg: np.ndarray) -> bool:
    """Whether a recording's measurement suggests a picture stored turned: a face found in under
    :data:`FEW_FACES_SHARE` of its frames, or the face's median head roll (degrees) beyond
    :data:`SIDEWAYS_ROLL_DEG`."""
    face_found = np.asarray(face_found, dtype=bool)
    if not face_found.size:
        return False
    if face_found.mean() < FEW_FACES_SHARE:
        return True
    roll = np.asarray(roll_deg, dtype=float)[face_found]
    roll = roll[np.isfinite(roll)]
    return bool(roll.size and abs(np.median(roll)) > SIDEWAYS_ROLL_DEG)


def upright_counts(pictures: Sequence[np.ndarray],
                   eye_line_angles: Callable[[np.ndarray], np.ndarray]) -> dict[int, int]:
    """For each clockwise turn in :data:`TURNS`, in how many of the pictures an upright face is
    found (``eye_line_angles``: a picture's faces' eye-line directions in degrees, e.g.
    :meth:`~spasmcv.measure.landmarks.FaceFinder.eye_line_angles`)."""
    counts = {}
    for turn in TURNS:
        counts[turn] = sum(bool(np.any(np.abs(eye_line_angles(turned(rgb, turn))) < UPRIGHT_DEG))
                           for rgb in pictures)
    return counts


def upright_turn(counts: dict[int, int], n_pictures: int) -> int:
    """The clockwise turn (degrees) that shows the face upright, from :func:`upright_counts` over
    ``n_pictures``: the turn with the most upright faces if they are in at least
    :data:`MIN_UPRIGHT_SHARE` of the pictures and more than twice as many as unturned, and no other
    turn has as many; otherwise 0 (leave the picture as it is)."""
    if n_pictures <= 0:
        return 0
    best = max(TURNS, key=lambda turn: counts.get(turn, 0))
    found = counts.get(best, 0)
    tied = sum(counts.get(turn, 0) == found for turn in TURNS) > 1
    if best == 0 or tied or found < MIN_UPRIGHT_SHARE * n_pictures or found <= 2 * counts.get(0, 0):
        return 0
    return best


def picture_turn_deg(metadata: dict) -> int:
    """The clockwise turn (degrees) a trace's extraction gave the video's picture, from its
    metadata's ``picture_turn`` (0 when there is none)."""
    return int((metadata.get("picture_turn") or {}).get("clockwise_deg", 0))
