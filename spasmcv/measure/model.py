"""Finding, fetching and verifying the MediaPipe face landmarker model.

The mediapipe wheel ships no model, so spasmcv looks for ``face_landmarker.task`` in this
order (the first that exists wins):

1. an explicit path (``--model`` on the command line, ``model_path=`` in Python);
2. the environment variable ``SPASMCV_MODEL``;
3. the per-user cache (``$SPASMCV_CACHE_DIR``, else ``$XDG_CACHE_HOME/spasmcv``, else
   ``~/.cache/spasmcv``; ``%LOCALAPPDATA%\\spasmcv`` on Windows);
4. a one-time download from Google's official address into that cache, written atomically
   and verified against the published sha256. Set ``SPASMCV_OFFLINE=1`` to forbid it.

A file whose sha256 differs from the official model is refused unless the caller explicitly
allows a custom model (``--custom-model``), because every measurement's validation depends on
the exact model. The sha256 of the model used goes into every output.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from spasmcv._atomic import atomic_path
from spasmcv._hashing import file_sha256
from spasmcv.errors import ModelError

MODEL_FILENAME = "face_landmarker.task"
OFFICIAL_MODEL_URL = (
    "https://storage.googleapis.com/mediapipe-models/face_landmarker/"
    "face_landmarker/float16/1/face_landmarker.task"
)
OFFICIAL_MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
MODEL_ENV_VAR = "SPASMCV_MODEL"


@dataclass(frozen=True)
class ModelInfo:
    """The model file chosen for a run.

    Attributes
    ----------
    path : Path
        Absolute path of the ``.task`` bundle.
    sha256 : str
        Hex sha256 of the file's bytes.
    official : bool
        True when ``sha256`` equals the official float16 v1 bundle's.
    source : str
        How it was found: ``"argument"``, ``"environment"``, ``"cache"`` or ``"download"``.
    """

    path: Path
    sha256: str
    official: bool
    source: str


def cache_dir() -> Path:
    """Return the per-user cache directory of spasmcv (not created here)."""
    if os.environ.get("SPASMCV_CACHE_DIR"):
        return Path(os.environ["SPASMCV_CACHE_DIR"]).expanduser()
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "spasmcv"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "spasmcv"


def _how_to_provide() -> str:
    return (
        f"Provide the MediaPipe face landmarker model in one of these ways:\n"
        f"  - pass its path to the command: --model /path/to/{MODEL_FILENAME}\n"
        f"  - set the environment variable: export {MODEL_ENV_VAR}=/path/to/{MODEL_FILENAME}\n"
        f"  - copy it to the cache: {cache_dir() / MODEL_FILENAME}\n"
        f"  - or allow a one-time download (needs internet) from\n    {OFFICIAL_MODEL_URL}\n"
        f"Expected sha256: {OFFICIAL_MODEL_SHA256}"
    )


def _checked(path: Path, source: str, allow_custom: bool) -> ModelInfo:
    if not path.is_file():
        raise ModelError(f"Model file not found: {path} (from {source}).\n" + _how_to_provide())
    sha = file_sha256(path)
    official = sha == OFFICIAL_MODEL_SHA256
    if not official and not allow_custom:
        raise ModelError(
            f"Model file {path} (from {source}) has sha256 {sha}, not the official "
            f"face landmarker's {OFFICIAL_MODEL_SHA256}. spasmcv's measurements are validated "
            f"with the official model only; pass --custom-model (allow_custom=True) to use "
            f"this file anyway."
        )
    return ModelInfo(path=path.resolve(), sha256=sha, official=official, source=source)


def download_model(
    destination: Path, *, url: str = OFFICIAL_MODEL_URL, expected_sha256: str = OFFICIAL_MODEL_SHA256,
    timeout_s: float = 60.0,
) -> Path:
    """Download the model to ``destination`` atomically and verify its sha256.

    The bytes go to a temporary file beside ``destination``; only a file whose sha256
    matches ``expected_sha256`` is renamed into place, so an interrupted or corrupted
    download never leaves a usable-looking model behind.
    """
    try:
        with atomic_path(destination, suffix=".part") as tmp:
            digest = hashlib.sha256()
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout_s) as response:
                for block in iter(lambda: response.read(1 << 16), b""):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != expected_sha256:
                raise ModelError(
                    f"Downloaded model from {url} has sha256 {digest.hexdigest()}, expected "
                    f"{expected_sha256}; refusing to use it.\n" + _how_to_provide()
                )
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise ModelError(
            f"Could not download the face landmarker model from {url}: {exc}.\n" + _how_to_provide()
        ) from exc
    return destination


def resolve_model(
    model_path: str | os.PathLike | None = None, *, allow_custom: bool = False,
    allow_download: bool | None = None, url: str = OFFICIAL_MODEL_URL,
) -> ModelInfo:
    """Find (or fetch once) the face landmarker model and verify it.

    Parameters
    ----------
    model_path : path, optional
        Explicit model path; wins over everything else.
    allow_custom : bool
        Accept a file whose sha256 is not the official model's.
    allow_download : bool, optional
        Whether step 4 (download) may run; default: unless ``SPASMCV_OFFLINE=1``.
    url : str
        Download address (tests point it at a local server).

    Returns
    -------
    ModelInfo

    Raises
    ------
    ModelError
        With instructions, when no usable model can be found or fetched.
    """
    if model_path is not None:
        return _checked(Path(model_path).expanduser(), "argument", allow_custom)
    if os.environ.get(MODEL_ENV_VAR):
        return _checked(Path(os.environ[MODEL_ENV_VAR]).expanduser(), f"${MODEL_ENV_VAR}", allow_custom)
    cached = cache_dir() / MODEL_FILENAME
    if cached.is_file():
        return _checked(cached, "cache", allow_custom)
    if allow_download is None:
        allow_download = os.environ.get("SPASMCV_OFFLINE", "") not in ("1", "true", "yes")
    if not allow_download:
        raise ModelError("No face landmarker model found and downloading is disabled.\n" + _how_to_provide())
    download_model(cached, url=url)
    info = _checked(cached, "download", allow_custom)
    return ModelInfo(path=info.path, sha256=info.sha256, official=info.official, source="download")
