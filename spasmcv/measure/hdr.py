"""High-dynamic-range video's colour maths: transfer functions, tone curve, primaries.

Pure numpy: :mod:`spasmcv.measure.video` decodes an HDR picture to 16-bit RGB and maps it to
8-bit SDR through :func:`sdr_table` and :data:`BT2020_TO_BT709`. Light is relative to HDR's
reference white (1.0 is a white wall, shown as SDR's white before highlights are compressed).
"""

from __future__ import annotations

import functools

import numpy as np

#: FFmpeg's codes (AVColorTransferCharacteristic) of high-dynamic-range video's transfer
#: functions: SMPTE ST 2084 ("PQ": HDR10, Dolby Vision, most Android phones' HDR mode) and
#: ARIB STD-B67 ("HLG": iPhones' HDR video, broadcast HDR).
HDR_TRANSFERS = {16: "PQ", 18: "HLG"}
#: FFmpeg's code of an unspecified transfer function.
_UNSPECIFIED = 2
#: Luminance of HDR video's reference white (paper, a white wall), cd/m2 (ITU-R BT.2408): shown
#: as SDR's white.
REFERENCE_WHITE_NITS = 203.0
#: Light above this share of reference white is compressed smoothly into what remains below
#: SDR's white (highlights); light below it is shown as an SDR camera would record it.
TONE_KNEE = 0.75
#: HLG's system gamma for a 1000 cd/m2 display (ITU-R BT.2100): display light = scene light ** 1.2.
HLG_SYSTEM_GAMMA = 1.2
#: SDR video's display gamma (ITU-R BT.1886).
SDR_GAMMA = 2.4
#: BT.2020 RGB -> BT.709 RGB (the inverse of ITU-R BT.2087's matrix), applied to the tone-mapped
#: SDR values rather than to linear light: exact for greys (each row sums to 1); on two real
#: clips' first frames made HDR it brings the colours to within 0.7 and 7 levels of the SDR
#: source on average, from 2 and 15 without it (saturated colours stay further off), at a small
#: part of the cost of converting in linear light (two more lookups over 16-bit values).
BT2020_TO_BT709 = np.array([[1.66051, -0.58771, -0.07280], [-0.12456, 1.13296, -0.00840],
                            [-0.01817, -0.10056, 1.11873]], np.float32)
_PQ_M1, _PQ_M2 = 2610 / 16384, 2523 / 4096 * 128
_PQ_C1, _PQ_C2, _PQ_C3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
_HLG_A = 0.17883277
_HLG_B, _HLG_C = 1 - 4 * _HLG_A, 0.5 - _HLG_A * np.log(4 * _HLG_A)


def transfer_name(frame_code: int | None, stream_code: int | None) -> str | None:
    """"PQ" or "HLG" for high-dynamic-range video, None for ordinary (SDR) video: the frame's
    transfer function code, else (unspecified in the frame) the stream's."""
    code = stream_code if frame_code in (None, _UNSPECIFIED) else frame_code
    return HDR_TRANSFERS.get(int(code or _UNSPECIFIED))


def pq_to_light(signal: np.ndarray) -> np.ndarray:
    """PQ signal (0-1) -> display light relative to reference white (SMPTE ST 2084 EOTF)."""
    power = np.power(np.clip(signal, 0.0, 1.0), 1 / _PQ_M2)
    nits = 10000.0 * np.power(np.maximum(power - _PQ_C1, 0.0) / (_PQ_C2 - _PQ_C3 * power), 1 / _PQ_M1)
    return nits / REFERENCE_WHITE_NITS


def hlg_to_light(signal: np.ndarray) -> np.ndarray:
    """HLG signal (0-1) -> display light relative to reference white: scene light from the
    inverse OETF (ITU-R BT.2100), raised to the system gamma; reference white is signal 0.75
    (ITU-R BT.2408)."""
    def scene(e):
        e = np.clip(e, 0.0, 1.0)
        return np.where(e <= 0.5, e * e / 3, (np.exp((e - _HLG_C) / _HLG_A) + _HLG_B) / 12)
    return np.power(scene(signal) / scene(np.array(0.75)), HLG_SYSTEM_GAMMA)


def tone_mapped(light: np.ndarray) -> np.ndarray:
    """Display light relative to reference white -> SDR light (0-1): unchanged up to
    :data:`TONE_KNEE`, the rest compressed toward 1 with slope 1 at the knee (Reinhard's curve
    on the excess), so highlights keep their detail and faces their contrast."""
    excess = np.maximum(light - TONE_KNEE, 0.0)
    room = 1.0 - TONE_KNEE
    return np.minimum(light, TONE_KNEE) + room * excess / (excess + room)


@functools.lru_cache(maxsize=None)
def sdr_table(transfer: str) -> np.ndarray:
    """8-bit SDR value of every 256th 16-bit HDR code (256 entries; a code is looked up by its
    nearest): decoded light, tone-mapped, encoded with the SDR gamma. Within 0.6 grey levels of
    the exact curve on average and about 2 at most (a real face made HDR), at a fraction of the
    cost of a 65536-entry table (numpy's gather; OpenCV's table lookup takes bytes only)."""
    signal = np.arange(256, dtype=np.float64) * 256 / 65535.0
    light = pq_to_light(signal) if transfer == "PQ" else hlg_to_light(signal)
    return np.rint(255.0 * np.power(tone_mapped(light), 1 / SDR_GAMMA)).astype(np.uint8)
