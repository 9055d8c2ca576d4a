"""Which quarter turn shows the face upright: the pure decisions, on arrays (no model)."""

import numpy as np
import pytest

from spasmcv.measure.orientation import (FEW_FACES_SHARE, looks_turned, picture_turn_deg, turned, upright_counts,
                                         upright_turn)


def test_looks_turned_on_few_faces_or_a_face_lying_sideways():
    found = np.ones(100, bool)
    assert not looks_turned(found, np.full(100, 8.0))                 # upright, a face throughout
    assert not looks_turned(found, np.full(100, -60.0))               # a tilt the gate still measures
    assert looks_turned(found, np.full(100, 97.0))                    # lying sideways
    assert looks_turned(found, np.full(100, -82.0))
    few = np.zeros(100, bool)
    few[: int(FEW_FACES_SHARE * 100) - 1] = True
    assert looks_turned(few, np.full(100, 5.0))                       # a face in under half the frames
    assert looks_turned(np.zeros(100, bool), np.full(100, np.nan))    # no face at all
    assert not looks_turned(np.zeros(0, bool), np.zeros(0))           # nothing to judge
    rolls = np.full(100, np.nan)
    rolls[:60] = 3.0                                                  # roll read only where there is a face
    assert not looks_turned(found, rolls)


@pytest.mark.parametrize("counts, n, turn", [
    ({0: 0, 90: 15, 180: 0, 270: 3}, 15, 90),     # sideways (Talking Face turned, tests/measure/test_extract.py)
    ({0: 3, 90: 0, 180: 15, 270: 0}, 15, 180),    # upside down: a few wrong-way-up fits as stored
    ({0: 0, 90: 4, 180: 0, 270: 15}, 15, 270),
    ({0: 16, 90: 0, 180: 0, 270: 0}, 16, 0),      # upright
    ({0: 6, 90: 0, 180: 0, 270: 0}, 16, 0),       # upright, the face in a few frames (a face leaving)
    ({0: 0, 90: 0, 180: 0, 270: 0}, 16, 0),       # no face anywhere
    ({0: 0, 90: 11, 180: 0, 270: 0}, 16, 0),      # upright when turned in under 3/4 of the frames
    ({0: 7, 90: 0, 180: 14, 270: 0}, 16, 0),      # not more than twice as many as unturned
    ({0: 0, 90: 14, 180: 0, 270: 14}, 16, 0),     # two turns tie: no telling which is right
    ({0: 0, 90: 3, 180: 0, 270: 0}, 0, 0),        # no sample frames
])
def test_upright_turn(counts, n, turn):
    assert upright_turn(counts, n) == turn


def test_turned_pictures_and_counts():
    picture = np.zeros((4, 6, 3), np.uint8)
    picture[0, 5] = 255                                               # top right
    assert turned(picture, 0) is picture
    assert turned(picture, 90).shape == (6, 4, 3) and turned(picture, 90)[5, 3, 0] == 255   # bottom right
    assert turned(picture, 180)[3, 0, 0] == 255                                              # bottom left
    assert turned(picture, 270)[0, 0, 0] == 255                                              # top left

    # a stand-in finder: an "upright face" is a picture whose top-right pixel is bright
    def eye_lines(rgb):
        return np.array([0.0]) if rgb[0, -1, 0] == 255 else np.array([170.0])

    assert upright_counts([picture, turned(picture, 90)], eye_lines) == {0: 1, 90: 0, 180: 0, 270: 1}


def test_picture_turn_from_trace_metadata():
    assert picture_turn_deg({}) == 0
    assert picture_turn_deg({"picture_turn": {"clockwise_deg": 180, "samples": 16}}) == 180
