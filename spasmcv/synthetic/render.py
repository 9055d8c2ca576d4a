"""Synthetic patient videos with exact ground truth (eyelid closure per eye and frame).

A face video is rendered from a real face photograph (``skimage.data.astronaut()``, a
public-domain NASA portrait) and a closure schedule in physical units. The pieces, in the order
data flows through them:

* :class:`Scenario` and :data:`PRESETS`: what kind of patient (healthy control, blepharospasm
  Jankovic frequency grades 1-4, left/right hemifacial spasm, one patient's visit series).
* :func:`make_schedule`: a seeded random :class:`Schedule` of :class:`ClosureEvent` s (blinks,
  incomplete blinks, prolonged closures, flutter closures grouped in :class:`ScheduledBurst` s,
  spasms) and :class:`GazeDownInterval` s. Every closure profile is a raised-cosine close, a
  hold and a raised-cosine reopening, so it starts and ends *exactly* at 0 at finite times.
* :class:`FaceRenderer`: renders one frame for given lid states. The upper lid is rendered by
  remapping the skin above the upper-lid contour down to the lid margin (a vertical remap per
  column), the lower lid likewise from below, plus a soft lash line; brow lowering, cheek raise
  and a mouth-corner twitch are smooth local displacement fields; head motion is a homography.
* :func:`ground_truth`: the JSON-ready ground-truth dictionary.
* :func:`render_video`: writes ``<stem>.mp4`` (H.264, yuv420p, single-threaded and therefore
  reproducible) and ``<stem>.json`` atomically.

Conventions
-----------
* Times are in seconds (names end in ``_s``); frame ``i`` is shown at ``i / fps``.
* ``left`` / ``right`` always mean the **patient's** side. The videos are unmirrored, so the
  patient's left eye appears on the image's right side.
* Closure is 0 for the patient's own open-eye position (including any ptosis) and 1 when the
  upper and lower lid margins meet. Looking down lowers the upper lid but is *not* closure.

Heavy libraries (cv2, scikit-image, PyAV) are imported inside the functions that need them.
Landmarks of the photograph are cached in :data:`PHOTO_LANDMARKS_PX`; they were measured with
MediaPipe FaceLandmarker (IMAGE mode) and can be re-measured with
``scripts/make_sample_videos.py --measure-landmarks``.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Mapping

import numpy as np

from spasmcv._atomic import atomic_path
from spasmcv.measure.eyelid import PATIENT_EYES

#: Version of the generator; part of every ground-truth file. Bump when output changes.
GENERATOR_VERSION = "spasmcv-synthetic 1.1"

EVENT_KINDS = ("blink", "incomplete_blink", "prolonged", "spasm", "flutter_closure")
EYES = ("left", "right", "both")

# --------------------------------------------------------------------------------------------
# Landmarks of the photograph
# --------------------------------------------------------------------------------------------

#: Landmark positions (x, y in pixels of the 512x512 ``skimage.data.astronaut()`` photo) of the
#: MediaPipe 478-point face mesh, measured once with FaceLandmarker (float16 model v1, IMAGE
#: mode). Only the points the renderer uses are kept.
PHOTO_LANDMARKS_PX: dict[int, tuple[float, float]] = {
    1: (223.53, 131.06), 7: (196.75, 101.91), 10: (226.03, 72.24), 33: (195.28, 100.58),
    46: (189.89, 92.78), 50: (190.98, 119.71), 52: (198.74, 89.73), 53: (193.40, 90.47),
    55: (216.28, 94.89), 61: (202.28, 139.17), 63: (191.59, 87.83), 65: (206.18, 90.92),
    66: (205.58, 87.77), 70: (187.90, 90.73), 105: (197.51, 86.63), 107: (215.14, 89.82),
    133: (213.59, 103.62), 144: (200.69, 103.74), 145: (204.20, 104.18), 152: (221.43, 177.42),
    153: (207.60, 104.04), 154: (210.79, 103.79), 155: (212.83, 103.79), 157: (209.69, 100.10),
    158: (206.12, 98.37), 159: (202.57, 97.82), 160: (199.18, 98.20), 161: (197.16, 99.10),
    163: (198.34, 102.89), 173: (212.35, 102.31), 234: (180.87, 109.88), 246: (196.06, 99.88),
    249: (253.74, 105.04), 263: (255.32, 103.79), 276: (261.62, 96.66), 280: (257.84, 123.17),
    282: (252.73, 92.41), 283: (258.18, 93.88), 285: (234.42, 95.54), 291: (244.49, 140.55),
    293: (260.21, 91.49), 295: (245.04, 92.68), 296: (245.92, 89.67), 300: (263.72, 94.85),
    334: (254.19, 89.56), 336: (236.01, 90.59), 362: (236.41, 104.92), 373: (249.44, 106.40),
    374: (245.89, 106.51), 380: (242.33, 106.01), 381: (239.21, 105.43), 382: (237.26, 105.13),
    384: (240.56, 101.67), 385: (244.31, 100.29), 386: (248.08, 100.20), 387: (251.45, 100.98),
    388: (253.53, 102.17), 390: (251.95, 105.85), 398: (237.79, 103.63), 454: (269.76, 114.44),
    466: (254.60, 103.06), 468: (203.47, 101.12), 469: (207.75, 101.35), 470: (203.67, 97.48),
    471: (199.23, 100.87), 472: (203.26, 104.85), 473: (246.03, 103.52), 474: (250.45, 103.64),
    475: (246.12, 99.83), 476: (241.65, 103.31), 477: (245.81, 107.21),
}


@dataclass(frozen=True)
class EyeIndices:
    """MediaPipe face-mesh indices of one eye (anatomical side = the patient's side).

    Attributes
    ----------
    upper, lower : tuple of int
        Lid contour from one corner to the other, ordered by increasing image x in an
        unmirrored image (both contours include the two corners).
    iris : tuple of int
        Iris centre followed by four iris boundary points.
    brow, cheek, mouth_corner : tuple of int or int
        Points used to place the brow, cheek and mouth-corner displacement fields.

    The eye-aspect-ratio points and the definition of sides live in :mod:`spasmcv.measure.eyelid`.
    """

    upper: tuple[int, ...]
    lower: tuple[int, ...]
    iris: tuple[int, ...]
    brow: tuple[int, ...]
    cheek: int
    mouth_corner: int


#: The patient's right eye (image left in an unmirrored video): outer corner 33, inner 133.
RIGHT_EYE = EyeIndices(
    upper=PATIENT_EYES["right"].upper_lid_contour,
    lower=PATIENT_EYES["right"].lower_lid_contour,
    iris=(468, 469, 470, 471, 472), brow=(46, 53, 52, 65, 55), cheek=50, mouth_corner=61,
)
#: The patient's left eye (image right in an unmirrored video): inner corner 362, outer 263.
LEFT_EYE = EyeIndices(
    upper=PATIENT_EYES["left"].upper_lid_contour,
    lower=PATIENT_EYES["left"].lower_lid_contour,
    iris=(473, 474, 475, 476, 477), brow=(285, 295, 282, 283, 276), cheek=280, mouth_corner=291,
)
EYE_INDICES: dict[str, EyeIndices] = {"left": LEFT_EYE, "right": RIGHT_EYE}


# --------------------------------------------------------------------------------------------
# Schedule model
# --------------------------------------------------------------------------------------------

def _raised_cosine_up(x: np.ndarray) -> np.ndarray:
    """0 at x <= 0, 1 at x >= 1, smooth raised cosine in between."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


@dataclass(frozen=True)
class ClosureEvent:
    """One closure of the lids: raised-cosine close, hold at the peak, raised-cosine reopening.

    Attributes
    ----------
    kind : str
        One of :data:`EVENT_KINDS`.
    eye : {"left", "right", "both"}
        The patient's eye(s) closing (``both``: identical closure of both eyes).
    onset_s : float
        Time the lid starts to move (closure leaves 0), s.
    closing_s, hold_s, reopening_s : float
        Durations of the closing ramp, the hold at ``peak_closure`` and the reopening ramp, s.
    peak_closure : float
        Largest closure reached (0-1).
    burst_id : int or None
        For ``flutter_closure`` events: the :class:`ScheduledBurst` they belong to.
    forceful : bool
        Orbicularis squeeze (brow lowering, cheek raise, HFS mouth twitch may accompany it).
    """

    kind: str
    eye: str
    onset_s: float
    closing_s: float
    hold_s: float
    reopening_s: float
    peak_closure: float
    burst_id: int | None = None
    forceful: bool = False

    @property
    def apex_s(self) -> float:
        """Middle of the hold at the peak (end of closing for a hold of 0), s."""
        return self.onset_s + self.closing_s + 0.5 * self.hold_s

    @property
    def offset_s(self) -> float:
        """Time the lid is back fully open (closure returns to exactly 0), s."""
        return self.onset_s + self.closing_s + self.hold_s + self.reopening_s

    @property
    def duration_s(self) -> float:
        """``offset_s - onset_s``, s."""
        return self.closing_s + self.hold_s + self.reopening_s

    def covers(self, eye: str) -> bool:
        """Whether this event closes the patient's ``eye`` ("left" or "right")."""
        return self.eye in (eye, "both")

    def closure(self, time_s: np.ndarray) -> np.ndarray:
        """Closure (0-1) at the given times (s); exactly 0 outside ``[onset_s, offset_s]``."""
        t = np.asarray(time_s, dtype=float)
        rising = _raised_cosine_up((t - self.onset_s) / self.closing_s)
        t_reopen = self.onset_s + self.closing_s + self.hold_s
        falling = 1.0 - _raised_cosine_up((t - t_reopen) / self.reopening_s)
        shape = np.where(t < t_reopen, rising, falling)
        inside = (t > self.onset_s) & (t < self.offset_s)
        return np.where(inside, self.peak_closure * shape, 0.0)

    def to_dict(self) -> dict:
        """JSON-ready description (times rounded to 0.1 ms)."""
        out = {
            "kind": self.kind, "eye": self.eye, "onset_s": _r(self.onset_s),
            "apex_s": _r(self.apex_s), "offset_s": _r(self.offset_s),
            "duration_s": _r(self.duration_s), "closing_s": _r(self.closing_s),
            "hold_s": _r(self.hold_s), "reopening_s": _r(self.reopening_s),
            "peak_closure": round(self.peak_closure, 4), "forceful": self.forceful,
        }
        if self.burst_id is not None:
            out["burst_id"] = self.burst_id
        return out


@dataclass(frozen=True)
class ScheduledBurst:
    """A burst of quick flutter closures, shorter than 1 s in total.

    Attributes
    ----------
    burst_id : int
        Identifier shared with its :class:`ClosureEvent` s.
    eye : {"left", "right", "both"}
        The patient's eye(s).
    onset_s, offset_s : float
        Onset of the first and offset of the last closure, s.
    n_closures : int
        Number of closures in the burst.
    """

    burst_id: int
    eye: str
    onset_s: float
    offset_s: float
    n_closures: int

    def to_dict(self) -> dict:
        """JSON-ready description."""
        return {"burst_id": self.burst_id, "eye": self.eye, "onset_s": _r(self.onset_s),
                "offset_s": _r(self.offset_s), "duration_s": _r(self.offset_s - self.onset_s),
                "n_closures": self.n_closures}


@dataclass(frozen=True)
class GazeDownInterval:
    """The patient looks down (e.g. reading): upper lids lower, irises move down; not closure.

    Attributes
    ----------
    onset_s, offset_s : float
        Start of the downward and end of the upward movement, s.
    ramp_s : float
        Duration of each movement (raised cosine), s.
    """

    onset_s: float
    offset_s: float
    ramp_s: float = 0.25

    def level(self, time_s: np.ndarray) -> np.ndarray:
        """Gaze-down level: 0 looking ahead, 1 fully down."""
        t = np.asarray(time_s, dtype=float)
        up = _raised_cosine_up((t - self.onset_s) / self.ramp_s)
        down = 1.0 - _raised_cosine_up((t - (self.offset_s - self.ramp_s)) / self.ramp_s)
        return np.minimum(up, down)

    def to_dict(self) -> dict:
        """JSON-ready description."""
        return {"onset_s": _r(self.onset_s), "offset_s": _r(self.offset_s),
                "ramp_s": _r(self.ramp_s)}


@dataclass(frozen=True)
class Scenario:
    """What kind of patient a synthetic video shows (rates per minute, durations in s).

    Attributes
    ----------
    name, description : str
        Identifier and one-line description.
    condition : {"control", "blepharospasm", "hemifacial_spasm"}
        Clinical condition.
    jankovic_grade_left, jankovic_grade_right : int
        Intended Jankovic frequency grade (0-4) of the patient's left and right eye.
    blink_rate_per_min : float
        Spontaneous blinks of both eyes (complete and incomplete), per minute.
    incomplete_blink_share : float
        Share of those blinks that are incomplete (peak closure 0.3-0.7).
    prolonged_rate_per_min : float
        Prolonged closures (0.5-0.95 s, no spasm), per minute.
    flutter_rate_per_min : float
        Flutter bursts (or HFS clonic twitch bursts), per minute.
    flutter_closures : tuple of int
        Range (inclusive) of closures per burst.
    spasm_rate_per_min : float
        Spasms (eyes held shut > 1 s), per minute.
    spasm_hold_s : tuple of float
        Range of the time a spasm holds the lids fully shut, s.
    affected_eye : {"both", "left", "right"}
        The eye(s) of flutter, prolonged and spasm events (blinks are always bilateral).
    gaze_down_count : int
        Number of gaze-down intervals.
    gaze_down_s : tuple of float
        Range of their durations, s.
    ptosis_left, ptosis_right : float
        Drooping of the open upper lid as a fraction of the lid's full travel (0 none).
    brow_cheek : bool
        Forceful closures lower the brow and raise the cheek on the affected side(s).
    mouth_twitch : bool
        Forceful closures pull the mouth corner of the affected side (hemifacial spasm).
    """

    name: str
    description: str
    condition: str
    jankovic_grade_left: int
    jankovic_grade_right: int
    blink_rate_per_min: float
    incomplete_blink_share: float = 0.15
    prolonged_rate_per_min: float = 0.0
    flutter_rate_per_min: float = 0.0
    flutter_closures: tuple[int, int] = (3, 6)
    spasm_rate_per_min: float = 0.0
    spasm_hold_s: tuple[float, float] = (1.2, 3.0)
    affected_eye: str = "both"
    gaze_down_count: int = 0
    gaze_down_s: tuple[float, float] = (2.5, 4.5)
    ptosis_left: float = 0.0
    ptosis_right: float = 0.0
    brow_cheek: bool = False
    mouth_twitch: bool = False

    @property
    def jankovic_grade(self) -> int:
        """Intended frequency grade of the worse eye."""
        return max(self.jankovic_grade_left, self.jankovic_grade_right)


def _hfs(side: str) -> Scenario:
    other = "right" if side == "left" else "left"
    return Scenario(
        name=f"hfs_{side}",
        description=(f"Hemifacial spasm of the patient's {side} side: clonic twitch bursts and "
                     f"tonic spasms of the {side} eye with a {side} mouth-corner twitch; the "
                     f"{other} eye only blinks normally."),
        condition="hemifacial_spasm",
        jankovic_grade_left=3 if side == "left" else 0,
        jankovic_grade_right=3 if side == "right" else 0,
        blink_rate_per_min=14.0, incomplete_blink_share=0.15, flutter_rate_per_min=5.0,
        flutter_closures=(3, 6), spasm_rate_per_min=2.5, spasm_hold_s=(1.2, 2.5),
        affected_eye=side, brow_cheek=True, mouth_twitch=True,
    )


_GRADE3 = dict(
    condition="blepharospasm", jankovic_grade_left=3, jankovic_grade_right=3,
    blink_rate_per_min=24.0, incomplete_blink_share=0.2, prolonged_rate_per_min=1.0,
    flutter_rate_per_min=3.0, spasm_rate_per_min=4.0, spasm_hold_s=(1.2, 3.5), brow_cheek=True,
)
_GRADE2 = dict(
    condition="blepharospasm", jankovic_grade_left=2, jankovic_grade_right=2,
    blink_rate_per_min=26.0, incomplete_blink_share=0.2, prolonged_rate_per_min=1.5,
    flutter_rate_per_min=4.0,
)

#: Scenario presets by name.
PRESETS: dict[str, Scenario] = {s.name: s for s in (
    Scenario(name="healthy_control",
             description="Healthy control: about 15 blinks/min, one downward glance.",
             condition="control", jankovic_grade_left=0, jankovic_grade_right=0,
             blink_rate_per_min=15.0, incomplete_blink_share=0.2, gaze_down_count=1),
    Scenario(name="bsp_grade1",
             description="Blepharospasm, Jankovic frequency 1: blinking increased (~32/min) only.",
             condition="blepharospasm", jankovic_grade_left=1, jankovic_grade_right=1,
             blink_rate_per_min=32.0, incomplete_blink_share=0.2),
    Scenario(name="bsp_grade2",
             description="Blepharospasm, Jankovic frequency 2: fluttering bursts < 1 s, no spasm.",
             **_GRADE2),
    Scenario(name="bsp_grade3",
             description=("Blepharospasm, Jankovic frequency 3: spasms > 1 s, eyes open well over "
                          "half of the time."), **_GRADE3),
    Scenario(name="bsp_grade4",
             description=("Blepharospasm, Jankovic frequency 4: long spasms, eyes closed more "
                          "than half of the time."),
             condition="blepharospasm", jankovic_grade_left=4, jankovic_grade_right=4,
             blink_rate_per_min=12.0, incomplete_blink_share=0.2, flutter_rate_per_min=2.0,
             spasm_rate_per_min=8.0, spasm_hold_s=(3.0, 8.0), brow_cheek=True),
    _hfs("left"),
    _hfs("right"),
    Scenario(name="visit1_baseline",
             description="Patient visit series 1/3, before injection (Jankovic frequency 3).",
             **_GRADE3),
    Scenario(name="visit2_week3",
             description=("Patient visit series 2/3, 3 weeks after botulinum toxin: blinking "
                          "slightly increased (grade 1), mild ptosis (left more than right), one "
                          "downward glance."),
             condition="blepharospasm", jankovic_grade_left=1, jankovic_grade_right=1,
             blink_rate_per_min=28.0, incomplete_blink_share=0.2, gaze_down_count=1,
             ptosis_left=0.25, ptosis_right=0.12),
    Scenario(name="visit3_week12",
             description="Patient visit series 3/3, 12 weeks: effect wearing off (grade 2).",
             **_GRADE2),
)}


@dataclass(frozen=True)
class Schedule:
    """A scenario realised over time: closure events and gaze-down intervals.

    Attributes
    ----------
    scenario : Scenario
        The scenario it was drawn from.
    duration_s : float
        Length of the recording, s.
    seed : int
        Seed of the random draw (see :func:`make_schedule`).
    events : tuple of ClosureEvent
        Sorted by onset; events never overlap in time.
    bursts : tuple of ScheduledBurst
        Flutter bursts, sorted by onset.
    gaze_down : tuple of GazeDownInterval
        Gaze-down intervals, sorted; no closure event overlaps one.
    """

    scenario: Scenario
    duration_s: float
    seed: int
    events: tuple[ClosureEvent, ...]
    bursts: tuple[ScheduledBurst, ...]
    gaze_down: tuple[GazeDownInterval, ...]

    def closure(self, *, time_s: np.ndarray, eye: str) -> np.ndarray:
        """Ground-truth closure (0 open .. 1 closed) of the patient's ``eye`` at ``time_s``."""
        t = np.asarray(time_s, dtype=float)
        out = np.zeros_like(t)
        for ev in self.events:
            if ev.covers(eye):
                out = np.maximum(out, ev.closure(t))
        return out

    def squeeze(self, *, time_s: np.ndarray, eye: str) -> np.ndarray:
        """Strength (0-1) of forceful orbicularis contraction of ``eye`` at ``time_s``."""
        t = np.asarray(time_s, dtype=float)
        out = np.zeros_like(t)
        for ev in self.events:
            if ev.forceful and ev.covers(eye):
                out = np.maximum(out, ev.closure(t))
        return out

    def gaze_down_level(self, *, time_s: np.ndarray) -> np.ndarray:
        """Gaze-down level (0 looking ahead, 1 fully down) at ``time_s``."""
        t = np.asarray(time_s, dtype=float)
        out = np.zeros_like(t)
        for gd in self.gaze_down:
            out = np.maximum(out, gd.level(t))
        return out


def _rngs(seed: int) -> dict[str, np.random.Generator]:
    """Independent generators for the schedule, head motion/lighting and sensor noise."""
    children = np.random.SeedSequence(seed).spawn(3)
    return {name: np.random.default_rng(child)
            for name, child in zip(("schedule", "motion", "noise"), children)}


def _r(x: float) -> float:
    """Round a time to 0.1 ms (keeps JSON readable and exact across runs)."""
    return round(float(x), 4)


_MIN_GAP_S = 0.25  # minimum open time between two episodes


def _draw_episode(kind: str, *, start_s: float, scenario: Scenario, burst_id: int,
                  rng: np.random.Generator) -> list[ClosureEvent]:
    """Draw one episode (one event, or the closures of one flutter burst) starting at start_s."""
    u = rng.uniform
    affected = scenario.affected_eye
    hfs = scenario.condition == "hemifacial_spasm"
    if kind == "blink":
        total = u(0.15, 0.38)
        closing = total * u(0.28, 0.4)
        hold = u(0.0, 0.03)
        return [ClosureEvent("blink", "both", _r(start_s), _r(closing), _r(hold),
                             _r(total - closing - hold), round(u(0.93, 1.0), 3))]
    if kind == "incomplete_blink":
        total = u(0.12, 0.28)
        closing = total * u(0.3, 0.4)
        return [ClosureEvent("incomplete_blink", "both", _r(start_s), _r(closing), 0.0,
                             _r(total - closing), round(u(0.3, 0.7), 3))]
    if kind == "prolonged":
        return [ClosureEvent("prolonged", affected, _r(start_s), _r(u(0.08, 0.12)),
                             _r(u(0.25, 0.55)), _r(u(0.18, 0.28)), round(u(0.95, 1.0), 3))]
    if kind == "spasm":
        return [ClosureEvent("spasm", affected, _r(start_s), _r(u(0.08, 0.15)),
                             _r(u(*scenario.spasm_hold_s)), _r(u(0.2, 0.4)), 1.0,
                             forceful=scenario.brow_cheek or scenario.mouth_twitch)]
    if kind == "flutter":
        n = int(rng.integers(scenario.flutter_closures[0], scenario.flutter_closures[1] + 1))
        events: list[ClosureEvent] = []
        t = start_s
        for _ in range(n):
            # closures of 0.13-0.22 s about 3.5-5 per second: as fast as real flutter, but each
            # closure and reopening lasts a few frames, so video at 25-30 fps can see it
            ev = ClosureEvent("flutter_closure", affected, _r(t), _r(u(0.05, 0.08)),
                              _r(u(0.01, 0.04)), _r(u(0.07, 0.1)), round(u(0.7, 1.0), 3),
                              burst_id=burst_id, forceful=hfs)
            if events and ev.offset_s - events[0].onset_s > 0.95:
                break  # a flutter burst lasts less than 1 s
            events.append(ev)
            t = ev.offset_s + u(0.07, 0.11)
        return events
    raise ValueError(f"unknown episode kind {kind!r}")


def _mean_episode_s(kind: str, scenario: Scenario) -> float:
    """Expected duration of one episode of ``kind``, s (for the rate bookkeeping)."""
    if kind == "spasm":
        return 0.41 + 0.5 * sum(scenario.spasm_hold_s)
    mean_n = 0.5 * sum(scenario.flutter_closures)
    return {"blink": 0.27, "incomplete_blink": 0.2, "prolonged": 0.73,
            "flutter": mean_n * 0.175 + (mean_n - 1) * 0.09}[kind]


def make_schedule(scenario: Scenario, *, duration_s: float, seed: int) -> Schedule:
    """Draw a closure schedule for ``scenario`` (deterministic given ``seed``).

    Episodes follow a renewal process: after each episode the lids stay open for at least
    0.25 s plus an exponential gap chosen so that the episode rates approach the scenario's
    rates. No episode overlaps another or a gaze-down interval, none starts before 0.5 s and
    every episode ends at least 0.5 s before the end of the recording.

    Parameters
    ----------
    scenario : Scenario
        What to simulate (see :data:`PRESETS`).
    duration_s : float
        Length of the recording, s.
    seed : int
        Seed of :class:`numpy.random.SeedSequence`.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> sched = make_schedule(PRESETS["bsp_grade2"], duration_s=30.0, seed=1)
    >>> float(sched.closure(time_s=np.array([0.0]), eye="left")[0])
    0.0
    """
    if duration_s <= 2.0:
        raise ValueError("duration_s must exceed 2 s")
    rng = _rngs(seed)["schedule"]

    gaze: list[GazeDownInterval] = []
    for _ in range(scenario.gaze_down_count):
        for _attempt in range(100):
            length = rng.uniform(*scenario.gaze_down_s)
            if duration_s - length - 4.0 <= 2.0:
                break
            onset = _r(rng.uniform(2.0, duration_s - length - 2.0))
            cand = GazeDownInterval(onset, _r(onset + length))
            if all(cand.offset_s + 1.0 < g.onset_s or g.offset_s + 1.0 < cand.onset_s
                   for g in gaze):
                gaze.append(cand)
                break
    gaze.sort(key=lambda g: g.onset_s)

    rates = {
        "blink": scenario.blink_rate_per_min * (1.0 - scenario.incomplete_blink_share),
        "incomplete_blink": scenario.blink_rate_per_min * scenario.incomplete_blink_share,
        "prolonged": scenario.prolonged_rate_per_min,
        "flutter": scenario.flutter_rate_per_min,
        "spasm": scenario.spasm_rate_per_min,
    }
    kinds = [k for k, r in rates.items() if r > 0]
    events: list[ClosureEvent] = []
    bursts: list[ScheduledBurst] = []
    if kinds:
        total_rate = sum(rates[k] for k in kinds)
        probs = np.array([rates[k] for k in kinds]) / total_rate
        mean_episode = sum(p * _mean_episode_s(k, scenario) for k, p in zip(kinds, probs))
        mean_gap = max(60.0 / total_rate - mean_episode - _MIN_GAP_S, 0.05)
        t = rng.uniform(0.5, 0.5 + min(mean_gap, 3.0))
        while True:
            kind = kinds[int(rng.choice(len(kinds), p=probs))]
            episode = _draw_episode(kind, start_s=t, scenario=scenario, burst_id=len(bursts),
                                    rng=rng)
            start, end = episode[0].onset_s, episode[-1].offset_s
            if end > duration_s - 0.5:
                break
            blocking = [g for g in gaze
                        if start < g.offset_s + _MIN_GAP_S and g.onset_s - _MIN_GAP_S < end]
            if blocking:
                t = blocking[-1].offset_s + _MIN_GAP_S + rng.exponential(mean_gap)
                continue
            events.extend(episode)
            if kind == "flutter":
                bursts.append(ScheduledBurst(len(bursts), episode[0].eye, start, end,
                                           len(episode)))
            t = end + _MIN_GAP_S + rng.exponential(mean_gap)
    return Schedule(scenario=scenario, duration_s=float(duration_s), seed=int(seed),
                    events=tuple(events), bursts=tuple(bursts), gaze_down=tuple(gaze))


# --------------------------------------------------------------------------------------------
# Renderer
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LidState:
    """What one eye does in one frame.

    Attributes
    ----------
    closure : float
        Ground-truth closure (0 open .. 1 closed).
    ptosis : float
        Drooping of the open upper lid, fraction of the full lid travel.
    gaze_down : float
        Gaze-down level (0 ahead .. 1 down): lowers the upper lid and moves the iris down.
    squeeze : float
        Forceful contraction (0-1): brow lowering and cheek raise if enabled.
    mouth : float
        Mouth-corner twitch on this side (0-1).
    """

    closure: float = 0.0
    ptosis: float = 0.0
    gaze_down: float = 0.0
    squeeze: float = 0.0
    mouth: float = 0.0

    @property
    def upper_drop(self) -> float:
        """Upper-lid position: 0 at the photo's open margin, 1 at the closed meeting line."""
        return 1.0 - (1.0 - self.ptosis) * (1.0 - _GAZE_LID_DROP * self.gaze_down) * (
            1.0 - self.closure)

    @property
    def lower_rise(self) -> float:
        """Lower-lid position: 0 open, 1 at the meeting line, negative when it drops."""
        return self.closure - _GAZE_LOWER_LID_DROP * self.gaze_down * (1.0 - self.closure)


@dataclass(frozen=True)
class HeadPose:
    """Head pose relative to the rest position (output pixels and degrees).

    Attributes
    ----------
    dx_px, dy_px : float
        Translation of the face centre, output pixels.
    roll_deg, yaw_deg, pitch_deg : float
        Rotations; yaw and pitch turn the (planar) face with perspective.
    scale : float
        Relative size (1 = rest).
    """

    dx_px: float = 0.0
    dy_px: float = 0.0
    roll_deg: float = 0.0
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    scale: float = 1.0


# Lid model constants (fractions of the local aperture or the eye width).
_MEET = 0.72              # closed lids meet at this fraction of the way down the aperture
_GAZE_LID_DROP = 0.60     # upper-lid drop when looking fully down (fraction of full travel)
_GAZE_LOWER_LID_DROP = 0.12
_GAZE_IRIS_SHIFT = 0.38   # iris moves down by this fraction of the central aperture
_UPPER_SKIN = 0.65        # height of skin above the lid that stretches, fraction of eye width
_LOWER_SKIN = 0.40
_UPPER_MARGIN_RAISE = 0.04  # visible lid margin above the landmark contour, fraction of width
# A lowered real upper lid shows a dark lash fringe at its margin and shades the narrowed
# opening below it (docs/lid-reading.md: real partly closed eyes are dark slits). Rendered
# without them (synthetic 1.0: a faint lash line over a fully lit eyeball), a lid half closed
# read about 0.25 on the face mesh where a real one reads about 0.5.
_LASH_RAMP = 4.0          # the fringe is fully dark once the lid is lowered by 1/4 of its travel
_LASH_DARK = 1.0          # darkening at the fringe's centre (1 = black)
_LID_SHADOW = 0.5         # darkening of the opening just under a lowered lid ...
_LID_SHADOW_DEPTH = 0.3   # ... fading over this fraction of the eye width


class FaceRenderer:
    """Renders frames of the photographed face with given lid states and head pose.

    The photograph is cropped around the face, extended by a blurred border, upscaled to a
    working canvas (``supersample`` times the output scale), edited per frame in a face
    region only, and projected into the output frame with a homography.

    Parameters
    ----------
    width, height : int
        Output frame size, pixels.
    face_height_fraction : float
        Forehead (landmark 10) to chin (152) distance as a fraction of the frame height.
    supersample : float
        Canvas resolution relative to the output (lids are rendered on the canvas).
    landmarks_px : mapping of int to (x, y), optional
        Photo landmarks; :data:`PHOTO_LANDMARKS_PX` by default.
    """

    def __init__(self, *, width: int, height: int, face_height_fraction: float = 0.40,
                 supersample: float = 1.5,
                 landmarks_px: Mapping[int, tuple[float, float]] | None = None) -> None:
        import cv2
        from skimage import data as skdata

        self.width, self.height = int(width), int(height)
        lm = {int(k): np.asarray(v, dtype=float)
              for k, v in (landmarks_px or PHOTO_LANDMARKS_PX).items()}
        photo = np.ascontiguousarray(skdata.astronaut())  # RGB uint8, 512x512
        face_h_photo = float(np.linalg.norm(lm[10] - lm[152]))
        self.scale = face_height_fraction * self.height / face_h_photo  # output px / photo px
        self.upscale = self.scale * supersample  # canvas px / photo px
        centre = 0.5 * (lm[10] + lm[152])

        # Photo region to keep: the frame plus a margin for head motion.
        half = np.array([self.width, self.height]) / (2.0 * self.scale) * 1.35 + 12.0
        x0, y0 = np.floor(centre - half).astype(int)
        x1, y1 = np.ceil(centre + half).astype(int)
        pad = int(max(0, -x0, -y0, x1 - photo.shape[1], y1 - photo.shape[0])) + 16
        ext = _extend_border(photo, pad=pad)
        region = ext[y0 + pad:y1 + pad, x0 + pad:x1 + pad]
        size = (int(round((x1 - x0) * self.upscale)), int(round((y1 - y0) * self.upscale)))
        canvas = cv2.resize(region, size, interpolation=cv2.INTER_CUBIC)
        self._canvas = canvas
        self._work = canvas.copy()
        kx = size[0] / (x1 - x0)
        ky = size[1] / (y1 - y0)
        self._to_canvas = lambda p: np.array([(p[0] - x0) * kx, (p[1] - y0) * ky])
        self._lm = {k: self._to_canvas(v) for k, v in lm.items()}
        self._centre_canvas = self._to_canvas(centre)
        self._build_face_region()

    # -- geometry -------------------------------------------------------------------------
    def _build_face_region(self) -> None:
        lm = self._lm
        self._eyes = {}
        xs_all, ys_all = [], []
        for side, idx in EYE_INDICES.items():
            up = np.array([lm[i] for i in idx.upper])
            lo = np.array([lm[i] for i in idx.lower])
            width = float(np.linalg.norm(up[0] - up[-1]))
            x_lo, x_hi = float(up[0, 0]), float(up[-1, 0])
            grid = np.arange(math.floor(x_lo) - 2, math.ceil(x_hi) + 3, dtype=float)
            yu = _smooth_contour(grid, up[:, 0], up[:, 1])
            yl = _smooth_contour(grid, lo[:, 0], lo[:, 1])
            # The visible margin (lash line) sits a little above the landmark contour.
            aperture = np.maximum(yl - yu, 0.0)
            yu = yu - _UPPER_MARGIN_RAISE * width * np.sqrt(aperture / max(aperture.max(), 1e-6))
            iris = np.array([lm[i] for i in idx.iris])
            self._eyes[side] = dict(grid=grid, yu=yu, yl=yl, width=width,
                                    aperture_max=float((yl - yu).max()), iris=iris)
            xs_all += [x_lo - 0.4 * width, x_hi + 0.4 * width]
            ys_all += [float(yu.min()) - (_UPPER_SKIN + 0.7) * width,
                       float(yl.max()) + (_LOWER_SKIN + 0.8) * width]
            mc = lm[idx.mouth_corner]
            xs_all += [mc[0] - 1.2 * width, mc[0] + 1.2 * width]
            ys_all += [mc[1] + 1.2 * width]
        h, w = self._canvas.shape[:2]
        rx0 = max(int(min(xs_all)), 0)
        rx1 = min(int(max(xs_all)) + 1, w)
        ry0 = max(int(min(ys_all)), 0)
        ry1 = min(int(max(ys_all)) + 1, h)
        self._roi = (slice(ry0, ry1), slice(rx0, rx1))
        gy, gx = np.mgrid[ry0:ry1, rx0:rx1].astype(np.float32)
        self._gx, self._gy = gx, gy

        # Unit displacement fields (canvas px per unit intensity) of brow, cheek and mouth.
        self._fields = {}
        for side, idx in EYE_INDICES.items():
            eye_w = self._eyes[side]["width"]
            brow = np.mean([lm[i] for i in idx.brow], axis=0)
            cheek = lm[idx.cheek]
            mouth = lm[idx.mouth_corner]
            outward = -1.0 if side == "right" else 1.0  # image direction away from the midline
            self._fields[("brow", side)] = _gauss_field(gx, gy, brow, 0.75 * eye_w,
                                                        (0.0, 0.20 * eye_w))
            self._fields[("cheek", side)] = _gauss_field(gx, gy, cheek + (0, -0.3 * eye_w),
                                                         0.8 * eye_w, (0.0, -0.14 * eye_w))
            direction = np.array([0.45 * outward, -0.9])
            self._fields[("mouth", side)] = _gauss_field(
                gx, gy, mouth, 0.55 * eye_w, tuple(0.32 * eye_w * direction / np.hypot(*direction)))
            self._fields[("mouth_cheek", side)] = _gauss_field(
                gx, gy, 0.5 * (mouth + cheek), 0.9 * eye_w, (0.0, -0.12 * eye_w))

    # -- rendering ------------------------------------------------------------------------
    def render_canvas(self, *, left: LidState, right: LidState) -> np.ndarray:
        """Edit the face region of the working canvas for the given lid states.

        Returns the working canvas (RGB uint8); it is overwritten by the next call.
        """
        import cv2

        gx, gy = self._gx, self._gy
        dx = np.zeros_like(gx)
        dy = np.zeros_like(gy)
        for side, st in (("left", left), ("right", right)):
            for name, amount in (("brow", st.squeeze), ("cheek", st.squeeze),
                                 ("mouth", st.mouth), ("mouth_cheek", st.mouth)):
                if amount > 0:
                    fx, fy = self._fields[(name, side)]
                    dx += amount * fx
                    dy += amount * fy
        xp = gx - dx
        yp = gy - dy
        ysrc = yp.copy()
        shade = np.ones_like(gx)
        for side, st in (("left", left), ("right", right)):
            ysrc, shade = self._lid_map(self._eyes[side], st, xp, yp, ysrc, shade)
        out = cv2.remap(self._canvas, xp, ysrc, interpolation=cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT)
        out = (out.astype(np.float32) * shade[..., None]).clip(0, 255).astype(np.uint8)
        self._work[self._roi] = out
        return self._work

    @staticmethod
    def _lid_map(eye: dict, st: LidState, xp: np.ndarray, yp: np.ndarray, ysrc: np.ndarray,
                 shade: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Vertical source coordinates and lash shading for one eye (per column remap)."""
        width = eye["width"]
        yu = np.interp(xp, eye["grid"], eye["yu"]).astype(np.float32)
        yl = np.interp(xp, eye["grid"], eye["yl"]).astype(np.float32)
        aperture = np.maximum(yl - yu, 0.0)
        d_up = st.upper_drop * _MEET * aperture
        d_lo = st.lower_rise * (1.0 - _MEET) * aperture
        y_m = yu + d_up                    # upper lid margin now
        y_lm = yl - d_lo                   # lower lid margin now
        hs, hb = _UPPER_SKIN * width, _LOWER_SKIN * width
        # Upper lid: skin in [yu - hs, yu] stretches down to [yu - hs, y_m].
        s_up = (yp - (yu - hs)) / (hs + d_up)
        in_up = (s_up >= 0.0) & (yp <= y_m) & (aperture > 0)
        # Lower lid: skin in [yl, yl + hb] moves up to [y_lm, yl + hb].
        s_lo = ((yl + hb) - yp) / np.maximum(hb + d_lo, 1e-3)
        in_lo = (s_lo >= 0.0) & (yp >= y_lm) & (aperture > 0)
        # Eyeball between the margins (iris moves down when looking down).
        shift = _GAZE_IRIS_SHIFT * eye["aperture_max"] * st.gaze_down
        inside = (yp > y_m) & (yp < y_lm)
        y_in = np.clip(yp - shift, yu + 0.5, yl - 0.5)
        ysrc = np.where(in_up, yp - d_up * s_up ** 2, ysrc)
        ysrc = np.where(in_lo, yp + d_lo * s_lo ** 2, ysrc)
        ysrc = np.where(inside, y_in, ysrc)
        # Lash fringe along the lowered upper margin and the lid's shadow over the opening.
        strength = min(1.0, _LASH_RAMP * st.upper_drop)
        if strength > 0:
            taper = np.sqrt(aperture / eye["aperture_max"])
            sigma = 0.028 * width
            lash = np.exp(-0.5 * ((yp - y_m - 0.4 * sigma) / sigma) ** 2)
            low = np.exp(-0.5 * ((yp - y_lm + 0.3 * sigma) / (0.8 * sigma)) ** 2)
            shadow = inside * np.exp(-np.maximum(yp - y_m, 0.0) / (_LID_SHADOW_DEPTH * width))
            dark = (strength * taper * (_LASH_DARK * lash + 0.25 * st.closure * low)
                    + _LID_SHADOW * min(1.0, 2.0 * st.upper_drop) * shadow)
            shade = shade * np.clip(1.0 - dark, 0.0, 1.0).astype(np.float32)
        return ysrc.astype(np.float32), shade

    def homography(self, pose: HeadPose) -> np.ndarray:
        """3x3 matrix mapping canvas pixels to output pixels for ``pose``."""
        k = pose.scale * self.scale / self.upscale
        roll = math.radians(pose.roll_deg)
        c, s = math.cos(roll), math.sin(roll)
        to_centre = np.array([[1, 0, -self._centre_canvas[0]], [0, 1, -self._centre_canvas[1]],
                              [0, 0, 1]], dtype=float)
        rot_scale = np.array([[k * c, -k * s, 0], [k * s, k * c, 0], [0, 0, 1]], dtype=float)
        f = float(self.width)  # focal length and distance of the face plane, output px
        yaw, pitch = math.radians(pose.yaw_deg), math.radians(pose.pitch_deg)
        ry = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0],
                       [-math.sin(yaw), 0, math.cos(yaw)]])
        rx = np.array([[1, 0, 0], [0, math.cos(pitch), -math.sin(pitch)],
                       [0, math.sin(pitch), math.cos(pitch)]])
        r = ry @ rx
        plane = np.column_stack([r[:, 0], r[:, 1], [0.0, 0.0, f]])  # (X, Y, 1) -> camera
        persp = np.diag([f, f, 1.0]) @ plane / f
        to_out = np.array([[1, 0, 0.5 * self.width + pose.dx_px],
                           [0, 1, 0.5 * self.height + pose.dy_px], [0, 0, 1]], dtype=float)
        return to_out @ persp @ rot_scale @ to_centre

    def render(self, *, left: LidState, right: LidState,
               pose: HeadPose = HeadPose()) -> np.ndarray:
        """One output frame (RGB uint8, height x width x 3) without lighting or noise."""
        import cv2

        canvas = self.render_canvas(left=left, right=right)
        frame = cv2.warpPerspective(canvas, self.homography(pose), (self.width, self.height),
                                    flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        return frame

    def landmark_px(self, index: int, pose: HeadPose = HeadPose()) -> np.ndarray:
        """Output-pixel position of a photo landmark (rest lids) under ``pose``."""
        p = self.homography(pose) @ np.array([*self._lm[index], 1.0])
        return p[:2] / p[2]


def _smooth_contour(grid: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Piecewise-linear contour through the points, lightly smoothed, ends kept fixed."""
    y = np.interp(grid, xs, ys)
    n = max(3, int(round(0.12 * (xs[-1] - xs[0]))) | 1)
    kernel = np.hanning(n + 2)[1:-1]
    kernel /= kernel.sum()
    padded = np.pad(y, n // 2, mode="edge")
    smooth = np.convolve(padded, kernel, mode="valid")
    w = np.clip(np.minimum(grid - xs[0], xs[-1] - grid) / max(n, 1), 0.0, 1.0)
    return w * smooth + (1.0 - w) * y


def _gauss_field(gx: np.ndarray, gy: np.ndarray, centre: np.ndarray, sigma: float,
                 vector: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian-weighted displacement field (canvas px) around ``centre``."""
    w = np.exp(-0.5 * ((gx - centre[0]) ** 2 + (gy - centre[1]) ** 2) / sigma ** 2)
    return (w * vector[0]).astype(np.float32), (w * vector[1]).astype(np.float32)


def _extend_border(photo: np.ndarray, *, pad: int) -> np.ndarray:
    """Pad the photo by a blurred mirror extension that fades in smoothly at the edge."""
    import cv2

    big = cv2.copyMakeBorder(photo, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    blurred = cv2.GaussianBlur(big, (0, 0), sigmaX=max(pad / 3.0, 4.0))
    h, w = photo.shape[:2]
    yy, xx = np.mgrid[0:h + 2 * pad, 0:w + 2 * pad]
    inside = np.minimum.reduce([xx - pad, w + pad - 1 - xx, yy - pad, h + pad - 1 - yy])
    weight = np.clip(inside / 12.0, 0.0, 1.0)[..., None]
    return (weight * big + (1.0 - weight) * blurred).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Realism: head motion, lighting, noise
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class RenderSettings:
    """How a schedule is turned into video.

    Attributes
    ----------
    fps : int
        Frame rate, frames per second (24, 25, 30 or 60 are typical); required.
    width, height : int
        Frame size, pixels (even numbers).
    face_height_fraction : float
        Forehead-to-chin distance as a fraction of the frame height.
    head_motion : float
        Scale of the small continuous head motion (0 = perfectly still).
    large_turns_per_min : float
        Rate of occasional larger head turns (1-3 s, up to about 12 degrees).
    lighting_drift : float
        Scale of the slow brightness, side-light and colour drift (0 = constant).
    noise_sigma : float
        Standard deviation of Gaussian sensor noise, 8-bit grey levels.
    crf : int
        x264 constant rate factor (higher = smaller file, more compression artefacts).
    preset : str
        x264 preset.
    supersample : float
        Canvas resolution relative to the output frame.
    """

    fps: int
    width: int = 640
    height: int = 480
    face_height_fraction: float = 0.40
    head_motion: float = 1.0
    large_turns_per_min: float = 1.0
    lighting_drift: float = 1.0
    noise_sigma: float = 2.0
    crf: int = 26
    preset: str = "medium"
    supersample: float = 1.5

    def __post_init__(self) -> None:
        if self.width % 2 or self.height % 2:
            raise ValueError("width and height must be even for yuv420p")
        if self.fps <= 0:
            raise ValueError("fps must be positive")


#: Output sizes by common name.
RESOLUTIONS: dict[str, tuple[int, int]] = {
    "480p": (640, 480), "720p": (1280, 720), "1080p": (1920, 1080),
}


@dataclass(frozen=True)
class _Sinusoids:
    freq_hz: np.ndarray
    phase: np.ndarray
    amp: np.ndarray

    def __call__(self, t: float) -> float:
        return float(np.sum(self.amp * np.sin(2 * np.pi * self.freq_hz * t + self.phase)))


def _sinusoids(rng: np.random.Generator, *, amplitude: float, f_lo: float, f_hi: float,
               n: int = 3) -> _Sinusoids:
    amps = rng.uniform(0.5, 1.0, n)
    amps *= amplitude / np.sqrt(np.sum(amps ** 2) / 2.0)  # RMS close to amplitude / sqrt(2)
    return _Sinusoids(rng.uniform(f_lo, f_hi, n), rng.uniform(0, 2 * np.pi, n), amps)


class _Realism:
    """Head motion and lighting over time, drawn once from the ``motion`` generator."""

    def __init__(self, settings: RenderSettings, *, duration_s: float,
                 rng: np.random.Generator, face_px: float) -> None:
        m = settings.head_motion
        self.face_px = face_px
        self.motion = {
            "dx": _sinusoids(rng, amplitude=0.015 * face_px * m, f_lo=0.03, f_hi=0.4),
            "dy": _sinusoids(rng, amplitude=0.01 * face_px * m, f_lo=0.03, f_hi=0.4),
            "roll": _sinusoids(rng, amplitude=1.5 * m, f_lo=0.03, f_hi=0.3),
            "yaw": _sinusoids(rng, amplitude=2.5 * m, f_lo=0.03, f_hi=0.3),
            "pitch": _sinusoids(rng, amplitude=1.5 * m, f_lo=0.03, f_hi=0.3),
            "scale": _sinusoids(rng, amplitude=0.015 * m, f_lo=0.02, f_hi=0.15),
            "tremor_x": _sinusoids(rng, amplitude=0.002 * face_px * m, f_lo=3.0, f_hi=6.0),
            "tremor_y": _sinusoids(rng, amplitude=0.002 * face_px * m, f_lo=3.0, f_hi=6.0),
        }
        n_turns = rng.poisson(settings.large_turns_per_min * duration_s / 60.0) if m > 0 else 0
        self.turns = []
        for _ in range(int(n_turns)):
            length = rng.uniform(1.2, 3.0)
            start = rng.uniform(0.0, max(duration_s - length, 0.0))
            sign = rng.choice([-1.0, 1.0])
            self.turns.append(dict(start=start, length=length,
                                   yaw=sign * rng.uniform(6.0, 12.0),
                                   roll=sign * rng.uniform(2.0, 6.0),
                                   dx=sign * rng.uniform(0.02, 0.06) * face_px,
                                   pitch=rng.uniform(-3.0, 3.0)))
        d = settings.lighting_drift
        self.gain = _sinusoids(rng, amplitude=0.07 * d, f_lo=0.01, f_hi=0.06, n=2)
        self.side = _sinusoids(rng, amplitude=0.10 * d, f_lo=0.01, f_hi=0.05, n=2)
        self.colour = [_sinusoids(rng, amplitude=0.02 * d, f_lo=0.01, f_hi=0.05, n=2)
                       for _ in range(3)]

    def pose(self, t: float) -> HeadPose:
        mo = self.motion
        p = dict(dx_px=mo["dx"](t) + mo["tremor_x"](t), dy_px=mo["dy"](t) + mo["tremor_y"](t),
                 roll_deg=mo["roll"](t), yaw_deg=mo["yaw"](t), pitch_deg=mo["pitch"](t),
                 scale=1.0 + mo["scale"](t))
        for turn in self.turns:
            x = (t - turn["start"]) / turn["length"]
            if 0.0 < x < 1.0:
                bump = 0.5 - 0.5 * math.cos(2 * math.pi * x)
                p["yaw_deg"] += bump * turn["yaw"]
                p["roll_deg"] += bump * turn["roll"]
                p["pitch_deg"] += bump * turn["pitch"]
                p["dx_px"] += bump * turn["dx"]
        return HeadPose(**p)

    def light(self, t: float, width: int) -> np.ndarray:
        """Multiplicative gain, shape (1, width, 3)."""
        ramp = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :, None]
        colour = np.array([1.0 + c(t) for c in self.colour], dtype=np.float32)
        return (1.0 + self.gain(t)) * (1.0 + self.side(t) * ramp) * colour


# --------------------------------------------------------------------------------------------
# Ground truth and video
# --------------------------------------------------------------------------------------------

def frame_times_s(*, duration_s: float, fps: int) -> np.ndarray:
    """Presentation times ``i / fps`` of all frames shown within ``duration_s``, s."""
    n = int(math.floor(duration_s * fps + 1e-9))
    return np.arange(n) / float(fps)


def frame_states(schedule: Schedule, *, time_s: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame ground-truth signals (closure, gaze, rendered lid position, squeeze, mouth)."""
    sc = schedule.scenario
    gaze = schedule.gaze_down_level(time_s=time_s)
    out: dict[str, np.ndarray] = {"gaze_down_level": gaze}
    for eye in ("left", "right"):
        closure = schedule.closure(time_s=time_s, eye=eye)
        squeeze = schedule.squeeze(time_s=time_s, eye=eye)
        ptosis = sc.ptosis_left if eye == "left" else sc.ptosis_right
        out[f"closure_{eye}"] = closure
        out[f"upper_lid_drop_{eye}"] = 1.0 - (1.0 - ptosis) * (1.0 - _GAZE_LID_DROP * gaze) * (
            1.0 - closure)
        out[f"squeeze_{eye}"] = squeeze if sc.brow_cheek else np.zeros_like(squeeze)
        twitch = sc.mouth_twitch and sc.affected_eye == eye
        out[f"mouth_twitch_{eye}"] = squeeze if twitch else np.zeros_like(squeeze)
    return out


def ground_truth(schedule: Schedule, *, settings: RenderSettings,
                 video_file: str | None = None) -> dict:
    """JSON-ready ground truth of a rendered schedule.

    Parameters
    ----------
    schedule : Schedule
        The closure schedule.
    settings : RenderSettings
        Frame rate, size and rendering knobs.
    video_file : str, optional
        File name of the video the ground truth belongs to.

    Returns
    -------
    dict
        Keys: generator, seed, scenario, jankovic_frequency_grade(_per_eye), conventions,
        video, render, summary, events, flutter_bursts, gaze_down_intervals, frames.
    """
    sc = schedule.scenario
    t = frame_times_s(duration_s=schedule.duration_s, fps=settings.fps)
    st = frame_states(schedule, time_s=t)
    summary: dict = {"share_closed_50": {}, "share_closed_80": {}, "events_per_eye": {},
                     "longest_closure_s": {}}
    for eye in ("left", "right"):
        c = st[f"closure_{eye}"]
        summary["share_closed_50"][eye] = round(float(np.mean(c >= 0.5)), 4)
        summary["share_closed_80"][eye] = round(float(np.mean(c >= 0.8)), 4)
        counts = {k: 0 for k in EVENT_KINDS}
        longest = 0.0
        for ev in schedule.events:
            if ev.covers(eye):
                counts[ev.kind] += 1
                longest = max(longest, ev.duration_s)
        summary["events_per_eye"][eye] = counts
        summary["longest_closure_s"][eye] = _r(longest)
    n_blinks = sum(ev.kind in ("blink", "incomplete_blink") for ev in schedule.events)
    summary["blink_rate_per_min"] = round(60.0 * n_blinks / schedule.duration_s, 2)
    summary["n_flutter_bursts"] = len(schedule.bursts)
    summary["n_spasms"] = sum(ev.kind == "spasm" for ev in schedule.events)

    def arr(x: np.ndarray, nd: int = 5) -> list:
        return [round(float(v), nd) + 0.0 for v in x]

    return {
        "generator": {"name": "spasmcv.synthetic.render", "version": GENERATOR_VERSION,
                      "photo": "skimage.data.astronaut() (public-domain NASA portrait)"},
        "seed": schedule.seed,
        "scenario": asdict(sc),
        "jankovic_frequency_grade": sc.jankovic_grade,
        "jankovic_frequency_grade_per_eye": {"left": sc.jankovic_grade_left,
                                             "right": sc.jankovic_grade_right},
        "conventions": {
            "left_right": ("patient's side; the video is unmirrored, so the patient's left "
                           "eye appears on the image's right side"),
            "closure": ("0 = the patient's own open-eye position (including ptosis), 1 = upper "
                        "and lower lid margins meet; looking down is not closure"),
            "time_s": "frame i is presented at i / fps seconds (its pts in the video)",
            "onset_s": "lid starts to move (closure leaves 0)",
            "apex_s": "middle of the hold at peak closure",
            "offset_s": "lid back fully open (closure returns to exactly 0)",
            "share_closed": "fraction of frames with closure >= 0.5 (_50) or >= 0.8 (_80)",
            "gaze_down": "1 while the gaze is (moving) down, else 0; closure stays 0",
        },
        "video": {"file": video_file, "width": settings.width, "height": settings.height,
                  "fps": settings.fps, "n_frames": int(t.size),
                  "duration_s": schedule.duration_s, "codec": "h264 (libx264)",
                  "pix_fmt": "yuv420p", "mirrored": False},
        "render": asdict(settings),
        "summary": summary,
        "events": [ev.to_dict() for ev in schedule.events],
        "flutter_bursts": [b.to_dict() for b in schedule.bursts],
        "gaze_down_intervals": [g.to_dict() for g in schedule.gaze_down],
        "frames": {
            "time_s": arr(t, 6),
            "closure_left": arr(st["closure_left"]),
            "closure_right": arr(st["closure_right"]),
            "gaze_down": [int(v > 0) for v in st["gaze_down_level"]],
            "gaze_down_level": arr(st["gaze_down_level"], 4),
            "upper_lid_drop_left": arr(st["upper_lid_drop_left"], 4),
            "upper_lid_drop_right": arr(st["upper_lid_drop_right"], 4),
            "squeeze_left": arr(st["squeeze_left"], 4),
            "squeeze_right": arr(st["squeeze_right"], 4),
            "mouth_twitch_left": arr(st["mouth_twitch_left"], 4),
            "mouth_twitch_right": arr(st["mouth_twitch_right"], 4),
        },
    }


def dumps_ground_truth(gt: Mapping) -> str:
    """Serialise ground truth deterministically: indented, numeric lists on one line."""
    text = json.dumps(gt, indent=2, sort_keys=False, ensure_ascii=True, allow_nan=False)
    return re.sub(r"\[\s+([-0-9.eE,\s]+?)\s+\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]",
                  text) + "\n"


def render_frames(schedule: Schedule, *, settings: RenderSettings,
                renderer: FaceRenderer | None = None):
    """Yield ``(time_s, frame)`` for every frame (RGB uint8) of a schedule.

    Deterministic given ``schedule.seed``: head motion and lighting come from the seed's
    ``motion`` stream, sensor noise from its ``noise`` stream.
    """
    renderer = renderer or FaceRenderer(width=settings.width, height=settings.height,
                                        face_height_fraction=settings.face_height_fraction,
                                        supersample=settings.supersample)
    rngs = _rngs(schedule.seed)
    face_px = settings.face_height_fraction * settings.height
    realism = _Realism(settings, duration_s=schedule.duration_s, rng=rngs["motion"],
                       face_px=face_px)
    noise = _NoiseBank(rngs["noise"], shape=(settings.height, settings.width, 3),
                       sigma=settings.noise_sigma)
    sc = schedule.scenario
    times = frame_times_s(duration_s=schedule.duration_s, fps=settings.fps)
    st = frame_states(schedule, time_s=times)
    for i, t in enumerate(times):
        lids = {eye: LidState(closure=float(st[f"closure_{eye}"][i]),
                              ptosis=sc.ptosis_left if eye == "left" else sc.ptosis_right,
                              gaze_down=float(st["gaze_down_level"][i]),
                              squeeze=float(st[f"squeeze_{eye}"][i]),
                              mouth=float(st[f"mouth_twitch_{eye}"][i]))
                for eye in ("left", "right")}
        frame = renderer.render(left=lids["left"], right=lids["right"],
                                pose=realism.pose(float(t)))
        # Lighting in 8.8 fixed point, then noise, in int32 to avoid overflow.
        gain = np.round(realism.light(float(t), settings.width) * 256.0).astype(np.int32)
        out = (frame.astype(np.int32) * gain + 128) >> 8
        if noise.enabled:
            out += noise.next()
        yield float(t), np.ascontiguousarray(np.clip(out, 0, 255).astype(np.uint8))


class _NoiseBank:
    """Gaussian sensor noise: a few pre-drawn fields, a fresh random window of one per frame."""

    _MARGIN = 64

    def __init__(self, rng: np.random.Generator, *, shape: tuple[int, int, int],
                 sigma: float, n_fields: int = 3) -> None:
        self.enabled = sigma > 0
        self._rng = rng
        self._shape = shape
        if self.enabled:
            h, w, c = shape
            self._fields = [
                np.round(rng.standard_normal((h + self._MARGIN, w + self._MARGIN, c),
                                             dtype=np.float32) * sigma).astype(np.int32)
                for _ in range(n_fields)]

    def next(self) -> np.ndarray:
        h, w, _ = self._shape
        k, dy, dx = (int(v) for v in self._rng.integers(
            [0, 0, 0], [len(self._fields), self._MARGIN, self._MARGIN]))
        return self._fields[k][dy:dy + h, dx:dx + w]


def render_video(path: str | os.PathLike, *, schedule: Schedule,
                 settings: RenderSettings) -> dict:
    """Render ``schedule`` to an MP4 (H.264 yuv420p) and its ground truth ``.json`` beside it.

    Both files are written to temporary names and renamed into place. The JSON depends only
    on the schedule and settings. Encoding is single-threaded, so the same seed and settings
    give bit-identical videos with the same PyAV/libx264 build (checked at 640x480, 640x360,
    1280x720 and 1920x1080; at 320x240 libx264's output was seen to vary between runs).

    Parameters
    ----------
    path : path-like
        Output video path (``.mp4``); the ground truth goes to the same stem with ``.json``.
    schedule : Schedule
        What happens when.
    settings : RenderSettings
        Size, frame rate and realism knobs.

    Returns
    -------
    dict
        The ground truth (as written).
    """
    import av

    path = Path(path)
    gt = ground_truth(schedule, settings=settings, video_file=path.name)
    # the video and its ground truth are written as a pair: both complete, or neither replaced
    with atomic_path(path, suffix=".mp4") as tmp, atomic_path(path.with_suffix(".json")) as tmp_json:
        with av.open(str(tmp), mode="w", format="mp4",
                     options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=Fraction(settings.fps, 1))
            stream.width, stream.height = settings.width, settings.height
            stream.pix_fmt = "yuv420p"
            stream.time_base = Fraction(1, settings.fps)
            stream.codec_context.thread_count = 1
            stream.codec_context.gop_size = 5 * settings.fps
            stream.options = {"crf": str(settings.crf), "preset": settings.preset}
            for i, (_, rgb) in enumerate(render_frames(schedule, settings=settings)):
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                frame.pts = i
                frame.time_base = Fraction(1, settings.fps)
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        tmp_json.write_text(dumps_ground_truth(gt), encoding="utf-8")
    return gt


# --------------------------------------------------------------------------------------------
# Contact sheet
# --------------------------------------------------------------------------------------------

def contact_sheet(*, tile_width: int = 300) -> np.ndarray:
    """A labelled grid of rendered states (RGB uint8) for documentation.

    Rows: both eyes (blepharospasm) open / half / closed; the patient's left eye only
    (hemifacial spasm, with squeeze and mouth twitch) open / half / closed; and looking down,
    ptosis and a forceful bilateral spasm.
    """
    import cv2

    renderer = FaceRenderer(width=1280, height=720, face_height_fraction=0.45)
    open_ = LidState()
    rows = [
        [("both open", open_, open_), ("both half closed", LidState(closure=0.5),
                                       LidState(closure=0.5)),
         ("both closed", LidState(closure=1.0), LidState(closure=1.0))],
        [("HFS: patient's left open", open_, open_),
         ("patient's left half", LidState(closure=0.5, squeeze=0.5, mouth=0.5), open_),
         ("patient's left closed", LidState(closure=1.0, squeeze=1.0, mouth=1.0), open_)],
        [("looking down (not closed)", LidState(gaze_down=1.0), LidState(gaze_down=1.0)),
         ("ptosis L 0.25, R 0.12", LidState(ptosis=0.25), LidState(ptosis=0.12)),
         ("forceful spasm (brow, cheek)", LidState(closure=1.0, squeeze=1.0),
          LidState(closure=1.0, squeeze=1.0))],
    ]
    left_eye = renderer.landmark_px(263)
    right_eye = renderer.landmark_px(33)
    chin = renderer.landmark_px(152)
    cx = 0.5 * (left_eye[0] + right_eye[0])
    span = 2.1 * (left_eye[0] - right_eye[0])
    top = float(min(left_eye[1], right_eye[1]) - 0.45 * span)
    bottom = float(chin[1] - 0.05 * span)
    x0, x1 = int(cx - span / 2), int(cx + span / 2)
    y0, y1 = int(top), int(bottom)
    tile_h = int(round(tile_width * (y1 - y0) / (x1 - x0)))
    sheet_rows = []
    for row in rows:
        tiles = []
        for label, left, right in row:
            frame = renderer.render(left=left, right=right)
            tile = cv2.resize(frame[y0:y1, x0:x1], (tile_width, tile_h),
                              interpolation=cv2.INTER_AREA)
            tile = np.ascontiguousarray(tile)
            cv2.rectangle(tile, (0, 0), (tile_width, 18), (0, 0, 0), -1)
            cv2.putText(tile, label, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1,
                        cv2.LINE_AA)
            tiles.append(tile)
        sheet_rows.append(np.hstack(tiles))
    return np.vstack(sheet_rows)


__all__ = [
    "GENERATOR_VERSION", "EVENT_KINDS", "EYES", "PHOTO_LANDMARKS_PX", "EyeIndices", "LEFT_EYE",
    "RIGHT_EYE", "EYE_INDICES", "ClosureEvent", "ScheduledBurst",
    "GazeDownInterval", "Scenario", "PRESETS", "Schedule", "make_schedule", "LidState",
    "HeadPose", "FaceRenderer", "RenderSettings", "RESOLUTIONS", "frame_times_s",
    "frame_states", "ground_truth", "dumps_ground_truth", "render_frames", "render_video",
    "contact_sheet",
]
