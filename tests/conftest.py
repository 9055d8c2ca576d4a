"""Shared fixtures: the real model and the real videos in ../shared.

Outside CI, tests needing ../shared or the model skip when they are absent. In CI
(``CI=true``) their absence is a failure: those tests are the point of the run.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
REAL = SHARED / "data" / "real"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _missing(what: str):
    if IN_CI:
        pytest.fail(f"{what} is missing, and in CI (CI=true) that is a failure, not a skip")
    pytest.skip(f"{what} is not available")


@pytest.fixture(scope="session")
def model_info():
    """The official face landmarker, found the way users find it (no download in tests)."""
    from spasmcv.errors import ModelError
    from spasmcv.measure.model import resolve_model

    candidates = [os.environ.get("SPASMCV_MODEL"), str(SHARED / "models" / "face_landmarker.task")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return resolve_model(candidate)
    try:
        return resolve_model(allow_download=False)
    except ModelError:
        _missing("the face landmarker model ($SPASMCV_MODEL or ../shared/models/face_landmarker.task)")


@pytest.fixture(scope="session")
def real_video():
    """Path to a video under ../shared/data/real (skips or fails when absent)."""

    def get(relative: str) -> Path:
        path = REAL / relative
        if not path.is_file():
            _missing(f"../shared/data/real/{relative}")
        return path

    return get
