"""Model provisioning: explicit path > $SPASMCV_MODEL > user cache > one-time verified download."""

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from spasmcv.measure import model as model_mod
from spasmcv.errors import ModelError
from spasmcv.measure.model import MODEL_FILENAME, OFFICIAL_MODEL_SHA256, resolve_model


@pytest.fixture
def clean_env(tmp_path, monkeypatch):
    monkeypatch.delenv("SPASMCV_MODEL", raising=False)
    monkeypatch.delenv("SPASMCV_OFFLINE", raising=False)
    monkeypatch.setenv("SPASMCV_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


@pytest.fixture
def serve(tmp_path):
    """Serve files from a directory on 127.0.0.1; yields a function name -> URL."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(root), **k)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, lambda name: f"http://127.0.0.1:{server.server_address[1]}/{name}"
    server.shutdown()


def test_official_model_is_accepted(model_info):
    assert model_info.sha256 == OFFICIAL_MODEL_SHA256 and model_info.official


def test_explicit_path_beats_environment(clean_env, monkeypatch, model_info):
    monkeypatch.setenv("SPASMCV_MODEL", str(clean_env / "does-not-exist.task"))
    info = resolve_model(model_info.path)
    assert info.source == "argument"


def test_environment_variable_is_used(clean_env, monkeypatch, model_info):
    monkeypatch.setenv("SPASMCV_MODEL", str(model_info.path))
    assert resolve_model().source.endswith("SPASMCV_MODEL")


def test_cache_is_used_before_download(clean_env, model_info):
    cache = clean_env / "cache"
    cache.mkdir()
    (cache / MODEL_FILENAME).write_bytes(model_info.path.read_bytes())
    info = resolve_model(allow_download=False)
    assert info.source == "cache" and info.official


def test_wrong_checksum_is_refused_unless_custom_is_allowed(clean_env):
    fake = clean_env / "other.task"
    fake.write_bytes(b"not the model")
    with pytest.raises(ModelError, match="custom-model"):
        resolve_model(fake)
    info = resolve_model(fake, allow_custom=True)
    assert not info.official and info.sha256 == hashlib.sha256(b"not the model").hexdigest()


def test_offline_without_model_says_how_to_provide_one(clean_env):
    with pytest.raises(ModelError) as info:
        resolve_model(allow_download=False)
    message = str(info.value)
    assert "SPASMCV_MODEL" in message and "--model" in message and OFFICIAL_MODEL_SHA256 in message


def test_offline_environment_variable_forbids_download(clean_env, monkeypatch):
    monkeypatch.setenv("SPASMCV_OFFLINE", "1")
    with pytest.raises(ModelError, match="downloading is disabled"):
        resolve_model(url="http://127.0.0.1:9/never")


def test_download_goes_to_cache_verified(clean_env, serve, model_info):
    root, url = serve
    (root / "m.task").write_bytes(model_info.path.read_bytes())
    info = resolve_model(url=url("m.task"))
    assert info.source == "download" and info.official
    assert info.path == (clean_env / "cache" / MODEL_FILENAME).resolve()
    assert resolve_model(allow_download=False).source == "cache"  # one-time: now cached


def test_corrupted_download_is_refused_and_leaves_nothing(clean_env, serve):
    root, url = serve
    (root / "m.task").write_bytes(b"truncated or tampered")
    with pytest.raises(ModelError, match="expected"):
        resolve_model(url=url("m.task"))
    cache = clean_env / "cache"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_unreachable_download_explains(clean_env, serve):
    _, url = serve
    with pytest.raises(ModelError, match="Could not download"):
        resolve_model(url=url("missing.task"))
    assert list((clean_env / "cache").iterdir()) == []
