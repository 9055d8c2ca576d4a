"""HDR colour maths on arrays: transfer functions against the standards' reference points, the
tone curve, the lookup table and the transfer-function codes."""

import numpy as np
import pytest

from spasmcv.measure.hdr import (BT2020_TO_BT709, TONE_KNEE, hlg_to_light, pq_to_light,
                                 sdr_table, tone_mapped, transfer_name)


def test_hdr_transfer_functions_and_tone_curve():
    """PQ's reference white (203 cd/m2) is signal 0.58 and HLG's 0.75 (ITU-R BT.2408); both decode
    to light 1, which SDR shows as white less the highlights' room; the curve is unchanged below
    its knee, rises throughout and never reaches SDR's white."""
    assert pq_to_light(np.array(0.5807)) == pytest.approx(1.0, abs=0.01)
    assert pq_to_light(np.array(1.0)) == pytest.approx(10000 / 203)
    assert hlg_to_light(np.array(0.75)) == pytest.approx(1.0) and hlg_to_light(np.array(0.0)) == 0.0
    light = np.linspace(0, 50, 5001)
    mapped = tone_mapped(light)
    assert np.array_equal(mapped[light <= TONE_KNEE], light[light <= TONE_KNEE])
    assert np.all(np.diff(mapped) > 0) and mapped.max() < 1.0
    for transfer, decoded in (("PQ", pq_to_light), ("HLG", hlg_to_light)):
        table = sdr_table(transfer)
        assert table[0] == 0 and np.all(np.diff(table.astype(int)) >= 0) and 235 < table[-1] <= 255
        codes = np.arange(0, 65536, 7)
        exact = 255 * tone_mapped(decoded(codes / 65535)) ** (1 / 2.4)
        assert np.abs(table[np.minimum((codes + 128) >> 8, 255)] - exact).max() < 2.5


def test_transfer_codes_name_pq_and_hlg_and_the_frame_overrides_the_stream():
    """FFmpeg's transfer codes 16 (SMPTE ST 2084) and 18 (ARIB STD-B67); a frame's own code wins
    unless it is unspecified (2) or absent (PyAV before 17), when the stream's counts."""
    assert transfer_name(16, 1) == "PQ" and transfer_name(18, 2) == "HLG"
    assert transfer_name(2, 18) == "HLG" and transfer_name(None, 16) == "PQ"
    assert transfer_name(1, 16) is None  # the frame says BT.709
    assert transfer_name(None, None) is None and transfer_name(2, 0) is None and transfer_name(14, 2) is None


def test_primaries_conversion_keeps_grey_grey():
    """The conversion from BT.2020's primaries to BT.709's is exact for greys: every row sums to 1."""
    assert np.allclose(BT2020_TO_BT709.sum(axis=1), 1.0, atol=1e-4)
