"""Closure profiles and trace columns built on arrays, shared by the tests (no video)."""

import numpy as np

from spasmcv.analysis.closure import ClosureSettings

FPS = 30.0
OPEN_EAR = 0.31
CLOSED = ClosureSettings().closed_ratio_default


def profile(t, onset, close_s, hold_s, reopen_s, peak=1.0):
    """Raised-cosine closure: 0 before onset, up in close_s, hold, down in reopen_s."""
    c = np.zeros_like(t)
    up = (t >= onset) & (t < onset + close_s)
    c[up] = peak * (1 - np.cos(np.pi * (t[up] - onset) / close_s)) / 2
    c[(t >= onset + close_s) & (t < onset + close_s + hold_s)] = peak
    down = (t >= onset + close_s + hold_s) & (t < onset + close_s + hold_s + reopen_s)
    c[down] = peak * (1 + np.cos(np.pi * (t[down] - onset - close_s - hold_s) / reopen_s)) / 2
    return c


def ear_from_closure(closure, closed=CLOSED):
    """The eye aspect ratio of a given closure: linear from open to this eye's closed reading."""
    return OPEN_EAR * (1 - np.asarray(closure) * (1 - closed))


def trace_columns(closure_left, closure_right=None, duration_s=None, seed=0):
    closure_right = closure_left if closure_right is None else closure_right
    n = len(closure_left)
    rng = np.random.default_rng(seed)
    return {
        "time_s": np.arange(n) / FPS,
        "valid": np.ones(n, dtype=np.int8),
        "subject_track": np.zeros(n, dtype=np.int64),
        "ear_left": ear_from_closure(closure_left) * (1 + 0.005 * rng.standard_normal(n)),
        "ear_right": ear_from_closure(closure_right) * (1 + 0.005 * rng.standard_normal(n)),
        "aperture_mm_left": 10 * (1 - closure_left),
        "aperture_mm_right": 10 * (1 - closure_right),
        # the lower lid rises a little as the eye closes, as in real blinks (iris diameters)
        "lower_lid_left": 0.3 - 0.15 * np.asarray(closure_left),
        "lower_lid_right": 0.3 - 0.15 * np.asarray(closure_right),
    }


T = np.arange(0, 60, 1 / FPS)
BLINKS = [2.0, 6.0, 11.0, 15.5, 21.0, 26.0, 33.0, 38.0, 44.0, 52.0]


def blinks_closure():
    return sum(profile(T, t0, 0.08, 0.03, 0.15) for t0 in BLINKS)


def recording_trace(closure, rid: str, *, seed: int = 0, face: bool = True):
    """A whole recording's trace from a closure profile over :data:`T`: the columns a video's trace
    has (face found, head pose at 0 degrees, the model's provenance), or a face never measured."""
    from spasmcv.measure.trace import Trace

    cols = trace_columns(closure, seed=seed)
    n = len(T)
    cols.update(face_detected=np.full(n, int(face), np.int8), n_faces=np.full(n, int(face)),
                head_yaw_deg=np.zeros(n), head_pitch_deg=np.zeros(n), head_roll_deg=np.zeros(n))
    if not face:
        cols["valid"] = np.zeros(n, np.int8)
        for key in ("ear_left", "ear_right", "aperture_mm_left", "aperture_mm_right", "head_yaw_deg",
                    "head_pitch_deg", "head_roll_deg"):
            cols[key] = np.full(n, np.nan)
    return Trace(columns=cols, metadata={"recording_id": rid, "warnings": [],
                                         "model": {"sha256": "0" * 64, "official": True}})
