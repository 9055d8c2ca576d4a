"""Spasms and flutter spliced into real faces: a person's own closed eyes pasted over real frames.

The renderer's faces are drawn; this second kind of ground truth keeps a real face, real skin,
real head motion and real compression, and only replaces the eye regions during known
intervals with the same person's eye regions from one of their own labelled blinks. A held
closure (a spasm) repeats the donor blink's apex; a flutter burst goes back and forth between
the apex and a partly reopened frame of the donor's reopening. Each eye region is moved onto the
target frame by the similarity that maps the donor's eye corners onto the target's, and blended
in with a feathered ellipse.

The core here works on arrays; ``scripts/splice_spasms.py`` reads the videos, tracks the
landmarks, writes the spliced videos and scores what spasmcv reports against the splices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Half-axes of the pasted region, along and across the line between the eye's corners, as
#: multiples of the corner-to-corner distance: the lids, the lid fold and a margin of skin,
#: not the brow.
REGION_HALF_AXES = (0.85, 0.6)
#: Width of the feathered edge (Gaussian sigma), as a multiple of the corner-to-corner distance.
FEATHER = 0.12


@dataclass(frozen=True)
class DonorBlink:
    """A labelled complete blink of the same person whose frames are pasted: ``start`` is the
    last open frame, ``apex`` the most closed, ``end`` the first frame back open (labels'
    convention); ``half_open`` the first reopening frame whose lid is at most half closed,
    ``partly_open`` (when known) the first whose lid is reopened by about a third, not half."""

    start: int
    apex: int
    end: int
    half_open: int
    partly_open: int | None = None


@dataclass(frozen=True)
class Splice:
    """One spliced closure or burst, in the labels' convention: ``start`` is the last original
    frame before the pasted frames, ``end`` the first original frame after them; ``donor_frames``
    are the donor frames pasted into ``start + 1 .. end - 1``, in order."""

    eye: str            # "left", "right" or "both" (the patient's side)
    kind: str           # "spasm" (one held closure), "flutter" (several closures in a burst) or
                        # "partial flutter" (a burst whose reopenings stop short of half way)
    start: int
    end: int
    closures: int
    donor_frames: tuple[int, ...]

    @property
    def frames(self) -> range:
        return range(self.start + 1, self.end)


def donor_frames(donor: DonorBlink, *, hold_frames: int, closures: int = 1,
                 reopen_to: int | None = None) -> tuple[int, ...]:
    """The donor frames to paste for a closure held ``hold_frames`` at the apex (``closures`` 1)
    or for a burst of ``closures`` closures whose reopenings stop at the donor's frame
    ``reopen_to`` (default its half-open frame) and close again, each held ``hold_frames``: the
    donor's closing, then the apex and partial reopenings, then the donor's reopening."""
    if hold_frames < 1 or closures < 1:
        raise ValueError("hold_frames and closures must be at least 1")
    closing = list(range(donor.start + 1, donor.apex))
    reopen_part = list(range(donor.apex + 1, (donor.half_open if reopen_to is None else reopen_to) + 1))
    middle: list[int] = []
    for k in range(closures):
        middle += [donor.apex] * hold_frames
        if k < closures - 1:
            middle += reopen_part + reopen_part[-2::-1]
    reopening = list(range(donor.apex + 1, donor.end))
    return tuple(closing + middle + reopening)


def similarity_from_corners(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, shift) that maps the two points ``src``
    (2, 2: outer and inner corner, x y pixels) onto ``dst``."""
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    vs, vd = src[1] - src[0], dst[1] - dst[0]
    zs, zd = complex(*vs), complex(*vd)
    if abs(zs) == 0:
        raise ValueError("the source corners coincide")
    z = zd / zs
    a, b = z.real, z.imag
    rot = np.array([[a, -b], [b, a]])
    shift = dst[0] - rot @ src[0]
    return np.hstack([rot, shift[:, None]])


def eye_mask(shape: tuple[int, int], corners: np.ndarray) -> np.ndarray:
    """Feathered weights 0-1 (float32, ``shape`` h x w) of the eye region whose corners are
    ``corners`` (2, 2, pixels): an ellipse of :data:`REGION_HALF_AXES`, edge :data:`FEATHER`."""
    import cv2

    corners = np.asarray(corners, float)
    centre = corners.mean(axis=0)
    width = float(np.linalg.norm(corners[1] - corners[0]))
    angle = float(np.degrees(np.arctan2(*(corners[1] - corners[0])[::-1])))
    mask = np.zeros(shape, np.float32)
    axes = (max(1, int(round(REGION_HALF_AXES[0] * width))), max(1, int(round(REGION_HALF_AXES[1] * width))))
    cv2.ellipse(mask, (int(round(centre[0])), int(round(centre[1]))), axes, angle, 0, 360, 1.0, -1)
    sigma = max(0.5, FEATHER * width)
    return cv2.GaussianBlur(mask, (0, 0), sigma)


def paste_eye(target: np.ndarray, donor: np.ndarray, donor_corners: np.ndarray,
              target_corners: np.ndarray) -> np.ndarray:
    """``target`` (h, w, 3 uint8) with the donor frame's eye region moved onto its eye: the
    donor is warped by the similarity between the corners and blended with :func:`eye_mask`.
    The region's mean colour is matched to the target's (lighting changes over a recording)."""
    import cv2

    h, w = target.shape[:2]
    matrix = similarity_from_corners(donor_corners, target_corners)
    warped = cv2.warpAffine(donor, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    mask = eye_mask((h, w), target_corners)
    inside = mask > 0.5
    out = warped.astype(np.float32)
    if inside.any():
        out += target[inside].mean(axis=0) - warped[inside].mean(axis=0)
    blended = target.astype(np.float32) * (1 - mask[..., None]) + out * mask[..., None]
    return np.clip(np.rint(blended), 0, 255).astype(np.uint8)


def schedule_splices(n_frames: int, busy: list[tuple[int, int]], plan: list[tuple[str, str, int, int]],
                     donor: DonorBlink, *, fps: float, margin_s: float = 0.25, gap_s: float = 1.0) -> list[Splice]:
    """Place the ``plan`` (eye, kind, hold frames, closures) in frames ``0..n_frames-1``, each
    item at the first place where its frames keep ``margin_s`` away from every ``busy`` interval
    (labelled blinks, excluded frames, frames without a face) and ``gap_s`` away from the items
    placed before it. Items that fit nowhere are left out (a short clip takes what fits); the
    splices are returned in frame order."""
    margin, gap = int(round(margin_s * fps)), int(round(gap_s * fps))
    blocked = np.zeros(n_frames, bool)
    for a, b in busy:
        lo, hi = max(0, a - margin), min(n_frames, b + margin + 1)
        if lo < hi:
            blocked[lo:hi] = True
    splices = []
    for eye, kind, hold, closures in plan:
        if kind == "partial flutter" and donor.partly_open is None:
            continue
        frames = donor_frames(donor, hold_frames=hold, closures=closures,
                              reopen_to=donor.partly_open if kind == "partial flutter" else None)
        length = len(frames) + 2
        free = np.convolve(~blocked, np.ones(length, int), mode="valid") == length  # free[k]: k..k+length-1
        if not free.any():
            continue
        start = int(np.argmax(free))
        splices.append(Splice(eye, kind, start, start + length - 1, closures, frames))
        blocked[max(0, start - gap):min(n_frames, start + length + gap)] = True
    return sorted(splices, key=lambda s: s.start)
