"""The one exception tree of spasmcv.

Every error the toolkit raises on purpose derives from :class:`SpasmcvError`, carries a
message meant for a person (naming the file involved), and maps to a non-zero exit code in
the command-line interface.
"""

from __future__ import annotations

import sys
from typing import Callable, NoReturn


class SpasmcvError(Exception):
    """Base class of all deliberate spasmcv errors."""

    exit_code = 1


class VideoError(SpasmcvError):
    """A video file cannot be used (missing, not a video, empty, truncated)."""

    exit_code = 3


class ModelError(SpasmcvError):
    """The MediaPipe face landmarker model cannot be found, fetched or trusted."""

    exit_code = 4


class TraceError(SpasmcvError):
    """A trace file is missing, malformed or of an unknown format version."""

    exit_code = 5


class BatchError(SpasmcvError):
    """The batch cannot start (no inputs, bad manifest) or was aborted on an error."""

    exit_code = 6


class SettingsError(SpasmcvError):
    """A ``--set KEY=VALUE`` names no setting, or gives it a value of the wrong kind."""

    exit_code = 2


class OutputError(SpasmcvError):
    """An output cannot be written safely: it would replace an input, it is not spasmcv's own
    kind of file (without ``--force``), or its folder cannot be written."""

    exit_code = 7


def run_script(main: Callable[[], int]) -> NoReturn:
    """Exit with ``main()``'s return code; a deliberate spasmcv error (no model, a bad video)
    prints its message and exits 2 instead of a traceback. For the scripts in ``scripts/``."""
    try:
        code = main()
    except SpasmcvError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    sys.exit(code)
